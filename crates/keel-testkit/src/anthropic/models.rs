//! `GET /v1/models` as Anthropic answers it: one page with every model.

use serde_json::{json, Value};

use super::faults::ANTHROPIC_FAULT_MODELS;

/// Ordinary models the Anthropic fake lists (any other name answers too):
/// `fake-cached` reports prompt caching, `fake-thinking` thinks first.
pub const ANTHROPIC_MODELS: [&str; 3] = ["fake-chat", "fake-cached", "fake-thinking"];

/// `created_at` reported for every model (RFC 3339, like Anthropic's), so
/// tests can compare whole model entries.
pub const MODEL_CREATED_AT: &str = "2025-02-19T00:00:00Z";

/// `fake-chat` → `Fake Chat`: the `display_name` of a model id.
fn display_name(id: &str) -> String {
    id.split('-')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The list: ordinary models, then every Anthropic fault model; one page,
/// so `has_more` is false and pagination parameters are ignored.
pub(crate) fn list() -> Value {
    let ids: Vec<&str> = ANTHROPIC_MODELS
        .iter()
        .copied()
        .chain(ANTHROPIC_FAULT_MODELS.iter().map(|(name, _)| *name))
        .collect();
    let data: Vec<Value> = ids
        .iter()
        .map(|id| {
            json!({
                "type": "model",
                "id": id,
                "display_name": display_name(id),
                "created_at": MODEL_CREATED_AT,
            })
        })
        .collect();
    json!({
        "data": data,
        "has_more": false,
        "first_id": ids.first(),
        "last_id": ids.last(),
    })
}
