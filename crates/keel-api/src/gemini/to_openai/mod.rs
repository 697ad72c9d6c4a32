//! Gemini `GenerateContentResponse`s into OpenAI chat completions answers,
//! for a Gemini provider behind an OpenAI client: one response into one
//! `chat.completion`, and the `?alt=sse` stream into
//! `chat.completion.chunk`s ([`StreamTranslator`]).
//!
//! - `choices`: one per candidate, in `index` order. Text parts are joined
//!   into `content` (`null` when there is none but there are tool calls);
//!   `thought: true` parts are reasoning and left out; `functionCall` parts
//!   become `tool_calls`, `args` written as compact JSON in `arguments` and
//!   the id kept or made up (see the parent module); other parts (inline
//!   media, code execution) are left out.
//! - `finish_reason`: `STOP` → `stop`, or `tool_calls` when the candidate
//!   holds function calls (Gemini says `STOP` for those too); `MAX_TOKENS` →
//!   `length`; `SAFETY`, `RECITATION`, `LANGUAGE`, `BLOCKLIST`,
//!   `PROHIBITED_CONTENT`, `SPII` and the `IMAGE_*` safety reasons →
//!   `content_filter`; anything else (`OTHER`, `MALFORMED_FUNCTION_CALL`,
//!   unknown values) → `stop`, or `tool_calls` when calls came.
//! - A blocked prompt (`promptFeedback.blockReason`, no candidates) is one
//!   choice with `content: ""`, a `refusal` naming the reason and
//!   `finish_reason: "content_filter"`.
//! - `usage`: `prompt_tokens` is `promptTokenCount` plus
//!   `toolUsePromptTokenCount`; `completion_tokens` is `candidatesTokenCount`
//!   plus `thoughtsTokenCount` (Gemini counts thoughts apart, OpenAI inside);
//!   `prompt_tokens_details.cached_tokens` = `cachedContentTokenCount`;
//!   `completion_tokens_details.reasoning_tokens` = `thoughtsTokenCount`.
//!   No `usageMetadata`, no `usage`: the caller then counts by itself.
//! - `model` is `modelVersion`, else the model the client asked for; `id` is
//!   `chatcmpl-<responseId>`.
//! - `created` is 0: the translation reads no clock, so the caller stamps it.

mod stream;

use serde_json::{json, Value};

use super::error;
use crate::error::{ApiError, ErrorKind};

pub use stream::StreamTranslator;

/// A Gemini error body in the OpenAI error shape (named like the other
/// translations of this direction).
pub use super::error::error_to_openai as error;

/// Translates a non-streaming Gemini `GenerateContentResponse` into an
/// OpenAI `chat.completion`. `requested_model` names the answer when Gemini
/// gives no `modelVersion`. A body that is an error or holds neither
/// candidates nor a prompt block is a 502.
pub fn response(gemini: &Value, requested_model: &str) -> Result<Value, ApiError> {
    if !gemini.is_object() {
        return Err(malformed("the upstream answer is not a JSON object"));
    }
    if let Some(e) = error::from_value(gemini) {
        return Err(upstream_error(&e));
    }
    let response_id = gemini.get("responseId").and_then(Value::as_str);
    let candidates = gemini
        .get("candidates")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty());
    let mut choices = match candidates {
        Some(list) => list
            .iter()
            .enumerate()
            .map(|(i, c)| choice(c, i, response_id))
            .collect::<Vec<_>>(),
        None => match block_reason(gemini) {
            Some(reason) => vec![(
                0,
                json!({
                    "index": 0,
                    "message": {"role": "assistant", "content": "", "refusal": block_message(reason)},
                    "logprobs": null,
                    "finish_reason": "content_filter",
                }),
            )],
            None => return Err(malformed("the upstream answer has no candidates")),
        },
    };
    choices.sort_by_key(|(index, _)| *index);
    let model = gemini
        .get("modelVersion")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .unwrap_or(requested_model);
    let mut out = json!({
        "id": completion_id(response_id),
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": choices.into_iter().map(|(_, c)| c).collect::<Vec<_>>(),
    });
    if let Some(meta) = gemini.get("usageMetadata").filter(|u| u.is_object()) {
        out["usage"] = usage(meta);
    }
    Ok(out)
}

/// One candidate as an OpenAI choice, with the index it sorts by.
fn choice(candidate: &Value, position: usize, response_id: Option<&str>) -> (u64, Value) {
    let index = candidate
        .get("index")
        .and_then(Value::as_u64)
        .unwrap_or(position as u64);
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in parts(candidate) {
        if is_thought(part) {
            continue;
        }
        if let Some(t) = part.get("text").and_then(Value::as_str) {
            text.push_str(t);
        } else if let Some(call) = part.get("functionCall") {
            calls.push(tool_call(call, calls.len() as u64, response_id));
        }
    }
    let has_calls = !calls.is_empty();
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() && has_calls { Value::Null } else { Value::from(text) },
    });
    if has_calls {
        message["tool_calls"] = Value::Array(calls);
    }
    let reason = candidate.get("finishReason").and_then(Value::as_str);
    (
        index,
        json!({
            "index": index,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(reason, has_calls),
        }),
    )
}

/// The parts of a candidate's content (none when it has no content).
fn parts(candidate: &Value) -> &[Value] {
    candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Whether a part is the model's reasoning rather than its answer.
fn is_thought(part: &Value) -> bool {
    part.get("thought").and_then(Value::as_bool) == Some(true)
}

/// An OpenAI tool call for a `functionCall`, the `n`th of its candidate.
fn tool_call(call: &Value, n: u64, response_id: Option<&str>) -> Value {
    json!({
        "id": call_id(call, n, response_id),
        "type": "function",
        "function": {
            "name": call.get("name").and_then(Value::as_str).unwrap_or_default(),
            "arguments": call.get("args").filter(|a| !a.is_null()).map_or_else(|| "{}".to_owned(), Value::to_string),
        },
    })
}

/// The call's own `id`, else `call_<responseId>_<n>` (`call_<n>` without a
/// response id): the same answer always yields the same ids.
pub fn call_id(call: &Value, n: u64, response_id: Option<&str>) -> String {
    match call.get("id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => id.to_owned(),
        _ => match response_id.filter(|r| !r.is_empty()) {
            Some(r) => format!("call_{r}_{n}"),
            None => format!("call_{n}"),
        },
    }
}

/// An OpenAI completion id for a Gemini response id, so logs on either side
/// can be matched: `abc` becomes `chatcmpl-abc`.
pub fn completion_id(response_id: Option<&str>) -> String {
    format!(
        "chatcmpl-{}",
        response_id.filter(|r| !r.is_empty()).unwrap_or("unknown")
    )
}

/// The OpenAI `finish_reason` for a Gemini `finishReason`.
fn finish_reason(reason: Option<&str>, has_calls: bool) -> &'static str {
    match reason {
        Some("MAX_TOKENS") => "length",
        Some(
            "SAFETY"
            | "RECITATION"
            | "LANGUAGE"
            | "BLOCKLIST"
            | "PROHIBITED_CONTENT"
            | "SPII"
            | "IMAGE_SAFETY"
            | "IMAGE_PROHIBITED_CONTENT"
            | "IMAGE_RECITATION",
        ) => "content_filter",
        _ if has_calls => "tool_calls",
        _ => "stop",
    }
}

/// The prompt's block reason, if Gemini blocked it.
fn block_reason(gemini: &Value) -> Option<&str> {
    gemini
        .pointer("/promptFeedback/blockReason")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
}

/// The `refusal` text for a blocked prompt.
fn block_message(reason: &str) -> String {
    format!("the model's provider blocked the prompt ({reason})")
}

/// OpenAI `usage` from Gemini `usageMetadata`.
fn usage(meta: &Value) -> Value {
    let count = |key: &str| meta.get(key).and_then(Value::as_u64).unwrap_or(0);
    let thoughts = count("thoughtsTokenCount");
    let prompt = count("promptTokenCount") + count("toolUsePromptTokenCount");
    let completion = count("candidatesTokenCount") + thoughts;
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": count("cachedContentTokenCount")},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    })
}

/// A Gemini error inside an answer as the 502 the OpenAI client sees.
fn upstream_error(e: &error::GeminiError) -> ApiError {
    let status = if e.status.is_empty() {
        "an error"
    } else {
        e.status.as_str()
    };
    malformed(format!("the upstream reported {status}: {}", e.message))
}

fn malformed(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorKind::UpstreamMalformed, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_reasons_map_to_openai_names() {
        assert_eq!(finish_reason(Some("STOP"), false), "stop");
        assert_eq!(finish_reason(Some("STOP"), true), "tool_calls");
        assert_eq!(finish_reason(Some("MAX_TOKENS"), true), "length");
        for filtered in [
            "SAFETY",
            "RECITATION",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
        ] {
            assert_eq!(finish_reason(Some(filtered), false), "content_filter");
        }
        assert_eq!(
            finish_reason(Some("MALFORMED_FUNCTION_CALL"), false),
            "stop"
        );
        assert_eq!(finish_reason(None, false), "stop");
    }

    #[test]
    fn thoughts_count_as_completion_tokens() {
        let u = usage(&json!({"promptTokenCount": 10, "candidatesTokenCount": 7,
            "thoughtsTokenCount": 30, "cachedContentTokenCount": 4, "toolUsePromptTokenCount": 2,
            "totalTokenCount": 49}));
        assert_eq!(u["prompt_tokens"], 12);
        assert_eq!(u["completion_tokens"], 37);
        assert_eq!(u["total_tokens"], 49);
        assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 4);
        assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 30);
    }

    #[test]
    fn ids_are_kept_or_made_up_deterministically() {
        assert_eq!(call_id(&json!({"id": "abc"}), 3, Some("r")), "abc");
        assert_eq!(call_id(&json!({"name": "f"}), 1, Some("r1")), "call_r1_1");
        assert_eq!(call_id(&json!({"id": ""}), 0, None), "call_0");
        assert_eq!(completion_id(None), "chatcmpl-unknown");
    }

    #[test]
    fn errors_and_empty_answers_are_upstream_errors() {
        let err = response(
            &json!({"error": {"code": 500, "message": "boom", "status": "INTERNAL"}}),
            "m",
        )
        .unwrap_err();
        assert_eq!(err.status(), 502);
        assert!(err.message.contains("INTERNAL: boom"));
        assert_eq!(
            response(&json!({"candidates": []}), "m")
                .unwrap_err()
                .status(),
            502
        );
        assert_eq!(response(&json!([1]), "m").unwrap_err().status(), 502);
    }
}
