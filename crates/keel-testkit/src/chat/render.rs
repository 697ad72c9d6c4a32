//! Renders a [`ChatPlan`] as a `chat.completion` object or as the sequence of
//! `chat.completion.chunk` SSE events, in OpenAI's documented shapes.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::plan::{Answer, ChatPlan, Choice, ToolCall, Usage};
use crate::respond::{sse_done, sse_event};

/// The `usage` object, with the detail objects OpenAI always includes.
pub(crate) fn usage_json(u: Usage) -> Value {
    json!({
        "prompt_tokens": u.prompt,
        "completion_tokens": u.completion,
        "total_tokens": u.prompt + u.completion,
        "prompt_tokens_details": {"cached_tokens": u.cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

/// One logprob entry; values are deterministic in the token's position.
fn logprob_entry(token: &str, position: usize, top: usize) -> Value {
    let logprob = -0.01 * ((position % 7) + 1) as f64;
    let top_logprobs: Vec<Value> = (0..top)
        .map(|k| {
            let alt = if k == 0 {
                token.to_owned()
            } else {
                format!(" alt{k}")
            };
            json!({"token": alt, "logprob": logprob - k as f64, "bytes": alt.as_bytes()})
        })
        .collect();
    json!({
        "token": token,
        "logprob": logprob,
        "bytes": token.as_bytes(),
        "top_logprobs": top_logprobs,
    })
}

/// `choices[].logprobs` for the given tokens starting at `first_position`.
fn logprobs_json(tokens: &[String], first_position: usize, top: usize) -> Value {
    let content: Vec<Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| logprob_entry(t, first_position + i, top))
        .collect();
    json!({"content": content, "refusal": null})
}

fn tool_call_json(call: &ToolCall) -> Value {
    json!({
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments}
    })
}

/// The non-streamed `chat.completion` object.
pub(crate) fn completion(plan: &ChatPlan) -> Value {
    let choices: Vec<Value> = plan
        .choices
        .iter()
        .enumerate()
        .map(|(index, choice)| completion_choice(plan, index, choice))
        .collect();
    let mut out = json!({
        "id": plan.id,
        "object": "chat.completion",
        "created": plan.created,
        "model": plan.model,
        "choices": choices,
        "service_tier": "default",
        "system_fingerprint": plan.fingerprint,
    });
    if let (Some(usage), Some(obj)) = (plan.usage, out.as_object_mut()) {
        obj.insert("usage".to_owned(), usage_json(usage));
    }
    out
}

fn completion_choice(plan: &ChatPlan, index: usize, choice: &Choice) -> Value {
    let (message, logprobs) = match &choice.answer {
        Answer::Text(tokens) => (
            json!({
                "role": "assistant",
                "content": tokens.concat(),
                "refusal": null,
                "annotations": []
            }),
            plan.logprobs
                .map(|top| logprobs_json(tokens, 0, top))
                .unwrap_or(Value::Null),
        ),
        Answer::Tools(calls) => (
            json!({
                "role": "assistant",
                "content": null,
                "tool_calls": calls.iter().map(tool_call_json).collect::<Vec<_>>(),
                "refusal": null,
                "annotations": []
            }),
            Value::Null,
        ),
    };
    json!({
        "index": index,
        "message": message,
        "logprobs": logprobs,
        "finish_reason": choice.finish_reason,
    })
}

/// Builds chunk objects sharing the plan's id, model and fingerprint.
struct Chunker<'a> {
    plan: &'a ChatPlan,
}

impl Chunker<'_> {
    fn chunk(&self, choices: Vec<Value>) -> Value {
        let mut out = Map::new();
        out.insert("id".into(), json!(self.plan.id));
        out.insert("object".into(), json!("chat.completion.chunk"));
        out.insert("created".into(), json!(self.plan.created));
        out.insert("model".into(), json!(self.plan.model));
        out.insert("service_tier".into(), json!("default"));
        out.insert("system_fingerprint".into(), json!(self.plan.fingerprint));
        out.insert("choices".into(), Value::Array(choices));
        if self.plan.include_usage && self.plan.usage.is_some() {
            out.insert("usage".into(), Value::Null);
        }
        Value::Object(out)
    }

    fn choice(&self, index: usize, delta: Value, logprobs: Value, finish: Option<&str>) -> Value {
        json!({"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish})
    }
}

/// Size of the argument fragments a tool call is streamed in.
pub(crate) const ARGUMENT_FRAGMENT_CHARS: usize = 8;

/// Splits `s` into pieces of at most `size` characters.
pub(crate) fn fragments(s: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// The deltas of one choice, in order; the first carries the role.
fn deltas(plan: &ChatPlan, choice: &Choice) -> Vec<(Value, Value)> {
    let mut out = Vec::new();
    match &choice.answer {
        Answer::Text(tokens) => {
            let empty = plan
                .logprobs
                .map(|_| json!({"content": [], "refusal": null}));
            out.push((
                json!({"role": "assistant", "content": "", "refusal": null}),
                empty.unwrap_or(Value::Null),
            ));
            for (i, token) in tokens.iter().enumerate() {
                let lp = plan
                    .logprobs
                    .map(|top| logprobs_json(std::slice::from_ref(token), i, top));
                out.push((json!({"content": token}), lp.unwrap_or(Value::Null)));
            }
        }
        Answer::Tools(calls) => {
            for (i, call) in calls.iter().enumerate() {
                let head = json!({
                    "index": i,
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": ""}
                });
                let delta = if i == 0 {
                    json!({"role": "assistant", "content": null, "tool_calls": [head], "refusal": null})
                } else {
                    json!({"tool_calls": [head]})
                };
                out.push((delta, Value::Null));
                for piece in fragments(&call.arguments, ARGUMENT_FRAGMENT_CHARS) {
                    let delta =
                        json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]});
                    out.push((delta, Value::Null));
                }
            }
        }
    }
    out
}

/// The SSE events of a streamed completion, `[DONE]` included. With n > 1
/// the choices' chunks are interleaved: position 0 of every choice, then
/// position 1, and so on.
pub(crate) fn stream_events(plan: &ChatPlan) -> Vec<Bytes> {
    let chunker = Chunker { plan };
    let per_choice: Vec<Vec<(Value, Value)>> =
        plan.choices.iter().map(|c| deltas(plan, c)).collect();
    let longest = per_choice.iter().map(Vec::len).max().unwrap_or(0);
    let mut events = Vec::new();
    for pos in 0..longest {
        for (index, list) in per_choice.iter().enumerate() {
            if let Some((delta, lp)) = list.get(pos) {
                let choice = chunker.choice(index, delta.clone(), lp.clone(), None);
                events.push(sse_event(&chunker.chunk(vec![choice])));
            }
        }
    }
    for (index, choice) in plan.choices.iter().enumerate() {
        let last = chunker.choice(index, json!({}), Value::Null, Some(choice.finish_reason));
        events.push(sse_event(&chunker.chunk(vec![last])));
    }
    if let (true, Some(usage)) = (plan.include_usage, plan.usage) {
        let mut chunk = chunker.chunk(Vec::new());
        if let Some(obj) = chunk.as_object_mut() {
            obj.insert("usage".into(), usage_json(usage));
        }
        events.push(sse_event(&chunk));
    }
    events.push(sse_done());
    events
}
