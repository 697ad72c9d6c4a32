//! Converse answers into OpenAI chat completions answers, for a Bedrock
//! provider behind an OpenAI client: one Converse response into one
//! `chat.completion`, and ConverseStream events into
//! `chat.completion.chunk`s ([`StreamTranslator`]).
//!
//! - `content`: the `text` blocks of `output.message.content` are joined into
//!   `content` (`null` when there is none and there are tool calls);
//!   `toolUse` blocks become `tool_calls` (`toolUseId` as `id`, `input`
//!   written as compact JSON in `arguments`). `reasoningContent` blocks are
//!   left out: OpenAI's chat completions have no place for reasoning text.
//!   Other blocks (citations, images) answer content Keel never sends.
//! - `finish_reason`: `end_turn` / `stop_sequence` → `stop`, `max_tokens` /
//!   `model_context_window_exceeded` → `length`, `tool_use` → `tool_calls`,
//!   `guardrail_intervened` / `content_filtered` → `content_filter`; any
//!   other reason (`malformed_model_output`, `malformed_tool_use`, new ones)
//!   → `stop`.
//! - `usage`: Bedrock reports `inputTokens` apart from
//!   `cacheReadInputTokens` and `cacheWriteInputTokens` (its prompt caching
//!   guide charges "all tokens not read from or written to the cache" at the
//!   standard rate), while OpenAI counts cached tokens inside
//!   `prompt_tokens`. So `prompt_tokens` = input + cache reads + cache
//!   writes, `prompt_tokens_details.cached_tokens` = cache reads, and
//!   `total_tokens` = `prompt_tokens` + `completion_tokens` (`outputTokens`);
//!   Bedrock's own `totalTokens` and `metrics.latencyMs` are not used.
//! - `id`: Converse answers carry none. The HTTP response does, in
//!   `x-amzn-RequestId`; a caller holding it uses [`response_with_id`] with
//!   [`completion_id`]. [`response`] derives `chatcmpl-bedrock-<hash of the
//!   answer>` instead: stable for the same answer, unique as far as answers
//!   differ.
//! - `model`: Converse answers do not name the model, so it is the model the
//!   client asked for.
//! - `created` is 0: the translation reads no clock, so the caller stamps it.

mod stream;

use serde_json::{json, Value};

use crate::error::{ApiError, ErrorKind};

pub use stream::StreamTranslator;

/// A Bedrock error answer in the OpenAI error shape, with the status to
/// answer (named like the other translations of this direction).
pub use super::error::openai_error as error;

/// Translates a non-streaming Converse response into an OpenAI
/// `chat.completion` with an id derived from the answer. A body that is not
/// a Converse response (an error, no `output.message`) is a 502.
pub fn response(bedrock: &Value, requested_model: &str) -> Result<Value, ApiError> {
    let id = format!(
        "chatcmpl-bedrock-{:016x}",
        fnv1a(bedrock.to_string().as_bytes())
    );
    response_with_id(bedrock, requested_model, &id)
}

/// [`response`] with the completion id chosen by the caller (see
/// [`completion_id`]).
pub fn response_with_id(
    bedrock: &Value,
    requested_model: &str,
    id: &str,
) -> Result<Value, ApiError> {
    let Some(message) = bedrock.pointer("/output/message").filter(|m| m.is_object()) else {
        return Err(match bedrock.get("message").and_then(Value::as_str) {
            Some(text) => upstream_error("error", text),
            None => malformed("the upstream answer has no output.message"),
        });
    };
    let blocks = message
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| malformed("the upstream message has no content list"))?;
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in blocks {
        if let Some(t) = block.get("text").and_then(Value::as_str) {
            text.push_str(t);
        } else if let Some(tool) = block.get("toolUse") {
            let field = |k: &str| tool.get(k).and_then(Value::as_str).unwrap_or_default();
            calls.push(json!({
                "id": field("toolUseId"),
                "type": "function",
                "function": {
                    "name": field("name"),
                    "arguments": tool.get("input").map_or_else(|| "{}".to_owned(), Value::to_string),
                },
            }));
        }
    }
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { Value::from(text) },
    });
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    let reason = bedrock.get("stopReason").and_then(Value::as_str);
    Ok(json!({
        "id": id,
        "object": "chat.completion",
        "created": 0,
        "model": requested_model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(reason).unwrap_or("stop"),
        }],
        "usage": usage(bedrock.get("usage")),
    }))
}

/// The OpenAI completion id for a Bedrock request id (`x-amzn-RequestId`),
/// so logs on either side can be matched.
pub fn completion_id(request_id: &str) -> String {
    format!("chatcmpl-{request_id}")
}

/// The OpenAI `finish_reason` for a Converse `stopReason`.
fn finish_reason(stop_reason: Option<&str>) -> Option<&'static str> {
    match stop_reason? {
        "max_tokens" | "model_context_window_exceeded" => Some("length"),
        "tool_use" => Some("tool_calls"),
        "guardrail_intervened" | "content_filtered" => Some("content_filter"),
        _ => Some("stop"),
    }
}

/// OpenAI `usage` from a Converse `usage` object.
fn usage(usage: Option<&Value>) -> Value {
    let count = |key: &str| {
        usage
            .and_then(|u| u.get(key))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let cached = count("cacheReadInputTokens");
    let prompt = count("inputTokens") + cached + count("cacheWriteInputTokens");
    let completion = count("outputTokens");
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    })
}

/// A Bedrock error reported inside a 200 answer, as the 502 the OpenAI
/// client sees.
fn upstream_error(kind: &str, message: &str) -> ApiError {
    malformed(format!("the upstream reported {kind}: {message}"))
}

fn malformed(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::UpstreamMalformed, message)
}

/// FNV-1a, for ids derived from content.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_reasons_map_to_openai_names() {
        for (reason, finish) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("max_tokens", "length"),
            ("model_context_window_exceeded", "length"),
            ("tool_use", "tool_calls"),
            ("guardrail_intervened", "content_filter"),
            ("content_filtered", "content_filter"),
            ("malformed_tool_use", "stop"),
        ] {
            assert_eq!(finish_reason(Some(reason)), Some(finish), "{reason}");
        }
        assert_eq!(finish_reason(None), None);
    }

    #[test]
    fn cache_tokens_count_as_prompt_tokens() {
        let u = json!({"inputTokens": 10, "cacheReadInputTokens": 60,
            "cacheWriteInputTokens": 30, "outputTokens": 7, "totalTokens": 17});
        let got = usage(Some(&u));
        assert_eq!(got["prompt_tokens"], 100);
        assert_eq!(got["completion_tokens"], 7);
        assert_eq!(got["total_tokens"], 107);
        assert_eq!(got["prompt_tokens_details"]["cached_tokens"], 60);
    }

    #[test]
    fn ids_are_derived_or_chosen() {
        let answer = json!({"output": {"message": {"role": "assistant",
            "content": [{"text": "hi"}]}}, "stopReason": "end_turn"});
        let a = response(&answer, "m").unwrap();
        assert_eq!(a["id"], response(&answer, "m").unwrap()["id"]);
        assert!(a["id"].as_str().unwrap().starts_with("chatcmpl-bedrock-"));
        let b = response_with_id(&answer, "m", &completion_id("req-1")).unwrap();
        assert_eq!(b["id"], "chatcmpl-req-1");
    }

    #[test]
    fn bodies_that_are_not_answers_are_upstream_errors() {
        let err = response(&json!({"message": "Model is busy"}), "m").unwrap_err();
        assert_eq!(err.status(), 502);
        assert!(err.message.contains("Model is busy"));
        let err = response(&json!({"output": {}}), "m").unwrap_err();
        assert_eq!(err.status(), 502);
        let err = response(&json!({"output": {"message": {"role": "assistant"}}}), "m");
        assert_eq!(err.unwrap_err().status(), 502);
    }
}
