//! Response builders shared by the handlers: JSON, OpenAI-shaped errors, SSE.

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use serde_json::{json, Value};

use crate::body::ReplyBody;

/// What a handler decided: a response, or never answering at all.
pub(crate) enum Outcome {
    /// Send this response.
    Reply(Response<ReplyBody>),
    /// Keep the connection open and never answer (`fault-hang`).
    Hang,
}

impl From<Response<ReplyBody>> for Outcome {
    fn from(resp: Response<ReplyBody>) -> Self {
        Outcome::Reply(resp)
    }
}

/// A response with `status`, content type and body; the request id header
/// mirrors what OpenAI sends on every response.
pub(crate) fn with_body(
    status: StatusCode,
    content_type: &'static str,
    body: ReplyBody,
) -> Response<ReplyBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        "x-request-id",
        HeaderValue::from_static("req_fake_upstream"),
    );
    headers.insert("openai-version", HeaderValue::from_static("2020-10-01"));
    resp
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, value: &Value) -> Response<ReplyBody> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    with_body(status, "application/json", ReplyBody::full(bytes))
}

/// An error in OpenAI's shape: `{"error":{"message","type","param","code"}}`.
pub(crate) fn error(
    status: StatusCode,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response<ReplyBody> {
    json(
        status,
        &json!({
            "error": {"message": message, "type": kind, "param": param, "code": code}
        }),
    )
}

/// The 400 OpenAI returns when the body is not JSON.
pub(crate) fn invalid_json() -> Response<ReplyBody> {
    error(
        StatusCode::BAD_REQUEST,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't \
         using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was \
         sent was not valid JSON.)",
        "invalid_request_error",
        None,
        None,
    )
}

/// A 400 for a request that is JSON but misses a required field.
pub(crate) fn invalid_request(message: &str, param: Option<&str>) -> Response<ReplyBody> {
    error(
        StatusCode::BAD_REQUEST,
        message,
        "invalid_request_error",
        param,
        None,
    )
}

/// The 404 OpenAI returns for unknown routes.
pub(crate) fn not_found(method: &str, path: &str) -> Response<ReplyBody> {
    error(
        StatusCode::NOT_FOUND,
        &format!("Invalid URL ({method} {path})"),
        "invalid_request_error",
        None,
        None,
    )
}

/// A `text/event-stream` response whose body is already split into events.
pub(crate) fn sse(body: ReplyBody) -> Response<ReplyBody> {
    let mut resp = with_body(StatusCode::OK, "text/event-stream; charset=utf-8", body);
    resp.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-cache"));
    resp
}

/// One SSE event: `data: <json>\n\n`.
pub(crate) fn sse_event(value: &Value) -> Bytes {
    let mut out = b"data: ".to_vec();
    out.extend(serde_json::to_vec(value).unwrap_or_default());
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The terminating SSE event.
pub(crate) fn sse_done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}
