//! `GET /v1/models`: the model list object.

use serde_json::{json, Value};

use crate::faults::FAULT_MODELS;

/// Ordinary models the fake answers (any other name works too).
pub const ORDINARY_MODELS: [&str; 3] = ["fake-chat", "fake-embed", "fake-cached"];

/// `created` reported for every model.
const MODEL_CREATED: u64 = 1_686_935_002;

/// The list object: ordinary models, then every fault model.
pub(crate) fn list() -> Value {
    let data: Vec<Value> = ORDINARY_MODELS
        .iter()
        .copied()
        .chain(FAULT_MODELS.iter().map(|(name, _)| *name))
        .map(|id| json!({"id": id, "object": "model", "created": MODEL_CREATED, "owned_by": "keel-testkit"}))
        .collect();
    json!({"object": "list", "data": data})
}
