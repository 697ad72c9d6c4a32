//! `POST /v1/embeddings`: deterministic unit vectors derived from the input
//! text, as floats or as base64 of little-endian `f32` bytes.

use http::StatusCode;
use serde_json::{json, Value};

use crate::base64;
use crate::respond::{self, Outcome};
use crate::text;

/// Vector length unless the request sets `dimensions`.
pub const DEFAULT_DIMENSIONS: usize = 8;

/// Largest `dimensions` honoured.
const MAX_DIMENSIONS: usize = 4096;

/// One input and its token count: words for text, length for token arrays.
struct Input {
    key: String,
    tokens: u64,
}

/// The inputs of `input`: a string, an array of strings, an array of token
/// ids, or an array of token id arrays.
fn inputs(input: &Value) -> Option<Vec<Input>> {
    let text_input = |s: &str| Input {
        key: s.to_owned(),
        tokens: text::words(s),
    };
    let token_input = |ids: &[Value]| Input {
        key: serde_json::to_string(ids).unwrap_or_default(),
        tokens: ids.len() as u64,
    };
    match input {
        Value::String(s) => Some(vec![text_input(s)]),
        Value::Array(items) if items.iter().all(Value::is_number) && !items.is_empty() => {
            Some(vec![token_input(items)])
        }
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Some(text_input(s)),
                Value::Array(ids) => Some(token_input(ids)),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// A deterministic unit vector for `key`.
pub fn vector(key: &str, dimensions: usize) -> Vec<f32> {
    let raw: Vec<f32> = (0..dimensions)
        .map(|i| {
            let h = text::fnv1a(format!("{i}:{key}").as_bytes());
            ((h >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
        })
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm == 0.0 {
        return raw;
    }
    raw.into_iter().map(|x| x / norm).collect()
}

/// Answers one embeddings request whose body parsed as JSON.
pub(crate) fn handle(req: &Value) -> Outcome {
    let Some(model) = req.get("model").and_then(Value::as_str) else {
        return respond::invalid_request("you must provide a model parameter", None).into();
    };
    let Some(inputs) = req.get("input").and_then(inputs) else {
        return respond::invalid_request(
            "'input' must be a string, an array of strings, or an array of token arrays",
            Some("input"),
        )
        .into();
    };
    let dimensions = req
        .get("dimensions")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_DIMENSIONS, |d| {
            (d as usize).clamp(1, MAX_DIMENSIONS)
        });
    let base64 = req.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let data: Vec<Value> = inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let v = vector(&input.key, dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                Value::String(base64::encode(&bytes))
            } else {
                Value::from(v.iter().map(|x| f64::from(*x)).collect::<Vec<_>>())
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let tokens: u64 = inputs.iter().map(|i| i.tokens).sum();
    let body = json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}
    });
    respond::json(StatusCode::OK, &body).into()
}
