//! OpenAI chat completions answers into Anthropic Messages answers: one
//! `chat.completion` into one `message` object, and a stream of
//! `chat.completion.chunk`s into Anthropic's SSE events ([`StreamTranslator`]).
//!
//! - `stop_reason`: `stop` → `end_turn` (`stop_sequence` when the upstream
//!   names the matched sequence in a string `stop_reason`, as vLLM does),
//!   `length` → `max_tokens`, `tool_calls` / `function_call` → `tool_use`,
//!   `content_filter` → `refusal`. An answer carrying tool calls reports
//!   `tool_use` even when the upstream said `stop`, since Anthropic clients
//!   run tools only on `tool_use`.
//! - `usage`: Anthropic counts cache reads apart from `input_tokens`, OpenAI
//!   counts them inside `prompt_tokens`; so `input_tokens` is `prompt_tokens`
//!   less `prompt_tokens_details.cached_tokens`, which becomes
//!   `cache_read_input_tokens`. OpenAI reports no cache writes:
//!   `cache_creation_input_tokens` is 0.
//! - Tool arguments that are not a JSON object (a truncated call, a model
//!   that wrote prose) are kept as `{"_raw": "<arguments>"}` so the client
//!   sees them and can answer with an error result; empty arguments are `{}`.

mod events;
mod stream;

use serde_json::{json, Value};

use super::error::AnthropicError;

pub use stream::StreamTranslator;

/// An OpenAI error answer as an Anthropic client's error (named like the
/// other translations of this direction).
pub use super::error::from_openai_error as error;

/// An Anthropic message id derived from an OpenAI completion id:
/// `chatcmpl-abc` becomes `msg_abc`.
pub fn message_id(openai_id: &str) -> String {
    let rest = openai_id.strip_prefix("chatcmpl-").unwrap_or(openai_id);
    if rest.is_empty() {
        "msg_unknown".to_owned()
    } else {
        format!("msg_{rest}")
    }
}

/// Translates a non-streaming OpenAI `chat.completion` into an Anthropic
/// `message`. `requested_model` is the model name the client asked for.
/// A body that is not a completion (an error object, no choices) is a 502
/// `api_error`.
pub fn response(openai: &Value, requested_model: &str) -> Result<Value, AnthropicError> {
    if let Some(message) = openai.pointer("/error/message").and_then(Value::as_str) {
        return Err(AnthropicError::new(502, message));
    }
    let choice = openai
        .pointer("/choices/0")
        .filter(|c| c.is_object())
        .ok_or_else(|| AnthropicError::new(502, "the upstream response has no choices"))?;
    let message = choice
        .get("message")
        .filter(|m| m.is_object())
        .ok_or_else(|| {
            AnthropicError::new(502, "the upstream response's first choice has no message")
        })?;

    let mut content = Vec::new();
    if let Some(reasoning) = message
        .get("reasoning_content")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
    {
        // A reasoning model's thoughts, as a thinking block. Anthropic signs
        // its own; these have no signature to give.
        content.push(json!({"type": "thinking", "thinking": reasoning, "signature": ""}));
    }
    let text = match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        // Some compatible servers answer with content parts.
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    };
    if !text.is_empty() {
        content.push(json!({"type": "text", "text": text}));
    }
    if let Some(refusal) = message.get("refusal").and_then(Value::as_str) {
        if !refusal.is_empty() {
            content.push(json!({"type": "text", "text": refusal}));
        }
    }
    let calls = message
        .get("tool_calls")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (i, call) in calls.iter().enumerate() {
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("call_{i}"));
        let name = call
            .pointer("/function/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let arguments = call
            .pointer("/function/arguments")
            .and_then(Value::as_str)
            .unwrap_or_default();
        content.push(json!({
            "type": "tool_use",
            "id": id,
            "name": name,
            "input": tool_input(arguments),
        }));
    }

    let (stop_reason, stop_sequence) = stop_reason(
        choice.get("finish_reason").and_then(Value::as_str),
        choice.get("stop_reason"),
        !calls.is_empty(),
    );
    let tokens = openai
        .get("usage")
        .map(Tokens::from_openai)
        .unwrap_or_default();
    let id = openai.get("id").and_then(Value::as_str).unwrap_or_default();
    Ok(json!({
        "id": message_id(id),
        "type": "message",
        "role": "assistant",
        "model": requested_model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": {
            "input_tokens": tokens.input,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": tokens.cache_read,
            "output_tokens": tokens.output,
        },
    }))
}

/// A tool call's `arguments` string as the `input` object Anthropic sends.
fn tool_input(arguments: &str) -> Value {
    if arguments.trim().is_empty() {
        return json!({});
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({"_raw": arguments}),
    }
}

/// The Anthropic `stop_reason` and `stop_sequence` for an OpenAI finish.
/// `upstream_stop` is the choice's non-standard `stop_reason` (vLLM puts the
/// matched stop string there); `called_tools` says whether the answer holds
/// tool calls.
fn stop_reason(
    finish_reason: Option<&str>,
    upstream_stop: Option<&Value>,
    called_tools: bool,
) -> (&'static str, Option<String>) {
    match finish_reason {
        Some("length") => ("max_tokens", None),
        Some("content_filter") => ("refusal", None),
        Some("tool_calls" | "function_call") => ("tool_use", None),
        _ if called_tools => ("tool_use", None),
        _ => match upstream_stop.and_then(Value::as_str) {
            Some(sequence) => ("stop_sequence", Some(sequence.to_owned())),
            None => ("end_turn", None),
        },
    }
}

/// Token counts in Anthropic's terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tokens {
    /// Input tokens not read from the cache.
    input: u64,
    output: u64,
    cache_read: u64,
}

impl Tokens {
    fn from_openai(usage: &Value) -> Tokens {
        let count = |pointer: &str| usage.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
        let prompt = count("/prompt_tokens");
        let cached = count("/prompt_tokens_details/cached_tokens").min(prompt);
        Tokens {
            input: prompt - cached,
            output: count("/completion_tokens"),
            cache_read: cached,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_drop_the_openai_prefix() {
        assert_eq!(message_id("chatcmpl-abc123"), "msg_abc123");
        assert_eq!(message_id("gen-42"), "msg_gen-42");
        assert_eq!(message_id(""), "msg_unknown");
    }

    #[test]
    fn arguments_that_are_not_an_object_are_kept_raw() {
        assert_eq!(tool_input(""), json!({}));
        assert_eq!(tool_input(r#"{"a":1}"#), json!({"a": 1}));
        assert_eq!(tool_input(r#"{"a":"#), json!({"_raw": "{\"a\":"}));
        assert_eq!(tool_input("[1]"), json!({"_raw": "[1]"}));
    }

    #[test]
    fn stop_reasons_map_to_anthropic_names() {
        assert_eq!(stop_reason(Some("stop"), None, false), ("end_turn", None));
        assert_eq!(stop_reason(Some("length"), None, true).0, "max_tokens");
        assert_eq!(
            stop_reason(Some("content_filter"), None, false).0,
            "refusal"
        );
        assert_eq!(stop_reason(Some("tool_calls"), None, true).0, "tool_use");
        assert_eq!(stop_reason(Some("stop"), None, true).0, "tool_use");
        assert_eq!(
            stop_reason(Some("stop"), Some(&json!("###")), false),
            ("stop_sequence", Some("###".to_owned()))
        );
        // vLLM reports a stop token id as a number: not a stop sequence.
        assert_eq!(
            stop_reason(Some("stop"), Some(&json!(2)), false).0,
            "end_turn"
        );
        assert_eq!(stop_reason(None, None, false).0, "end_turn");
    }

    #[test]
    fn cached_tokens_are_counted_apart_from_input() {
        let usage = json!({"prompt_tokens": 100, "completion_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 60}});
        assert_eq!(
            Tokens::from_openai(&usage),
            Tokens {
                input: 40,
                output: 7,
                cache_read: 60
            }
        );
        let odd = json!({"prompt_tokens": 5, "prompt_tokens_details": {"cached_tokens": 9}});
        assert_eq!(Tokens::from_openai(&odd).input, 0);
    }

    #[test]
    fn bodies_that_are_not_completions_are_upstream_errors() {
        let err = response(&json!({"error": {"message": "boom"}}), "m").unwrap_err();
        assert_eq!(
            (err.status, err.error_type, err.message.as_str()),
            (502, "api_error", "boom")
        );
        let err = response(&json!({"id": "x", "choices": []}), "m").unwrap_err();
        assert_eq!(err.status, 502);
    }
}
