//! The plan stage: the requested model becomes an ordered list of
//! candidates (provider and upstream model) for the attempt loop. Every
//! model has one candidate today; routing adds aliases, weights and
//! fallbacks here.

use keel_api::{ApiError, ErrorKind};
use keel_providers::Plan;

use super::request::Request;
use crate::state::AppState;

/// The candidates for the request's model, or a 404 naming it.
pub fn plan(state: &AppState, request: &Request<'_>) -> Result<Plan, ApiError> {
    let model = request.model();
    state.models().registry.plan(model).ok_or_else(|| ApiError {
        param: Some("model".into()),
        ..ApiError::new(
            ErrorKind::UnknownModel,
            format!(
                "The model '{model}' does not exist or is not served by any configured provider."
            ),
        )
    })
}
