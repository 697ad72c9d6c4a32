//! Anthropic Messages answers into OpenAI chat completions answers, for a
//! native Anthropic provider behind an OpenAI client: one `message` into one
//! `chat.completion`, and a stream of Anthropic events into
//! `chat.completion.chunk`s ([`StreamTranslator`]).
//!
//! - `content`: text blocks are joined into `content` (`null` when there is
//!   none); `tool_use` blocks become `tool_calls`, their `input` written as
//!   compact JSON in `arguments`; `thinking` blocks' text becomes
//!   `reasoning_content` (the field OpenAI-compatible reasoning APIs use; the
//!   signature and `redacted_thinking` are left out).
//! - `finish_reason`: `end_turn` / `stop_sequence` / `pause_turn` → `stop`,
//!   `max_tokens` → `length`, `tool_use` → `tool_calls`, `refusal` →
//!   `content_filter`.
//! - `usage`: OpenAI counts cache reads and writes inside `prompt_tokens`;
//!   Anthropic counts them apart from `input_tokens`, so they are added back.
//!   `cache_read_input_tokens` is also reported as
//!   `prompt_tokens_details.cached_tokens`.
//! - `model` is the model the provider names in its answer.
//! - `created` is 0: the translation reads no clock, so the caller stamps it.

mod stream;

use serde_json::{json, Value};

use crate::error::{ApiError, ErrorKind};

pub use stream::StreamTranslator;

/// Translates a non-streaming Anthropic `message` into an OpenAI
/// `chat.completion`. `requested_model` names the answer when the provider
/// did not. A body that is not a message (an error, no content) is a 502.
pub fn response(anthropic: &Value, requested_model: &str) -> Result<Value, ApiError> {
    if let Some(error) = anthropic.get("error").filter(|e| e.is_object()) {
        return Err(upstream_error(error));
    }
    if anthropic.get("type").and_then(Value::as_str) != Some("message") {
        return Err(malformed("the upstream answer is not a message"));
    }
    let blocks = anthropic
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("the upstream message has no content list"))?;
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("thinking") => reasoning
                .push_str(block.get("thinking").and_then(Value::as_str).unwrap_or("")),
            Some("tool_use") => calls.push(json!({
                "id": block.get("id").and_then(Value::as_str).unwrap_or_default(),
                "type": "function",
                "function": {
                    "name": block.get("name").and_then(Value::as_str).unwrap_or_default(),
                    "arguments": block.get("input").map_or_else(|| "{}".to_owned(), Value::to_string),
                },
            })),
            _ => {}
        }
    }
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { Value::from(text) },
    });
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    if !reasoning.is_empty() {
        message["reasoning_content"] = Value::from(reasoning);
    }
    let model = anthropic
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or(requested_model);
    Ok(json!({
        "id": completion_id(anthropic.get("id").and_then(Value::as_str).unwrap_or_default()),
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(anthropic.get("stop_reason").and_then(Value::as_str)),
        }],
        "usage": usage(anthropic.get("usage"), anthropic.get("usage")),
    }))
}

/// An OpenAI completion id for an Anthropic message id, so logs on either side
/// can be matched: `msg_abc` becomes `chatcmpl-msg_abc`.
pub fn completion_id(message_id: &str) -> String {
    format!("chatcmpl-{message_id}")
}

/// The OpenAI `finish_reason` for an Anthropic `stop_reason`.
fn finish_reason(stop_reason: Option<&str>) -> Option<&'static str> {
    match stop_reason? {
        "max_tokens" | "model_context_window_exceeded" => Some("length"),
        "tool_use" => Some("tool_calls"),
        "refusal" => Some("content_filter"),
        _ => Some("stop"),
    }
}

/// OpenAI `usage` from the Anthropic usage holding the input counts and the
/// one holding the output count (the same object outside streams).
fn usage(input: Option<&Value>, output: Option<&Value>) -> Value {
    let count = |usage: Option<&Value>, key: &str| {
        usage
            .and_then(|u| u.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let cached = count(input, "cache_read_input_tokens");
    let prompt =
        count(input, "input_tokens") + cached + count(input, "cache_creation_input_tokens");
    let completion = count(output, "output_tokens");
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    })
}

/// An Anthropic `error` object as the 502 the OpenAI client sees.
fn upstream_error(error: &Value) -> ApiError {
    let kind = error.get("type").and_then(Value::as_str).unwrap_or("error");
    let message = error.get("message").and_then(Value::as_str).unwrap_or("");
    malformed(format!("the upstream reported {kind}: {message}"))
}

fn malformed(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::UpstreamMalformed, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_map_to_openai_names() {
        assert_eq!(finish_reason(Some("end_turn")), Some("stop"));
        assert_eq!(finish_reason(Some("stop_sequence")), Some("stop"));
        assert_eq!(finish_reason(Some("max_tokens")), Some("length"));
        assert_eq!(finish_reason(Some("tool_use")), Some("tool_calls"));
        assert_eq!(finish_reason(Some("refusal")), Some("content_filter"));
        assert_eq!(finish_reason(None), None);
    }

    #[test]
    fn cache_tokens_count_as_prompt_tokens() {
        let u = json!({"input_tokens": 10, "cache_read_input_tokens": 60,
            "cache_creation_input_tokens": 30, "output_tokens": 7});
        let got = usage(Some(&u), Some(&u));
        assert_eq!(got["prompt_tokens"], 100);
        assert_eq!(got["completion_tokens"], 7);
        assert_eq!(got["total_tokens"], 107);
        assert_eq!(got["prompt_tokens_details"]["cached_tokens"], 60);
    }

    #[test]
    fn bodies_that_are_not_messages_are_upstream_errors() {
        let err = response(
            &json!({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}),
            "m",
        )
        .unwrap_err();
        assert_eq!(err.status(), 502);
        assert!(err.message.contains("overloaded_error: busy"));
        assert_eq!(
            response(&json!({"type": "message"}), "m")
                .unwrap_err()
                .status(),
            502
        );
    }
}
