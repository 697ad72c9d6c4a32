//! The account stage: settles what the policy stage reserved (budgets,
//! token rate limits) once the answer is known. The record's tokens and
//! cost are computed off the request path by the record builder; this
//! stage only adjusts in-memory counters. Today there is nothing to settle.

use super::answered::Answered;
use crate::invocation::Call;
use crate::state::AppState;

/// Settles the call's reservations against its answer.
pub fn account(_state: &AppState, _call: &Call, _answered: &Answered) {}
