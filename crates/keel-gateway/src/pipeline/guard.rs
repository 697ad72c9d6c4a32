//! The guard stages: checks on what goes to a model and on what comes back
//! (PII, secrets, injection, user rules) that may block, redact or flag.
//! A stream's output is guarded by an observer of its events instead
//! (see `stream::observe`). Today nothing is checked.

use keel_api::ApiError;

use super::answered::Answered;
use super::request::Request;
use crate::invocation::Call;
use crate::state::AppState;

/// Checks (and may rewrite) the request before it is planned and sent.
pub fn guard_input(
    _state: &AppState,
    _call: &Call,
    _request: &mut Request<'_>,
) -> Result<(), ApiError> {
    Ok(())
}

/// Checks a whole answer before it goes to the client.
pub fn guard_output(_state: &AppState, _call: &Call, _answered: &Answered) -> Result<(), ApiError> {
    Ok(())
}
