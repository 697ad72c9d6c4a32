//! A stream of Anthropic Messages events as OpenAI `chat.completion.chunk`
//! payloads, one event at a time: nothing of the answer is held back.
//!
//! - `message_start` → the first chunk, `delta: {role: assistant, content: ""}`;
//! - `text_delta` → a `content` delta (empty fragments add nothing);
//! - a `tool_use` `content_block_start` → a `tool_calls` delta with the
//!   call's `index` (counted over tool calls only), `id`, `name` and empty
//!   `arguments`; its `input_json_delta`s → `arguments` deltas;
//! - `message_delta` → an empty delta with the `finish_reason`;
//! - `message_stop` → with `include_usage`, a last chunk with `choices: []`
//!   and the usage of `message_start` (input) and `message_delta` (output);
//! - `thinking_delta` → a `reasoning_content` delta;
//! - `ping`, block stops, signature deltas and unknown events add nothing; an
//!   `error` event is an error the caller reports to the client.
//!
//! Payloads only: the caller frames each as `data: …\n\n` and ends the stream
//! with `data: [DONE]`.

use serde_json::{json, Value};

use super::{completion_id, finish_reason, malformed, upstream_error, usage};
use crate::error::ApiError;

/// Turns Anthropic stream events into OpenAI chunk payloads.
#[derive(Debug)]
pub struct StreamTranslator {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    /// Usage from `message_start` (input counts) and `message_delta` (output).
    input_usage: Option<Value>,
    output_usage: Option<Value>,
    /// Anthropic block index → OpenAI tool call index, for open tool blocks.
    tool_blocks: Vec<(u64, u64)>,
    next_tool: u64,
    finished: bool,
}

impl StreamTranslator {
    /// A translator for one answer. `requested_model` names the chunks until
    /// the provider names its model; `created` is the Unix time the caller
    /// stamps on every chunk; `include_usage` is the client's
    /// `stream_options.include_usage`.
    pub fn new(requested_model: &str, created: u64, include_usage: bool) -> Self {
        StreamTranslator {
            id: completion_id("unknown"),
            model: requested_model.to_owned(),
            created,
            include_usage,
            input_usage: None,
            output_usage: None,
            tool_blocks: Vec::new(),
            next_tool: 0,
            finished: false,
        }
    }

    /// The usage as the provider reported it: `message_start`'s merged with
    /// the counts `message_delta` updates, kept for the record.
    pub fn provider_usage(&self) -> Option<Value> {
        let mut merged = self.input_usage.clone().filter(Value::is_object)?;
        if let (Some(into), Some(Value::Object(update))) =
            (merged.as_object_mut(), self.output_usage.as_ref())
        {
            for (k, v) in update {
                into.insert(k.clone(), v.clone());
            }
        }
        Some(merged)
    }

    /// Appends the chunk payloads for one event (the `data` of one Anthropic
    /// SSE event) to `out`. Data that is not a JSON object, or an `error`
    /// event, is an error.
    pub fn on_event(&mut self, data: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), ApiError> {
        if self.finished {
            return Ok(());
        }
        let event: Value = serde_json::from_slice(data)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| malformed("an upstream stream event is not a JSON object"))?;
        match event.get("type").and_then(Value::as_str).unwrap_or("") {
            "message_start" => {
                let message = event.get("message");
                let field = |k: &str| message.and_then(|m| m.get(k)).and_then(Value::as_str);
                if let Some(id) = field("id") {
                    self.id = completion_id(id);
                }
                if let Some(model) = field("model") {
                    self.model = model.to_owned();
                }
                self.input_usage = message.and_then(|m| m.get("usage")).cloned();
                out.push(self.chunk(json!({"role": "assistant", "content": ""}), None));
            }
            "content_block_start" => {
                let block = event.get("content_block");
                if block.and_then(|b| b.get("type")).and_then(Value::as_str) == Some("tool_use") {
                    let index = self.next_tool;
                    self.next_tool += 1;
                    self.tool_blocks.push((block_index(&event), index));
                    let field = |k: &str| {
                        block
                            .and_then(|b| b.get(k))
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                    };
                    let call = json!({"index": index, "id": field("id"), "type": "function",
                        "function": {"name": field("name"), "arguments": ""}});
                    out.push(self.chunk(json!({"tool_calls": [call]}), None));
                }
            }
            "content_block_delta" => {
                let delta = event.get("delta");
                let text = |k: &str| delta.and_then(|d| d.get(k)).and_then(Value::as_str);
                match delta.and_then(|d| d.get("type")).and_then(Value::as_str) {
                    Some("text_delta") => {
                        let content = text("text").unwrap_or_default();
                        if content.is_empty() {
                            return Ok(());
                        }
                        out.push(self.chunk(json!({"content": content}), None));
                    }
                    Some("thinking_delta") => {
                        let thinking = text("thinking").unwrap_or_default();
                        if thinking.is_empty() {
                            return Ok(());
                        }
                        out.push(self.chunk(json!({"reasoning_content": thinking}), None));
                    }
                    Some("input_json_delta") => {
                        let block = block_index(&event);
                        let index = self
                            .tool_blocks
                            .iter()
                            .find(|(b, _)| *b == block)
                            .map(|(_, i)| *i)
                            .ok_or_else(|| {
                                malformed("tool input for a block that is not a tool call")
                            })?;
                        let args = text("partial_json").unwrap_or_default();
                        if args.is_empty() {
                            return Ok(());
                        }
                        let call = json!({"index": index, "function": {"arguments": args}});
                        out.push(self.chunk(json!({"tool_calls": [call]}), None));
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                self.output_usage = event.get("usage").cloned();
                let reason = event.pointer("/delta/stop_reason").and_then(Value::as_str);
                out.push(self.chunk(json!({}), finish_reason(reason).or(Some("stop"))));
            }
            "message_stop" => {
                self.finished = true;
                if self.include_usage {
                    out.push(self.chunk_head().usage_chunk(&usage(
                        self.input_usage.as_ref(),
                        self.output_usage.as_ref(),
                    )));
                }
            }
            "error" => {
                self.finished = true;
                return Err(upstream_error(event.get("error").unwrap_or(&Value::Null)));
            }
            _ => {}
        }
        Ok(())
    }

    /// The fields every chunk shares.
    fn chunk_head(&self) -> crate::chunk::ChunkHead<'_> {
        crate::chunk::ChunkHead::new(&self.id, self.created, &self.model, self.include_usage)
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> Vec<u8> {
        self.chunk_head().chunk(0, &delta, finish)
    }
}

fn block_index(event: &Value) -> u64 {
    event.get("index").and_then(Value::as_u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(t: &mut StreamTranslator, events: &[Value]) -> Vec<Value> {
        let mut out = Vec::new();
        for e in events {
            t.on_event(e.to_string().as_bytes(), &mut out).unwrap();
        }
        out.iter()
            .map(|c| serde_json::from_slice(c).unwrap())
            .collect()
    }

    #[test]
    fn tool_calls_are_numbered_apart_from_text_blocks() {
        let mut t = StreamTranslator::new("m", 1, false);
        let chunks = feed(
            &mut t,
            &[
                json!({"type": "content_block_start", "index": 1,
                    "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}}),
                json!({"type": "content_block_delta", "index": 1,
                    "delta": {"type": "input_json_delta", "partial_json": "{\"a\":1}"}}),
            ],
        );
        let call = &chunks[1]["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(call["index"], 0);
        assert_eq!(call["function"]["arguments"], "{\"a\":1}");
    }

    #[test]
    fn errors_and_garbage_fail_and_nothing_follows_an_error() {
        let mut t = StreamTranslator::new("m", 1, true);
        let mut out = Vec::new();
        assert!(t.on_event(b"not json", &mut out).is_err());
        let err = json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
        assert_eq!(
            t.on_event(err.to_string().as_bytes(), &mut out)
                .unwrap_err()
                .status(),
            502
        );
        t.on_event(br#"{"type":"message_stop"}"#, &mut out).unwrap();
        assert!(out.is_empty());
    }
}
