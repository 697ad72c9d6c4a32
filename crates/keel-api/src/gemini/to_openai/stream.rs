//! A Gemini `streamGenerateContent?alt=sse` stream as OpenAI
//! `chat.completion.chunk` payloads. Each SSE event is a whole
//! `GenerateContentResponse` fragment; there is no closing event, the
//! stream just ends, so the caller calls [`StreamTranslator::finish`] then.
//!
//! - the first event → first a chunk with `delta: {role: assistant,
//!   content: ""}` (and one such chunk for each further candidate index when
//!   it first shows up);
//! - text parts → `content` deltas, as they come (empty text adds nothing;
//!   `thought: true` parts add nothing);
//! - a `functionCall` part (Gemini sends each whole) → one `tool_calls`
//!   delta with the call's `index` (counted per candidate), `id`, `name`
//!   and the full `arguments` string;
//! - `promptFeedback.blockReason` → a `refusal` delta naming it;
//! - `finishReason` and `usageMetadata` (cumulative) are remembered, the
//!   last value winning, since older models repeat `finishReason` on every
//!   event;
//! - [`StreamTranslator::finish`] → per candidate an empty delta with its
//!   `finish_reason` (`content_filter` for a blocked prompt), then with
//!   `include_usage` a last chunk with `choices: []` and the usage, when
//!   Gemini reported any.
//!
//! Nothing of the answer is held back: only the finish reasons wait for the
//! end of the stream, which Gemini closes right after its last event.
//! An event carrying `error` is an error the caller reports to the client,
//! and nothing follows it. Payloads only: the caller frames each as
//! `data: …\n\n` and ends the stream with `data: [DONE]`.

use serde_json::{json, Value};

use super::{
    block_message, block_reason, call_id, completion_id, finish_reason, is_thought, malformed,
    parts, upstream_error, usage,
};
use crate::error::ApiError;
use crate::gemini::error;

/// What the translator knows of one candidate.
#[derive(Debug)]
struct Candidate {
    index: u64,
    /// Tool calls streamed so far (the next call's index).
    calls: u64,
    /// The last `finishReason` seen.
    finish: Option<String>,
}

/// Turns Gemini stream events into OpenAI chunk payloads.
#[derive(Debug)]
pub struct StreamTranslator {
    id: String,
    response_id: Option<String>,
    model: String,
    created: u64,
    include_usage: bool,
    /// The first chunk (role of choice 0) went out.
    started: bool,
    candidates: Vec<Candidate>,
    usage: Option<Value>,
    /// The prompt's block reason, when Gemini blocked it.
    blocked: bool,
    /// An error event came: nothing more is translated.
    failed: bool,
    /// [`StreamTranslator::finish`] ran.
    finished: bool,
}

impl StreamTranslator {
    /// A translator for one answer. `requested_model` names the chunks until
    /// Gemini names its `modelVersion`; `created` is the Unix time the caller
    /// stamps on every chunk; `include_usage` is the client's
    /// `stream_options.include_usage`.
    pub fn new(requested_model: &str, created: u64, include_usage: bool) -> Self {
        StreamTranslator {
            id: completion_id(None),
            response_id: None,
            model: requested_model.to_owned(),
            created,
            include_usage,
            started: false,
            candidates: Vec::new(),
            usage: None,
            blocked: false,
            failed: false,
            finished: false,
        }
    }

    /// Appends the chunk payloads for one event (the `data` of one Gemini SSE
    /// event) to `out`. Data that is not a JSON object, or an error, is an
    /// error.
    pub fn on_event(&mut self, data: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), ApiError> {
        if self.failed || self.finished {
            return Ok(());
        }
        let event: Value = serde_json::from_slice(data)
            .ok()
            .filter(Value::is_object)
            .ok_or_else(|| malformed("an upstream stream event is not a JSON object"))?;
        if let Some(e) = error::from_value(&event) {
            self.failed = true;
            return Err(upstream_error(&e));
        }
        if self.response_id.is_none() {
            if let Some(id) = event.get("responseId").and_then(Value::as_str) {
                self.response_id = Some(id.to_owned());
                self.id = completion_id(Some(id));
            }
        }
        if let Some(model) = event
            .get("modelVersion")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
        {
            model.clone_into(&mut self.model);
        }
        if !self.started {
            self.started = true;
            out.push(self.chunk(0, json!({"role": "assistant", "content": ""}), None));
        }
        if let Some(reason) = block_reason(&event) {
            self.blocked = true;
            out.push(self.chunk(0, json!({"refusal": block_message(reason)}), None));
        }
        let candidates = event.get("candidates").and_then(Value::as_array);
        for (position, candidate) in candidates.into_iter().flatten().enumerate() {
            self.on_candidate(candidate, position as u64, out);
        }
        if let Some(meta) = event.get("usageMetadata").filter(|u| u.is_object()) {
            self.usage = Some(meta.clone());
        }
        Ok(())
    }

    /// The chunks for one candidate of an event.
    fn on_candidate(&mut self, candidate: &Value, position: u64, out: &mut Vec<Vec<u8>>) {
        let index = candidate
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(position);
        let slot = match self.candidates.iter().position(|c| c.index == index) {
            Some(slot) => slot,
            None => {
                if index != 0 {
                    out.push(self.chunk(index, json!({"role": "assistant", "content": ""}), None));
                }
                self.candidates.push(Candidate {
                    index,
                    calls: 0,
                    finish: None,
                });
                self.candidates.len() - 1
            }
        };
        for part in parts(candidate) {
            if is_thought(part) {
                continue;
            }
            if let Some(text) = part.get("text").and_then(Value::as_str) {
                if !text.is_empty() {
                    out.push(self.chunk(index, json!({"content": text}), None));
                }
            } else if let Some(call) = part.get("functionCall") {
                let n = self.candidates[slot].calls;
                self.candidates[slot].calls += 1;
                let call = json!({
                    "index": n,
                    "id": call_id(call, n, self.response_id.as_deref()),
                    "type": "function",
                    "function": {
                        "name": call.get("name").and_then(Value::as_str).unwrap_or_default(),
                        "arguments": call.get("args").filter(|a| !a.is_null()).map_or_else(|| "{}".to_owned(), Value::to_string),
                    },
                });
                out.push(self.chunk(index, json!({"tool_calls": [call]}), None));
            }
        }
        if let Some(reason) = candidate
            .get("finishReason")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
        {
            self.candidates[slot].finish = Some(reason.to_owned());
        }
    }

    /// Appends the closing chunks once the upstream stream has ended: each
    /// candidate's `finish_reason`, then the usage chunk when the client
    /// asked for usage and Gemini reported some. Does nothing after an error
    /// or a second time.
    pub fn finish(&mut self, out: &mut Vec<Vec<u8>>) {
        if self.failed || self.finished {
            return;
        }
        self.finished = true;
        let mut ends: Vec<(u64, &'static str)> = self
            .candidates
            .iter()
            .filter_map(|c| {
                let reason = c.finish.as_deref()?;
                Some((c.index, finish_reason(Some(reason), c.calls > 0)))
            })
            .collect();
        if self.blocked && !ends.iter().any(|(i, _)| *i == 0) {
            ends.push((0, "content_filter"));
        }
        ends.sort_by_key(|(index, _)| *index);
        for (index, reason) in ends {
            out.push(self.chunk(index, json!({}), Some(reason)));
        }
        if let (true, Some(meta)) = (self.include_usage, &self.usage) {
            out.push(self.chunk_head().usage_chunk(&usage(meta)));
        }
    }

    /// The last `usageMetadata` Gemini reported, as it came, for the record.
    pub fn provider_usage(&self) -> Option<Value> {
        self.usage.clone()
    }

    /// Whether the stream ended as Gemini ends a whole answer: the prompt was
    /// blocked, or every candidate reported why it stopped. A stream that
    /// closes without that was cut short.
    pub fn is_complete(&self) -> bool {
        !self.failed
            && (self.blocked
                || (!self.candidates.is_empty()
                    && self.candidates.iter().all(|c| c.finish.is_some())))
    }

    /// The fields every chunk shares.
    fn chunk_head(&self) -> crate::chunk::ChunkHead<'_> {
        crate::chunk::ChunkHead::new(&self.id, self.created, &self.model, self.include_usage)
    }

    fn chunk(&self, index: u64, delta: Value, finish: Option<&str>) -> Vec<u8> {
        self.chunk_head().chunk(index, &delta, finish)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(t: &mut StreamTranslator, events: &[Value]) -> Vec<Value> {
        let mut out = Vec::new();
        for e in events {
            t.on_event(e.to_string().as_bytes(), &mut out).unwrap();
        }
        t.finish(&mut out);
        out.iter()
            .map(|c| serde_json::from_slice(c).unwrap())
            .collect()
    }

    #[test]
    fn repeated_finish_reasons_close_the_choice_once_at_the_end() {
        let mut t = StreamTranslator::new("m", 1, false);
        let text = |s: &str| {
            json!({"candidates": [{"content": {"parts": [{"text": s}], "role": "model"},
                "finishReason": "STOP", "index": 0}]})
        };
        let chunks = feed(&mut t, &[text("a"), text("b")]);
        let reasons: Vec<&Value> = chunks
            .iter()
            .map(|c| &c["choices"][0]["finish_reason"])
            .collect();
        assert_eq!(
            reasons,
            [&Value::Null, &Value::Null, &Value::Null, &json!("stop")]
        );
        assert!(t.is_complete());
    }

    #[test]
    fn a_stream_without_a_finish_reason_is_incomplete() {
        let mut t = StreamTranslator::new("m", 1, true);
        let chunks = feed(
            &mut t,
            &[
                json!({"candidates": [{"content": {"parts": [{"text": "half"}]}}],
                "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}}),
            ],
        );
        assert!(!t.is_complete());
        // Role, content, then the usage: no finish reason is made up.
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[2]["usage"]["prompt_tokens"], 3);
    }

    #[test]
    fn errors_and_garbage_fail_and_nothing_follows_an_error() {
        let mut t = StreamTranslator::new("m", 1, true);
        let mut out = Vec::new();
        assert!(t.on_event(b"not json", &mut out).is_err());
        let err = json!({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}});
        assert_eq!(
            t.on_event(err.to_string().as_bytes(), &mut out)
                .unwrap_err()
                .status(),
            502
        );
        t.on_event(
            br#"{"candidates":[{"content":{"parts":[{"text":"x"}]}}]}"#,
            &mut out,
        )
        .unwrap();
        t.finish(&mut out);
        assert!(out.is_empty());
        assert!(!t.is_complete());
    }
}
