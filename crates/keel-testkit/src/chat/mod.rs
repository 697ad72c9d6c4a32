//! `POST /v1/chat/completions` in realistic mode: deterministic echo answers,
//! tool calls, structured output, streaming, and the fault models.
//!
//! The rules, so tests can predict the output:
//! - content is `"Echo: <words of the last user message joined by single spaces>"`;
//!   with `response_format` `json_object` it is `{"echo":"<words>"}`, with
//!   `json_schema` an object holding each required property's default
//!   (see [`crate::schema::default_for`]);
//! - `stop` cuts the content before the first stop string (finish `stop`),
//!   then `max_tokens`/`max_completion_tokens` keeps that many words
//!   (finish `length`);
//! - `tools` (unless `tool_choice` is `"none"`) gives tool calls instead of
//!   content: the named function, or the first tool, or the first two when
//!   there are two or more and `parallel_tool_calls` is not `false`;
//! - usage: `prompt_tokens` = Σ over messages of (words in content + 3);
//!   `completion_tokens` = Σ over choices of the words in the content, or 10
//!   per tool call; `cached_tokens` = `prompt_tokens / 2` for `fake-cached`.
//! - streams: a first chunk with `{"role":"assistant","content":""}` (for
//!   tool calls `content: null` and the first call's id and name), one chunk
//!   per word (or per 8-character argument fragment), a chunk with the
//!   `finish_reason` per choice, then with `stream_options.include_usage`
//!   a usage chunk with `"choices": []` (every other chunk has
//!   `"usage": null`), then `data: [DONE]`.

pub(crate) mod plan;
pub(crate) mod render;

pub use plan::TOOL_CALL_TOKENS;

use std::sync::Arc;

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::body::ReplyBody;
use crate::faults::{self, Fault};
use crate::respond::{self, Outcome};
use crate::state::Shared;

/// Chunks `fault-cut` streams before dropping the connection: the role chunk
/// and three content chunks.
const CUT_STREAM_EVENTS: usize = 4;

/// Answers one chat completion request whose body parsed as JSON.
pub(crate) fn handle(req: &Value, headers: &HeaderMap, shared: &Arc<Shared>) -> Outcome {
    let model = req.get("model").and_then(Value::as_str).unwrap_or("");
    let fault = Fault::from_model(model);
    if let Some(outcome) = fault.and_then(faults::immediate) {
        return outcome;
    }
    let plan = match plan::plan(req, &faults::overrides(fault)) {
        Ok(plan) => plan,
        Err((message, param)) => return respond::invalid_request(&message, param).into(),
    };
    let cut = fault == Some(Fault::Cut);
    if plan.stream {
        let mut events = render::stream_events(&plan);
        if cut {
            events.truncate(CUT_STREAM_EVENTS);
        }
        let mut body = ReplyBody::parts(events)
            .paced(faults::delay(fault, headers))
            .tracked(shared);
        if cut {
            body = body.cut();
        }
        respond::sse(body).into()
    } else {
        let value = render::completion(&plan);
        if cut {
            return faults::cut_json(&value);
        }
        respond::json(StatusCode::OK, &value).into()
    }
}
