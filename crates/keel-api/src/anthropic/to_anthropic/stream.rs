//! A stream of OpenAI `chat.completion.chunk`s as Anthropic SSE events, one
//! chunk at a time: each chunk's events are written as soon as it arrives and
//! nothing of the answer is held back.
//!
//! Sequence: `message_start` and a `ping` (on the first chunk), then per
//! content block
//! `content_block_start`, `content_block_delta`s (`text_delta` for text,
//! `input_json_delta` with the raw argument fragments for a tool call) and
//! `content_block_stop` (a `thinking` block with `thinking_delta`s for a
//! reasoning model's `reasoning_content`), then `message_delta` (stop
//! reason and usage) and
//! `message_stop` from [`StreamTranslator::finish`]. Usage comes at the end
//! because OpenAI sends it in a last chunk of its own, after the finish reason.
//!
//! Argument fragments pass through unchecked, so a tool call whose arguments
//! are not JSON reaches the client as such (unlike non-streaming answers,
//! where they are wrapped in `{"_raw": …}`). Anthropic blocks are strictly
//! sequential, so a tool call resumed after another one started cannot be
//! expressed; such a stream fails with an `api_error`.

use serde_json::Value;

use super::events::{write_event, Block, Delta, Empty, Event, Skeleton, StopDelta, UsageOut};
use super::{stop_reason, Tokens};
use crate::anthropic::error::AnthropicError;

/// Turns OpenAI stream chunks into Anthropic stream events.
#[derive(Debug)]
pub struct StreamTranslator {
    model: String,
    message_id: String,
    started: bool,
    finished: bool,
    next_block: u32,
    open: Option<Open>,
    /// OpenAI indices of tool calls whose blocks are already closed.
    closed_tools: Vec<u64>,
    called_tools: bool,
    finish_reason: Option<String>,
    upstream_stop: Option<Value>,
    usage: Option<Tokens>,
}

/// The two kinds of block that grow by fragments of text.
#[derive(Debug, Clone, Copy)]
enum Prose {
    Text,
    Thinking,
}

#[derive(Debug)]
enum Open {
    Text { block: u32 },
    Thinking { block: u32 },
    Tool { block: u32, index: u64, id: String },
}

impl StreamTranslator {
    /// A translator for one answer. `requested_model` is the name the client
    /// asked for; `message_id` is the `msg_…` id the client will see.
    pub fn new(requested_model: &str, message_id: &str) -> Self {
        StreamTranslator {
            model: requested_model.to_owned(),
            message_id: message_id.to_owned(),
            started: false,
            finished: false,
            next_block: 0,
            open: None,
            closed_tools: Vec::new(),
            called_tools: false,
            finish_reason: None,
            upstream_stop: None,
            usage: None,
        }
    }

    /// Appends the events for one chunk payload (the `data` of one OpenAI SSE
    /// event) to `out`. `[DONE]` and chunks after [`finish`](Self::finish)
    /// add nothing. A payload that is not a JSON object, or that carries an
    /// upstream `error`, is an error the caller sends as an `error` event.
    pub fn on_chunk(
        &mut self,
        openai_chunk: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), AnthropicError> {
        if self.finished || openai_chunk.trim_ascii() == b"[DONE]" {
            return Ok(());
        }
        let chunk: Value = serde_json::from_slice(openai_chunk)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| {
                AnthropicError::new(
                    502,
                    "the upstream sent a stream chunk that is not a JSON object",
                )
            })?;
        if let Some(error) = chunk.get("error").filter(|e| !e.is_null()) {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("the upstream reported an error mid-stream");
            return Err(AnthropicError::new(500, message));
        }
        if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(Tokens::from_openai(usage));
        }
        self.start(out);
        let choice = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|list| {
                list.iter()
                    .find(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
            });
        let Some(choice) = choice else {
            return Ok(());
        };
        if let Some(delta) = choice.get("delta") {
            if let Some(reasoning) = delta.get("reasoning_content").and_then(Value::as_str) {
                self.prose(Prose::Thinking, reasoning, out);
            }
            for key in ["content", "refusal"] {
                if let Some(text) = delta.get(key).and_then(Value::as_str) {
                    self.prose(Prose::Text, text, out);
                }
            }
            for call in delta
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                self.tool_call(call, out)?;
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(reason.to_owned());
            self.upstream_stop = choice.get("stop_reason").cloned();
            self.close_block(out);
        }
        Ok(())
    }

    /// Appends the closing events: `content_block_stop` for a block still
    /// open, `message_delta` with the stop reason and the usage (if the usage
    /// chunk arrived), `message_stop`. Meant for a stream that ended normally;
    /// one that broke off should end with [`AnthropicError::to_sse_event`].
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        self.start(out);
        self.close_block(out);
        self.finished = true;
        let (stop_reason, stop_sequence) = stop_reason(
            self.finish_reason.as_deref(),
            self.upstream_stop.as_ref(),
            self.called_tools,
        );
        let usage = match self.usage {
            Some(t) => UsageOut::full(t),
            None => UsageOut {
                output_tokens: 0,
                ..UsageOut::default()
            },
        };
        let delta = StopDelta {
            stop_reason,
            stop_sequence: stop_sequence.as_deref(),
        };
        write_event(out, "message_delta", &Event::MessageDelta { delta, usage });
        write_event(out, "message_stop", &Event::MessageStop);
    }

    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let message = Skeleton {
            id: &self.message_id,
            kind: "message",
            role: "assistant",
            model: &self.model,
            content: &[],
            stop_reason: None,
            stop_sequence: None,
            usage: UsageOut::full(self.usage.unwrap_or_default()),
        };
        write_event(out, "message_start", &Event::MessageStart { message });
        // Anthropic's streams carry a `ping` early on; clients expect to
        // tolerate it, and some count on seeing one.
        write_event(out, "ping", &Event::Ping);
    }

    /// A fragment of text, or of a reasoning model's thoughts
    /// (`reasoning_content`, as a thinking block without a signature: only
    /// Anthropic can sign): it joins the open block of its kind, or closes
    /// whatever is open and starts one.
    fn prose(&mut self, kind: Prose, fragment: &str, out: &mut Vec<u8>) {
        if fragment.is_empty() {
            return;
        }
        let open = match (&self.open, kind) {
            (Some(Open::Text { block }), Prose::Text)
            | (Some(Open::Thinking { block }), Prose::Thinking) => Some(*block),
            _ => None,
        };
        let block = match open {
            Some(block) => block,
            None => {
                self.close_block(out);
                let start = match kind {
                    Prose::Text => Block::Text { text: "" },
                    Prose::Thinking => Block::Thinking {
                        thinking: "",
                        signature: "",
                    },
                };
                let block = self.open_block(out, start);
                self.open = Some(match kind {
                    Prose::Text => Open::Text { block },
                    Prose::Thinking => Open::Thinking { block },
                });
                block
            }
        };
        let delta = match kind {
            Prose::Text => Delta::Text { text: fragment },
            Prose::Thinking => Delta::Thinking { thinking: fragment },
        };
        write_event(
            out,
            "content_block_delta",
            &Event::ContentBlockDelta {
                index: block,
                delta,
            },
        );
    }

    fn tool_call(&mut self, call: &Value, out: &mut Vec<u8>) -> Result<(), AnthropicError> {
        let index = call.get("index").and_then(Value::as_u64).unwrap_or(0);
        let id = call
            .get("id")
            .and_then(Value::as_str)
            .filter(|id| !id.is_empty());
        let continues = match &self.open {
            // Some servers repeat the id on every fragment; a different id
            // under the same index is a new call.
            Some(Open::Tool {
                index: open,
                id: open_id,
                ..
            }) => *open == index && id.is_none_or(|id| id == open_id),
            _ => false,
        };
        let block = if let (true, Some(Open::Tool { block, .. })) = (continues, &self.open) {
            *block
        } else {
            if self.closed_tools.contains(&index) && id.is_none() {
                return Err(AnthropicError::new(
                    502,
                    "the upstream interleaved the arguments of parallel tool calls, which \
                     Anthropic streams cannot express",
                ));
            }
            self.close_block(out);
            let id = id
                .map(str::to_owned)
                .unwrap_or_else(|| format!("call_{index}"));
            let name = call
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let block = self.open_block(
                out,
                Block::ToolUse {
                    id: &id,
                    name,
                    input: Empty {},
                },
            );
            self.called_tools = true;
            self.open = Some(Open::Tool { block, index, id });
            block
        };
        let fragment = call
            .pointer("/function/arguments")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !fragment.is_empty() {
            let delta = Delta::InputJson {
                partial_json: fragment,
            };
            write_event(
                out,
                "content_block_delta",
                &Event::ContentBlockDelta {
                    index: block,
                    delta,
                },
            );
        }
        Ok(())
    }

    fn open_block(&mut self, out: &mut Vec<u8>, content_block: Block<'_>) -> u32 {
        let index = self.next_block;
        self.next_block += 1;
        write_event(
            out,
            "content_block_start",
            &Event::ContentBlockStart {
                index,
                content_block,
            },
        );
        index
    }

    fn close_block(&mut self, out: &mut Vec<u8>) {
        let index = match self.open.take() {
            None => return,
            Some(Open::Text { block } | Open::Thinking { block }) => block,
            Some(Open::Tool { block, index, .. }) => {
                self.closed_tools.push(index);
                block
            }
        };
        write_event(
            out,
            "content_block_stop",
            &Event::ContentBlockStop { index },
        );
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
