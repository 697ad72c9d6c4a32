//! Fault models of the Anthropic fake: a request naming one gets one of
//! Anthropic's documented failures instead of an answer, so a gateway's
//! Anthropic error paths (retries, fallbacks, mid-stream errors) can be
//! tested end to end. Pacing and connection drops reuse the OpenAI fake's
//! machinery ([`crate::faults`], [`ReplyBody`]).

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, RETRY_AFTER};
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::respond;
use crate::body::ReplyBody;
use crate::faults::{self as openai_faults, Fault};
use crate::respond::Outcome;

/// A misbehaviour of the Anthropic fake, selected by the request's `model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnthropicFault {
    /// `fault-500`: 500 `api_error`.
    ServerError,
    /// `fault-529`: 529 `overloaded_error`.
    Overloaded,
    /// `fault-429`: 429 `rate_limit_error` with `retry-after: 7`.
    RateLimited,
    /// `fault-400`: 400 `invalid_request_error`.
    BadRequest,
    /// `fault-hang`: never answers; the connection stays open.
    Hang,
    /// `fault-cut`: the connection drops mid-body (mid-stream when streaming).
    Cut,
    /// `fault-garbage-stream`: named SSE events whose data is not JSON.
    GarbageStream,
    /// `fault-stream-error`: a stream that sends some text deltas, then an
    /// `event: error` carrying `overloaded_error`; without `stream` a 529.
    StreamError,
    /// `fault-slow-stream`: 20 ms between SSE events.
    SlowStream,
}

/// Every Anthropic fault model with its behaviour; also listed by the
/// Anthropic-shaped `GET /v1/models`.
pub const ANTHROPIC_FAULT_MODELS: [(&str, AnthropicFault); 9] = [
    ("fault-500", AnthropicFault::ServerError),
    ("fault-529", AnthropicFault::Overloaded),
    ("fault-429", AnthropicFault::RateLimited),
    ("fault-400", AnthropicFault::BadRequest),
    ("fault-hang", AnthropicFault::Hang),
    ("fault-cut", AnthropicFault::Cut),
    ("fault-garbage-stream", AnthropicFault::GarbageStream),
    ("fault-stream-error", AnthropicFault::StreamError),
    ("fault-slow-stream", AnthropicFault::SlowStream),
];

/// Message of the `fault-400` error, so tests can match what a gateway
/// passes on.
pub const BAD_REQUEST_MESSAGE: &str = "messages: at least one message is required";

/// The exact `event: error` frame `fault-stream-error` ends its stream with,
/// as Anthropic's streaming documentation shows it.
pub const OVERLOADED_EVENT: &str = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";

/// The `data:` payload `fault-garbage-stream` sends in each of its three
/// events, so tests can recognise it downstream.
pub const GARBAGE_DATA: &str = "{not json";

/// Events a `fault-cut` or `fault-stream-error` stream sends before it
/// breaks, so tests can tell how much a client saw: `message_start`,
/// `content_block_start`, `ping` and three `text_delta`s.
pub const EVENTS_BEFORE_FAULT: usize = 6;

impl AnthropicFault {
    /// The fault a model name selects, if any.
    pub fn from_model(model: &str) -> Option<AnthropicFault> {
        ANTHROPIC_FAULT_MODELS
            .iter()
            .find(|(name, _)| *name == model)
            .map(|(_, f)| *f)
    }
}

/// The 529 Anthropic sends when it is overloaded.
fn overloaded() -> http::Response<ReplyBody> {
    let status = StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    respond::error(status, "overloaded_error", "Overloaded")
}

/// Faults answered without planning an answer; `None` for the faults that
/// change how an ordinary answer is delivered.
pub(crate) fn immediate(fault: AnthropicFault, stream: bool) -> Option<Outcome> {
    let resp = match fault {
        AnthropicFault::ServerError => respond::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "Internal server error",
        ),
        AnthropicFault::Overloaded => overloaded(),
        AnthropicFault::StreamError if !stream => overloaded(),
        AnthropicFault::RateLimited => {
            let mut resp = respond::error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit",
            );
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("7"));
            resp
        }
        AnthropicFault::BadRequest => respond::invalid_request(BAD_REQUEST_MESSAGE),
        AnthropicFault::Hang => return Some(Outcome::Hang),
        AnthropicFault::GarbageStream => {
            let garbage =
                |kind: &str| Bytes::from(format!("event: {kind}\ndata: {GARBAGE_DATA}\n\n"));
            respond::sse(ReplyBody::parts(vec![
                garbage("message_start"),
                garbage("content_block_delta"),
                garbage("content_block_delta"),
            ]))
        }
        AnthropicFault::Cut | AnthropicFault::StreamError | AnthropicFault::SlowStream => {
            return None
        }
    };
    Some(Outcome::Reply(resp))
}

/// Delay between SSE events: the [`crate::DELAY_HEADER`] header if present,
/// else 20 ms for `fault-slow-stream`, none otherwise (the OpenAI fake's rule).
pub(crate) fn delay(fault: Option<AnthropicFault>, headers: &HeaderMap) -> Option<Duration> {
    let shared = (fault == Some(AnthropicFault::SlowStream)).then_some(Fault::SlowStream);
    openai_faults::delay(shared, headers)
}

/// `fault-cut` for a non-streamed answer: half the JSON, then the connection
/// drops (the announced length promises more).
pub(crate) fn cut_json(value: &Value) -> Outcome {
    let full = serde_json::to_vec(value).unwrap_or_default();
    let half = Bytes::from(full[..full.len() / 2].to_vec());
    let mut resp = respond::json_cut(half);
    resp.headers_mut().insert(
        http::header::CONTENT_LENGTH,
        HeaderValue::from(full.len() + 64),
    );
    Outcome::Reply(resp)
}

/// How a stream ends under a fault: cut after the first events, or those
/// events followed by the documented overloaded `error` event.
pub(crate) fn break_stream(fault: Option<AnthropicFault>, events: &mut Vec<Bytes>) -> bool {
    match fault {
        Some(AnthropicFault::Cut) => {
            events.truncate(EVENTS_BEFORE_FAULT);
            true
        }
        Some(AnthropicFault::StreamError) => {
            events.truncate(EVENTS_BEFORE_FAULT);
            events.push(Bytes::from_static(OVERLOADED_EVENT.as_bytes()));
            false
        }
        _ => false,
    }
}
