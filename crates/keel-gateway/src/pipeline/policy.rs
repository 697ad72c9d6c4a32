//! The policy stage: may this caller make this call now? Model allow-lists,
//! rate limits and budget reservations go here, deciding from memory (or
//! one Redis round trip), never from a database. Today every call passes.

use keel_api::ApiError;

use super::request::Request;
use crate::invocation::Call;
use crate::state::AppState;

/// Refuses a call its key may not make; runs after parse, before anything
/// is sent anywhere.
pub fn check_policy(
    _state: &AppState,
    _call: &Call,
    _request: &Request<'_>,
) -> Result<(), ApiError> {
    #[cfg(test)]
    super::tests::maybe_panic(_request);
    Ok(())
}
