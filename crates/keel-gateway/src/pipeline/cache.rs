//! The cache stage: an answer already given to the same request (exact, and
//! later semantic), scoped so one tenant never sees another's. Today there
//! is no cache and every call goes on to be planned.

use keel_api::ApiError;

use super::answered::Answered;
use super::request::Request;
use crate::invocation::Call;
use crate::state::AppState;

/// A stored answer for this request, if there is one.
pub fn cache_lookup(
    _state: &AppState,
    _call: &Call,
    _request: &Request<'_>,
) -> Result<Option<Answered>, ApiError> {
    Ok(None)
}
