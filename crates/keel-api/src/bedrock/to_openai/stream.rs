//! ConverseStream events as OpenAI `chat.completion.chunk` payloads, one
//! event at a time: nothing of the answer is held back.
//!
//! In the HTTP answer each event is one event stream message whose
//! `:event-type` header names the event and whose payload is the event's
//! JSON *without* a wrapper key: `contentBlockDelta` carries
//! `{"contentBlockIndex":0,"delta":{"text":"Hi"}}`, not
//! `{"contentBlockDelta":{…}}` (the AWS SDKs key the event by the header;
//! see the Amazon Event Stream Specification's message events, and the
//! Bedrock Runtime event stream deserializers of the AWS SDK for
//! JavaScript, which parse each payload straight into the event shape).
//!
//! - `messageStart` → the first chunk, `delta: {role: assistant, content: ""}`;
//! - `contentBlockDelta` with `delta.text` → a `content` delta (empty text
//!   adds nothing);
//! - `contentBlockStart` with `start.toolUse {toolUseId, name}` → a
//!   `tool_calls` delta with the call's `index` (counted over tool calls
//!   only), `id`, `name` and empty `arguments`; its `delta.toolUse.input`
//!   fragments (partial JSON text) → `arguments` deltas;
//! - `messageStop` → an empty delta with the `finish_reason`;
//! - `metadata`, which arrives *after* `messageStop` → with `include_usage`,
//!   a last chunk with `choices: []` and the usage (see the parent module);
//! - `contentBlockStop`, reasoning and citation deltas and unknown events add
//!   nothing;
//! - an exception (`:message-type: exception`, or an event whose type ends
//!   in `Exception`, e.g. `throttlingException`) or an `error` message is an
//!   error the caller reports to the client.
//!
//! Payloads only: the caller frames each as `data: …\n\n` and ends the stream
//! with `data: [DONE]`.

use serde_json::{json, Value};

use super::{finish_reason, fnv1a, malformed, upstream_error, usage};
use crate::bedrock::eventstream::Message;
use crate::error::{ApiError, ErrorKind};

/// Turns ConverseStream events into OpenAI chunk payloads.
#[derive(Debug)]
pub struct StreamTranslator {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    /// Converse block index → OpenAI tool call index, for tool use blocks.
    tool_blocks: Vec<(u64, u64)>,
    next_tool: u64,
    /// `messageStop` arrived.
    stopped: bool,
    /// `metadata` or an error arrived: nothing more is translated.
    finished: bool,
    /// The `metadata` event's `usage`, as Bedrock sent it.
    usage: Option<Value>,
}

impl StreamTranslator {
    /// A translator for one answer. `requested_model` names the chunks
    /// (Converse does not name its model); `created` is the Unix time the
    /// caller stamps on every chunk; `include_usage` is the client's
    /// `stream_options.include_usage`. The id is derived from the model and
    /// `created` until [`StreamTranslator::with_request_id`] sets a real one.
    pub fn new(requested_model: &str, created: u64, include_usage: bool) -> Self {
        let seed = format!("{requested_model}\n{created}");
        StreamTranslator {
            id: format!("chatcmpl-bedrock-{:016x}", fnv1a(seed.as_bytes())),
            model: requested_model.to_owned(),
            created,
            include_usage,
            tool_blocks: Vec::new(),
            next_tool: 0,
            stopped: false,
            finished: false,
            usage: None,
        }
    }

    /// The usage Bedrock reported in its `metadata` event, as it came, for
    /// the record.
    pub fn provider_usage(&self) -> Option<Value> {
        self.usage.clone()
    }

    /// Names the chunks after Bedrock's request id (`x-amzn-RequestId`).
    pub fn with_request_id(mut self, request_id: &str) -> Self {
        self.id = super::completion_id(request_id);
        self
    }

    /// Translates one decoded event stream message: events by their
    /// `:event-type`, exceptions and errors into an error.
    pub fn on_message(
        &mut self,
        message: &Message,
        out: &mut Vec<Vec<u8>>,
    ) -> Result<(), ApiError> {
        match message.message_type() {
            Some("event") | None => {
                let kind = message
                    .event_type()
                    .ok_or_else(|| malformed("an upstream stream event has no :event-type"))?;
                self.on_event(kind, &message.payload, out)
            }
            Some("exception") => {
                self.finished = true;
                let kind = message.exception_type().unwrap_or("exception");
                Err(exception(kind, &message.payload))
            }
            Some("error") => {
                self.finished = true;
                let code = message.header_str(":error-code").unwrap_or("error");
                let text = message.header_str(":error-message").unwrap_or("");
                Err(upstream_error(code, text))
            }
            Some(other) => Err(malformed(format!(
                "an upstream stream message has the unknown type {other}"
            ))),
        }
    }

    /// Appends the chunk payloads for one event (its `:event-type` and JSON
    /// payload) to `out`. A payload that is not a JSON object, or an
    /// exception, is an error.
    pub fn on_event(
        &mut self,
        event_type: &str,
        payload: &[u8],
        out: &mut Vec<Vec<u8>>,
    ) -> Result<(), ApiError> {
        if self.finished {
            return Ok(());
        }
        if event_type.ends_with("Exception") {
            self.finished = true;
            return Err(exception(event_type, payload));
        }
        let event: Value = serde_json::from_slice(payload)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| malformed("an upstream stream event is not a JSON object"))?;
        match event_type {
            "messageStart" => {
                out.push(self.chunk(json!({"role": "assistant", "content": ""}), None));
            }
            "contentBlockStart" => {
                if let Some(tool) = event.pointer("/start/toolUse") {
                    let index = self.next_tool;
                    self.next_tool += 1;
                    self.tool_blocks.push((block_index(&event), index));
                    let field = |k: &str| tool.get(k).and_then(Value::as_str).unwrap_or_default();
                    let call = json!({"index": index, "id": field("toolUseId"), "type": "function",
                        "function": {"name": field("name"), "arguments": ""}});
                    out.push(self.chunk(json!({"tool_calls": [call]}), None));
                }
            }
            "contentBlockDelta" => {
                let delta = event.get("delta");
                if let Some(text) = delta.and_then(|d| d.get("text")).and_then(Value::as_str) {
                    if !text.is_empty() {
                        out.push(self.chunk(json!({"content": text}), None));
                    }
                } else if let Some(tool) = delta.and_then(|d| d.get("toolUse")) {
                    let block = block_index(&event);
                    let index = self
                        .tool_blocks
                        .iter()
                        .find(|(b, _)| *b == block)
                        .map(|(_, i)| *i)
                        .ok_or_else(|| {
                            malformed("tool input for a block that is not a tool call")
                        })?;
                    let args = tool
                        .get("input")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    if !args.is_empty() {
                        let call = json!({"index": index, "function": {"arguments": args}});
                        out.push(self.chunk(json!({"tool_calls": [call]}), None));
                    }
                }
            }
            "messageStop" => {
                self.stopped = true;
                let reason = event.get("stopReason").and_then(Value::as_str);
                out.push(self.chunk(json!({}), finish_reason(reason).or(Some("stop"))));
            }
            "metadata" => {
                self.finished = true;
                self.usage = event.get("usage").filter(|u| u.is_object()).cloned();
                if self.include_usage {
                    out.push(self.chunk_head().usage_chunk(&usage(event.get("usage"))));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Called when the upstream body ended: a stream that stopped before
    /// `messageStop` was cut short. A stream that ended after `messageStop`
    /// but without `metadata` gets no usage chunk (there is no usage to
    /// report). Adds nothing to `out` today; it takes `out` so a later
    /// format change need not change callers.
    pub fn finish(&mut self, _out: &mut Vec<Vec<u8>>) -> Result<(), ApiError> {
        let done = self.stopped || self.finished;
        self.finished = true;
        if done {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorKind::StreamCut,
                "the upstream stream ended before the answer was complete",
            ))
        }
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
    event
        .get("contentBlockIndex")
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// An exception message (`{"message": …}`, or any text) as an error.
fn exception(kind: &str, payload: &[u8]) -> ApiError {
    let text = serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(payload).trim().to_owned());
    upstream_error(kind, &text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bedrock::eventstream::{encode, Decoder};

    fn feed(t: &mut StreamTranslator, events: &[(&str, Value)]) -> Vec<Value> {
        let mut out = Vec::new();
        for (kind, payload) in events {
            t.on_event(kind, payload.to_string().as_bytes(), &mut out)
                .unwrap();
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
                (
                    "contentBlockDelta",
                    json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
                ),
                (
                    "contentBlockStart",
                    json!({"contentBlockIndex": 1,
                    "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "f"}}}),
                ),
                (
                    "contentBlockDelta",
                    json!({"contentBlockIndex": 1,
                    "delta": {"toolUse": {"input": "{\"a\":1}"}}}),
                ),
            ],
        );
        let call = &chunks[2]["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(call["index"], 0);
        assert_eq!(call["function"]["arguments"], "{\"a\":1}");
        assert_eq!(
            chunks[1]["choices"][0]["delta"]["tool_calls"][0]["id"],
            "tooluse_1"
        );
    }

    #[test]
    fn usage_follows_the_finish_reason() {
        let mut t = StreamTranslator::new("m", 1, true).with_request_id("r1");
        let chunks = feed(
            &mut t,
            &[
                ("messageStop", json!({"stopReason": "max_tokens"})),
                (
                    "metadata",
                    json!({"usage": {"inputTokens": 3, "outputTokens": 2,
                    "totalTokens": 5}, "metrics": {"latencyMs": 9}}),
                ),
            ],
        );
        assert_eq!(chunks[0]["choices"][0]["finish_reason"], "length");
        assert!(chunks[0]["usage"].is_null());
        assert_eq!(chunks[1]["choices"], json!([]));
        assert_eq!(chunks[1]["usage"]["total_tokens"], 5);
        assert_eq!(chunks[1]["id"], "chatcmpl-r1");
        assert!(t.finish(&mut Vec::new()).is_ok());
    }

    #[test]
    fn exceptions_and_garbage_fail_and_nothing_follows_an_exception() {
        let mut t = StreamTranslator::new("m", 1, true);
        let mut out = Vec::new();
        assert!(t
            .on_event("contentBlockDelta", b"not json", &mut out)
            .is_err());
        let frame = encode(
            &[
                (":message-type", "exception"),
                (":exception-type", "throttlingException"),
            ],
            br#"{"message":"Too many tokens"}"#,
        );
        let mut messages = Vec::new();
        Decoder::new(1 << 16).feed(&frame, &mut messages).unwrap();
        let err = t.on_message(&messages[0], &mut out).unwrap_err();
        assert_eq!(err.status(), 502);
        assert!(err.message.contains("throttlingException: Too many tokens"));
        t.on_event("messageStop", br#"{"stopReason":"end_turn"}"#, &mut out)
            .unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn a_stream_without_message_stop_was_cut() {
        let mut t = StreamTranslator::new("m", 1, false);
        feed(&mut t, &[("messageStart", json!({"role": "assistant"}))]);
        assert_eq!(t.finish(&mut Vec::new()).unwrap_err().status(), 502);
    }
}
