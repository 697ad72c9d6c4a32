//! Fault models: a request naming one of these models gets a broken or slow
//! upstream behaviour instead of an answer, so gateway error paths can be
//! tested end to end.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH, RETRY_AFTER};
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::body::ReplyBody;
use crate::chat::plan::Overrides;
use crate::respond::{self, Outcome};

/// A misbehaviour selected by the request's `model`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `fault-500`: 500 `server_error`.
    ServerError,
    /// `fault-429`: 429 `rate_limit_exceeded` with `retry-after: 7`.
    RateLimited,
    /// `fault-400`: 400 `invalid_request_error` on param `messages`.
    BadRequest,
    /// `fault-hang`: never answers; the connection stays open.
    Hang,
    /// `fault-malformed`: 200 JSON that is cut off mid-object.
    Malformed,
    /// `fault-cut`: the connection closes mid-body (no `[DONE]` when streaming).
    Cut,
    /// `fault-garbage-stream`: SSE events whose data is not JSON.
    GarbageStream,
    /// `fault-slow-stream`: 20 ms between SSE events.
    SlowStream,
    /// `fault-no-usage`: no usage anywhere.
    NoUsage,
    /// `fault-long-stream`: 500 one-word chunks, 2 ms apart.
    LongStream,
}

/// Every fault model name with its behaviour; also listed by `GET /v1/models`.
pub const FAULT_MODELS: [(&str, Fault); 10] = [
    ("fault-500", Fault::ServerError),
    ("fault-429", Fault::RateLimited),
    ("fault-400", Fault::BadRequest),
    ("fault-hang", Fault::Hang),
    ("fault-malformed", Fault::Malformed),
    ("fault-cut", Fault::Cut),
    ("fault-garbage-stream", Fault::GarbageStream),
    ("fault-slow-stream", Fault::SlowStream),
    ("fault-no-usage", Fault::NoUsage),
    ("fault-long-stream", Fault::LongStream),
];

/// Words in the `fault-long-stream` answer (one SSE chunk each).
pub const LONG_STREAM_WORDS: usize = 500;

/// The reply `fault-cut` starts before the connection drops.
pub const CUT_REPLY: &str = "This answer is cut off before it ends";

/// Request header overriding the delay between SSE events, in milliseconds.
pub const DELAY_HEADER: &str = "x-fake-delay-ms";

/// The exact body `fault-malformed` sends.
pub const MALFORMED_BODY: &str = r#"{"id":"chatcmpl-x","choices":["#;

impl Fault {
    /// The fault a model name selects, if any.
    pub fn from_model(model: &str) -> Option<Fault> {
        FAULT_MODELS
            .iter()
            .find(|(name, _)| *name == model)
            .map(|(_, f)| *f)
    }
}

/// Faults answered without looking at the rest of the request.
pub(crate) fn immediate(fault: Fault) -> Option<Outcome> {
    let resp = match fault {
        Fault::ServerError => respond::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
            None,
        ),
        Fault::RateLimited => {
            let mut resp = respond::error(
                StatusCode::TOO_MANY_REQUESTS,
                "Rate limit reached for requests",
                "requests",
                None,
                Some("rate_limit_exceeded"),
            );
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("7"));
            resp
        }
        Fault::BadRequest => respond::error(
            StatusCode::BAD_REQUEST,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got \
             an empty array instead.",
            "invalid_request_error",
            Some("messages"),
            None,
        ),
        Fault::Hang => return Some(Outcome::Hang),
        Fault::Malformed => respond::with_body(
            StatusCode::OK,
            "application/json",
            ReplyBody::full(MALFORMED_BODY),
        ),
        Fault::GarbageStream => {
            let garbage = Bytes::from_static(b"data: {not json\n\n");
            let events = vec![
                garbage.clone(),
                garbage.clone(),
                garbage,
                respond::sse_done(),
            ];
            respond::sse(ReplyBody::parts(events))
        }
        Fault::Cut | Fault::SlowStream | Fault::NoUsage | Fault::LongStream => return None,
    };
    Some(Outcome::Reply(resp))
}

/// How a fault that still answers changes the ordinary answer.
pub(crate) fn overrides(fault: Option<Fault>) -> Overrides {
    match fault {
        Some(Fault::Cut) => Overrides {
            reply: Some(CUT_REPLY.to_owned()),
            no_usage: false,
        },
        Some(Fault::LongStream) => Overrides {
            reply: Some(
                (0..LONG_STREAM_WORDS)
                    .map(|i| format!("w{i}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            no_usage: false,
        },
        Some(Fault::NoUsage) => Overrides {
            reply: None,
            no_usage: true,
        },
        _ => Overrides::default(),
    }
}

/// Delay between SSE events: the `x-fake-delay-ms` header if present, else
/// 20 ms for `fault-slow-stream`, 2 ms for `fault-long-stream`, none otherwise.
pub(crate) fn delay(fault: Option<Fault>, headers: &HeaderMap) -> Option<Duration> {
    let from_header = headers
        .get(DELAY_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_millis);
    from_header.or(match fault {
        Some(Fault::SlowStream) => Some(Duration::from_millis(20)),
        Some(Fault::LongStream) => Some(Duration::from_millis(2)),
        _ => None,
    })
}

/// `fault-cut` for a non-streamed answer: announces the full length plus
/// more, writes half the JSON, then drops the connection.
pub(crate) fn cut_json(value: &Value) -> Outcome {
    let full = serde_json::to_vec(value).unwrap_or_default();
    let half = Bytes::from(full[..full.len() / 2].to_vec());
    let mut resp = respond::with_body(
        StatusCode::OK,
        "application/json",
        ReplyBody::full(half).cut(),
    );
    resp.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(full.len() + 64));
    Outcome::Reply(resp)
}
