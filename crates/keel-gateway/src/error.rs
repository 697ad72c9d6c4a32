//! Turning failures into what the client gets: the OpenAI error shape with
//! the right status, always with the invocation id.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::StatusCode;
use keel_api::{ApiError, ErrorKind};

use keel_providers::UpstreamError;
use uuid::Uuid;

/// Response header carrying the invocation id, so a caller can find its record.
pub const INVOCATION_ID_HEADER: &str = "x-keel-invocation-id";

/// What an upstream failure means for the client.
pub fn from_upstream(e: UpstreamError, provider: &str) -> ApiError {
    match e {
        UpstreamError::Connect(cause) => ApiError::new(
            ErrorKind::UpstreamConnect,
            format!("could not reach provider '{provider}': {cause}"),
        ),
        UpstreamError::Timeout => ApiError::new(
            ErrorKind::UpstreamTimeout,
            format!("provider '{provider}' did not answer in time"),
        ),
        UpstreamError::Broken(cause) => ApiError::new(
            ErrorKind::StreamCut,
            format!("provider '{provider}' closed the connection mid-response: {cause}"),
        ),
        UpstreamError::TooLarge(max) => ApiError::new(
            ErrorKind::UpstreamMalformed,
            format!("provider '{provider}' sent a response larger than {max} bytes"),
        ),
    }
}

/// A JSON response: the one place a JSON body gets its status and type.
pub fn json(status: u16, body: Bytes) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

/// A data-plane JSON response: names its invocation, keeps `retry-after`.
pub fn json_response(
    status: u16,
    body: Bytes,
    id: &Uuid,
    extra: crate::pipeline::Headers,
) -> Response {
    let mut resp = json(status, body);
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id.hyphenated().to_string()) {
        headers.insert(INVOCATION_ID_HEADER, v);
    }
    for (name, value) in extra {
        headers.insert(name, value);
    }
    resp
}

/// An error response for requests that never became an invocation
/// (unknown routes, health and metrics errors).
pub fn plain_error(err: &ApiError) -> Response {
    json(err.status(), Bytes::from(err.to_json()))
}
