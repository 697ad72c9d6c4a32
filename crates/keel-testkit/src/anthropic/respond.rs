//! Response builders in Anthropic's shapes: every response carries a fresh
//! `request-id` header, errors are `{"type":"error","error":{…},"request_id"}`
//! and stream events are named (`event: <type>`).

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};
use serde_json::{json, Value};

use crate::body::ReplyBody;
use crate::text;

/// Response header holding the request id, as Anthropic names it (not
/// OpenAI's `x-request-id`), so clients can test that they log the right one.
pub const REQUEST_ID_HEADER: &str = "request-id";

/// A fresh request id shaped like Anthropic's (`req_011…`), unique within
/// the process.
pub(crate) fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("req_011Fake{:016x}", text::fnv1a(&n.to_le_bytes()))
}

/// A response with `status`, content type, body and the given request id.
fn with_body(
    status: StatusCode,
    content_type: &'static str,
    body: ReplyBody,
    id: &str,
) -> Response<ReplyBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(id) {
        headers.insert(REQUEST_ID_HEADER, value);
    }
    resp
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, value: &Value) -> Response<ReplyBody> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    with_body(
        status,
        "application/json",
        ReplyBody::full(bytes),
        &request_id(),
    )
}

/// A JSON body that is cut short: `bytes` is sent, then the connection fails.
pub(crate) fn json_cut(bytes: Bytes) -> Response<ReplyBody> {
    with_body(
        StatusCode::OK,
        "application/json",
        ReplyBody::full(bytes).cut(),
        &request_id(),
    )
}

/// An error in Anthropic's shape; the body's `request_id` matches the header.
pub(crate) fn error(status: StatusCode, kind: &str, message: &str) -> Response<ReplyBody> {
    let id = request_id();
    let body = json!({
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": id,
    });
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    with_body(status, "application/json", ReplyBody::full(bytes), &id)
}

/// A 400 `invalid_request_error`.
pub(crate) fn invalid_request(message: &str) -> Response<ReplyBody> {
    error(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

/// A `text/event-stream` response whose body is already split into events.
pub(crate) fn sse(body: ReplyBody) -> Response<ReplyBody> {
    let mut resp = with_body(
        StatusCode::OK,
        "text/event-stream; charset=utf-8",
        body,
        &request_id(),
    );
    resp.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// One named SSE event: `event: <kind>\ndata: <json>\n\n`.
pub(crate) fn event(kind: &str, value: &Value) -> Bytes {
    let mut out = format!("event: {kind}\ndata: ").into_bytes();
    out.extend(serde_json::to_vec(value).unwrap_or_default());
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}
