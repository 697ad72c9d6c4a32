//! A fake of Anthropic's Messages API, shaped like the real one so a native
//! Anthropic client (Keel's Anthropic provider) can be tested end to end.
//! It parses Anthropic requests itself and shares no translation code with
//! the gateway, so a translation bug cannot hide behind a matching bug here.
//!
//! Routes (base URL: [`crate::FakeUpstream::root_url`]):
//! - `POST /v1/messages`: a Message, or its SSE stream with `stream: true`;
//! - `POST /v1/messages/count_tokens`: `{"input_tokens": N}`;
//! - `GET /v1/models` with an `anthropic-version` or `x-api-key` header:
//!   Anthropic's model list (without them the OpenAI list answers).
//!
//! Every route checks, in this order: `x-api-key` present (else 401
//! `authentication_error` "x-api-key header is required") and equal to
//! [`ANTHROPIC_API_KEY`] (else 401 "invalid x-api-key"); `anthropic-version`
//! present (else 400 `invalid_request_error` "anthropic-version: header is
//! required") and one of [`ANTHROPIC_VERSIONS`] (else 400 `anthropic-version:
//! "<value>" is not a valid version`); then a JSON body. `anthropic-beta`
//! and every other header are only recorded (see `/__requests`). Every
//! response has a fresh `request-id` header; error bodies repeat it as
//! `request_id`.
//!
//! The rules, so tests can predict answers:
//! - a `fault-*` model ([`ANTHROPIC_FAULT_MODELS`]) misbehaves first;
//! - `model`, `messages` and `max_tokens` are required (400 `<field>: Field
//!   required`); `model` is echoed back unchanged;
//! - text is `"Echo: <words of the last user message>"`: its text blocks (or
//!   string content) joined, split on whitespace, joined by single spaces;
//! - `stop_sequences` cut the text before the earliest match (`stop_reason`
//!   `stop_sequence`, `stop_sequence` = the matched string); then
//!   `max_tokens` keeps that many words (`stop_reason` `max_tokens`,
//!   `stop_sequence` null); otherwise `end_turn`;
//! - `tools` (unless `tool_choice.type` is `none`) answer with `tool_use`
//!   blocks instead of text (`stop_reason` `tool_use`): the named tool for
//!   `tool_choice {type: tool, name}`, else the first tool, or the first two
//!   when there are two or more and `tool_choice.disable_parallel_tool_use`
//!   is not `true`. `input` holds each required property of `input_schema`
//!   at its default ([`crate::schema::default_for`]); ids come from
//!   [`tool_use_id`];
//! - model `fake-thinking`, or `thinking: {type: enabled}` on any model,
//!   puts a `thinking` block first: `"Thinking about: <words>"`
//!   ([`THINKING_PREFIX`]) with `signature` [`THINKING_SIGNATURE`];
//! - usage: let T = Σ over messages of (words of their text + 3) + words of
//!   `system`. `input_tokens` = T, except for `fake-cached`:
//!   `cache_read_input_tokens` = T/2, `cache_creation_input_tokens` = T/4
//!   (also as `cache_creation.ephemeral_5m_input_tokens`) and `input_tokens`
//!   = the rest, so the three add up to T as Anthropic counts them.
//!   `output_tokens` = text words, or [`crate::TOOL_CALL_TOKENS`] per
//!   `tool_use`, plus the thinking words. `service_tier` is `standard`.
//!   `count_tokens` answers T;
//! - streams: `message_start` (empty content, null stop fields, full usage
//!   with `output_tokens: 1`), `content_block_start` of block 0, one `ping`,
//!   its deltas, `content_block_stop`, the same for each further block, then
//!   `message_delta` (`delta: {stop_reason, stop_sequence}`, `usage:
//!   {output_tokens}`) and `message_stop`. Deltas: `text_delta` per word
//!   (the first word, then each with its leading space), `thinking_delta`
//!   per word then one `signature_delta`, and for `tool_use` an empty
//!   `input_json_delta` then 8-character `partial_json` fragments that join
//!   into the `input` JSON;
//! - faults (see [`AnthropicFault`]): `fault-500` 500 `api_error`,
//!   `fault-529` 529 `overloaded_error`, `fault-429` 429 `rate_limit_error`
//!   with `retry-after: 7`, `fault-400` 400 `invalid_request_error`,
//!   `fault-hang` no answer, `fault-cut` half a body or
//!   [`EVENTS_BEFORE_FAULT`] events of [`crate::CUT_REPLY`] then a dropped
//!   connection, `fault-garbage-stream` three events with non-JSON data,
//!   `fault-stream-error` [`EVENTS_BEFORE_FAULT`] events then
//!   [`OVERLOADED_EVENT`] (a 529 without `stream`), `fault-slow-stream`
//!   20 ms between events ([`crate::DELAY_HEADER`] overrides the pacing).
//!   The error faults answer `count_tokens` too.
//!
//! Not taken from the documentation (chosen to look plausible): the order of
//! the header checks, the messages for a non-JSON body, for `fault-400` and
//! for wrongly typed fields, and the 404 text. `message_delta.usage` carries
//! only `output_tokens`, as the documented examples do; Anthropic's SDK types
//! allow it to repeat the input and cache counts too.
//!
//! Sources (Anthropic's documentation; shapes were taken from these):
//! - streaming events, deltas, the `error` event and the raw stream
//!   examples: <https://docs.anthropic.com/en/docs/build-with-claude/streaming>
//! - error types, statuses, error shape with `request_id`, the `request-id`
//!   header: <https://docs.anthropic.com/en/api/errors>
//! - the Message object and `usage` fields (`cache_creation`,
//!   `service_tier`): <https://docs.anthropic.com/en/api/messages>, and the
//!   types Anthropic's Python SDK generates from its OpenAPI spec
//!   (`types/message.py`, `usage.py`, `message_delta_usage.py`,
//!   `cache_creation.py`)
//! - `count_tokens`: <https://docs.anthropic.com/en/api/messages-count-tokens>
//! - the model list: <https://docs.anthropic.com/en/api/models-list>
//! - versions: <https://docs.anthropic.com/en/api/versioning>

mod faults;
mod models;
mod plan;
mod render;
mod respond;

pub use faults::{
    AnthropicFault, ANTHROPIC_FAULT_MODELS, BAD_REQUEST_MESSAGE, EVENTS_BEFORE_FAULT, GARBAGE_DATA,
    OVERLOADED_EVENT,
};
pub use models::{ANTHROPIC_MODELS, MODEL_CREATED_AT};
pub use plan::{tool_use_id, THINKING_PREFIX, THINKING_SIGNATURE};
pub use respond::REQUEST_ID_HEADER;

use std::sync::Arc;

use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};

use crate::body::ReplyBody;
use crate::respond::Outcome;
use crate::state::Shared;

/// The only `x-api-key` the fake accepts, so tests can check that a gateway
/// sends its configured key (and what happens when it does not).
pub const ANTHROPIC_API_KEY: &str = "anthropic-test-key";

/// `anthropic-version` values the fake accepts (Anthropic's published
/// ones, and the one the pinned `anthropic` Python SDK sends), so a client
/// sending a wrong or duplicated version fails here as it would for real.
pub const ANTHROPIC_VERSIONS: [&str; 3] = ["2023-06-01", "2023-01-01", "2026-10-21"];

/// Path of the Messages endpoint, named once for routing and tests.
pub const MESSAGES_PATH: &str = "/v1/messages";

/// Path of the token counting endpoint, named once for routing and tests.
pub const COUNT_TOKENS_PATH: &str = "/v1/messages/count_tokens";

/// Whether a request speaks Anthropic's dialect (used to tell the two
/// `GET /v1/models` callers apart).
pub(crate) fn is_anthropic(headers: &HeaderMap) -> bool {
    headers.contains_key("anthropic-version") || headers.contains_key("x-api-key")
}

/// Why a request is refused before it is answered.
struct Refusal {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl Refusal {
    fn invalid(message: impl Into<String>) -> Self {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            message: message.into(),
        }
    }

    fn unauthorized(message: &str) -> Self {
        Refusal {
            status: StatusCode::UNAUTHORIZED,
            kind: "authentication_error",
            message: message.to_owned(),
        }
    }
}

impl From<Refusal> for Outcome {
    fn from(r: Refusal) -> Self {
        respond::error(r.status, r.kind, &r.message).into()
    }
}

/// The authentication and version checks every Anthropic route makes.
fn guard(headers: &HeaderMap) -> Result<(), Refusal> {
    match headers.get("x-api-key").map(|v| v.as_bytes()) {
        None => return Err(Refusal::unauthorized("x-api-key header is required")),
        Some(key) if key != ANTHROPIC_API_KEY.as_bytes() => {
            return Err(Refusal::unauthorized("invalid x-api-key"))
        }
        Some(_) => {}
    }
    // Repeated headers reach a server joined, which is how a duplicated
    // version header fails for real.
    let versions: Vec<String> = headers
        .get_all("anthropic-version")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    if versions.is_empty() {
        return Err(Refusal::invalid("anthropic-version: header is required"));
    }
    let version = versions.join(", ");
    if !ANTHROPIC_VERSIONS.contains(&version.as_str()) {
        return Err(Refusal::invalid(format!(
            "anthropic-version: \"{version}\" is not a valid version"
        )));
    }
    Ok(())
}

/// The guard, then the body as JSON.
fn checked(headers: &HeaderMap, json: Option<Value>) -> Result<Value, Refusal> {
    guard(headers)?;
    json.ok_or_else(|| Refusal::invalid("The request body is not valid JSON."))
}

/// `POST /v1/messages`.
pub(crate) fn messages(headers: &HeaderMap, json: Option<Value>, shared: &Arc<Shared>) -> Outcome {
    let req = match checked(headers, json) {
        Ok(req) => req,
        Err(refusal) => return refusal.into(),
    };
    let model = req.get("model").and_then(Value::as_str).unwrap_or("");
    let stream = req.get("stream").and_then(Value::as_bool) == Some(true);
    let fault = AnthropicFault::from_model(model);
    if let Some(outcome) = fault.and_then(|f| faults::immediate(f, stream)) {
        return outcome;
    }
    let reply = (fault == Some(AnthropicFault::Cut)).then_some(crate::CUT_REPLY);
    let plan = match plan::plan(&req, reply) {
        Ok(plan) => plan,
        Err(message) => return respond::invalid_request(&message).into(),
    };
    if plan.stream {
        let mut events = render::stream_events(&plan);
        let cut = faults::break_stream(fault, &mut events);
        let mut body = ReplyBody::parts(events)
            .paced(faults::delay(fault, headers))
            .tracked(shared);
        if cut {
            body = body.cut();
        }
        respond::sse(body).into()
    } else {
        let value = render::message(&plan);
        if fault == Some(AnthropicFault::Cut) {
            return faults::cut_json(&value);
        }
        respond::json(StatusCode::OK, &value).into()
    }
}

/// `POST /v1/messages/count_tokens`: `{"input_tokens": T}` (see the rules).
/// Error faults answer here too, so clients' error paths can be tried.
pub(crate) fn count_tokens(headers: &HeaderMap, json: Option<Value>) -> Outcome {
    let req = match checked(headers, json) {
        Ok(req) => req,
        Err(refusal) => return refusal.into(),
    };
    let model = req.get("model").and_then(Value::as_str);
    if let Some(outcome) = model
        .and_then(AnthropicFault::from_model)
        .and_then(|f| faults::immediate(f, false))
    {
        return outcome;
    }
    for field in ["model", "messages"] {
        if req.get(field).is_none_or(Value::is_null) {
            return respond::invalid_request(&format!("{field}: Field required")).into();
        }
    }
    respond::json(
        StatusCode::OK,
        &json!({"input_tokens": plan::input_tokens(&req)}),
    )
    .into()
}

/// Anthropic-shaped `GET /v1/models`.
pub(crate) fn models(headers: &HeaderMap) -> Outcome {
    match guard(headers) {
        Ok(()) => respond::json(StatusCode::OK, &models::list()).into(),
        Err(refusal) => refusal.into(),
    }
}

/// Anthropic's 404 for other paths under `/v1/messages`.
pub(crate) fn not_found() -> Outcome {
    respond::error(StatusCode::NOT_FOUND, "not_found_error", "Not found").into()
}
