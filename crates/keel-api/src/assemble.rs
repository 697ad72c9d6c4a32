//! Turning what came back into the record's view of it: a summary of a
//! response (model version, finish reason, usage) and a stream assembled into
//! the one `chat.completion` object it stands for. Runs off the request path.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::usage::{OpenAiUsage, Usage};

/// The facts the record keeps about a response, whatever its wire format.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseSummary {
    /// The model version the upstream says it ran.
    pub model_version: Option<String>,
    /// The first choice's finish reason.
    pub finish_reason: Option<String>,
    /// Provider-reported usage, if any.
    pub usage: Option<Usage>,
    /// The provider's usage object as it came, kept for audit.
    pub raw_usage: Option<Value>,
}

#[derive(Deserialize)]
struct ResponseProbe {
    model: Option<String>,
    #[serde(default)]
    choices: Vec<ChoiceProbe>,
    usage: Option<Value>,
}

#[derive(Deserialize)]
struct ChoiceProbe {
    finish_reason: Option<String>,
}

/// Summarises a non-streaming chat completion or embeddings response.
/// `None` when the body is not a JSON object of that shape.
pub fn summarize_response(body: &[u8]) -> Option<ResponseSummary> {
    summarize(serde_json::from_slice(body).ok()?)
}

/// [`summarize_response`] for an answer already parsed (a translated one).
pub fn summarize_value(answer: &Value) -> Option<ResponseSummary> {
    summarize(ResponseProbe::deserialize(answer).ok()?)
}

fn summarize(probe: ResponseProbe) -> Option<ResponseSummary> {
    let usage = probe
        .usage
        .as_ref()
        .filter(|u| u.is_object())
        .and_then(|u| OpenAiUsage::deserialize(u).ok())
        .map(|u| Usage::from(&u));
    Some(ResponseSummary {
        model_version: probe.model,
        finish_reason: probe
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.finish_reason),
        usage,
        raw_usage: probe.usage.filter(|u| u.is_object()),
    })
}

#[derive(Default)]
struct ChoiceAcc {
    role: Option<String>,
    content: Option<String>,
    refusal: Option<String>,
    /// `reasoning_content` deltas (reasoning models behind OpenAI-shaped
    /// APIs, and Claude's thinking as Keel translates it).
    reasoning: Option<String>,
    tool_calls: BTreeMap<u64, ToolCallAcc>,
    finish_reason: Option<Value>,
    logprobs: Vec<Value>,
}

#[derive(Default)]
struct ToolCallAcc {
    id: Option<Value>,
    call_type: Option<Value>,
    name: String,
    arguments: String,
}

/// Assembles OpenAI `chat.completion.chunk` payloads (the `data` of each SSE
/// event, `[DONE]` excluded) into one `chat.completion` object, plus its
/// summary. Chunks that are not JSON are skipped (they were already reported).
pub fn assemble_chat_stream<'a>(
    payloads: impl IntoIterator<Item = &'a [u8]>,
) -> (Value, ResponseSummary) {
    let mut head = Map::new();
    let mut choices: BTreeMap<u64, ChoiceAcc> = BTreeMap::new();
    let mut usage: Option<Value> = None;
    for payload in payloads {
        let Ok(Value::Object(chunk)) = serde_json::from_slice::<Value>(payload) else {
            continue;
        };
        for key in [
            "id",
            "created",
            "model",
            "system_fingerprint",
            "service_tier",
        ] {
            if let Some(v) = chunk.get(key).filter(|v| !v.is_null()) {
                head.entry(key).or_insert_with(|| v.clone());
            }
        }
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            usage = Some(u.clone());
        }
        let Some(Value::Array(list)) = chunk.get("choices") else {
            continue;
        };
        for choice in list {
            let index = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
            merge_choice(choices.entry(index).or_default(), choice);
        }
    }
    let choices_json: Vec<Value> = choices
        .into_iter()
        .map(|(i, c)| choice_json(i, c))
        .collect();
    let finish_reason = choices_json
        .first()
        .and_then(|c| c.get("finish_reason"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut body = Map::new();
    body.insert("id".into(), head.remove("id").unwrap_or(Value::Null));
    body.insert("object".into(), Value::from("chat.completion"));
    body.insert(
        "created".into(),
        head.remove("created").unwrap_or(Value::Null),
    );
    body.insert(
        "model".into(),
        head.get("model").cloned().unwrap_or(Value::Null),
    );
    body.insert("choices".into(), Value::Array(choices_json));
    body.extend(
        head.iter()
            .filter(|(k, _)| *k != "model")
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    body.insert("usage".into(), usage.clone().unwrap_or(Value::Null));
    let summary = ResponseSummary {
        model_version: head.get("model").and_then(Value::as_str).map(str::to_owned),
        finish_reason,
        usage: usage
            .as_ref()
            .and_then(|u| OpenAiUsage::deserialize(u).ok())
            .map(|u| Usage::from(&u)),
        raw_usage: usage,
    };
    (Value::Object(body), summary)
}

fn merge_choice(acc: &mut ChoiceAcc, choice: &Value) {
    if let Some(reason) = choice.get("finish_reason").filter(|r| !r.is_null()) {
        acc.finish_reason = Some(reason.clone());
    }
    if let Some(content) = choice
        .pointer("/logprobs/content")
        .and_then(Value::as_array)
    {
        acc.logprobs.extend(content.iter().cloned());
    }
    let Some(delta) = choice.get("delta") else {
        return;
    };
    if let Some(role) = delta.get("role").and_then(Value::as_str) {
        acc.role = Some(role.to_owned());
    }
    if let Some(text) = delta.get("content").and_then(Value::as_str) {
        acc.content.get_or_insert_with(String::new).push_str(text);
    }
    if let Some(text) = delta.get("refusal").and_then(Value::as_str) {
        acc.refusal.get_or_insert_with(String::new).push_str(text);
    }
    if let Some(text) = delta.get("reasoning_content").and_then(Value::as_str) {
        acc.reasoning.get_or_insert_with(String::new).push_str(text);
    }
    for call in delta
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
        let tc = acc.tool_calls.entry(index).or_default();
        if let Some(id) = call.get("id").filter(|v| !v.is_null()) {
            tc.id = Some(id.clone());
        }
        if let Some(t) = call.get("type").filter(|v| !v.is_null()) {
            tc.call_type = Some(t.clone());
        }
        if let Some(name) = call.pointer("/function/name").and_then(Value::as_str) {
            tc.name.push_str(name);
        }
        if let Some(args) = call.pointer("/function/arguments").and_then(Value::as_str) {
            tc.arguments.push_str(args);
        }
    }
}

fn choice_json(index: u64, c: ChoiceAcc) -> Value {
    let mut message = Map::new();
    message.insert(
        "role".into(),
        Value::from(c.role.unwrap_or_else(|| "assistant".into())),
    );
    message.insert(
        "content".into(),
        c.content.map(Value::from).unwrap_or(Value::Null),
    );
    message.insert(
        "refusal".into(),
        c.refusal.map(Value::from).unwrap_or(Value::Null),
    );
    if let Some(reasoning) = c.reasoning {
        message.insert("reasoning_content".into(), Value::from(reasoning));
    }
    if !c.tool_calls.is_empty() {
        let calls: Vec<Value> = c
            .tool_calls
            .into_values()
            .map(|tc| {
                json!({
                    "id": tc.id.unwrap_or(Value::Null),
                    "type": tc.call_type.unwrap_or_else(|| Value::from("function")),
                    "function": {"name": tc.name, "arguments": tc.arguments},
                })
            })
            .collect();
        message.insert("tool_calls".into(), Value::Array(calls));
    }
    let logprobs = if c.logprobs.is_empty() {
        Value::Null
    } else {
        json!({ "content": c.logprobs })
    };
    json!({
        "index": index,
        "message": message,
        "logprobs": logprobs,
        "finish_reason": c.finish_reason.unwrap_or(Value::Null),
    })
}

#[cfg(test)]
#[path = "assemble_tests.rs"]
mod tests;
