//! Anthropic's error shape (`{"type":"error","error":{"type","message"}}`), so
//! clients of the Messages API get the typed errors their SDKs raise, whether
//! the fault is in their request, in Keel, or in an OpenAI-shaped upstream.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// An error as an Anthropic client sees it: the HTTP status, the `error.type`
/// the SDKs dispatch on, and a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnthropicError {
    pub status: u16,
    pub error_type: &'static str,
    pub message: String,
}

impl AnthropicError {
    /// An error whose `type` follows from `status` (see [`error_type_for_status`]).
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        AnthropicError {
            status,
            error_type: error_type_for_status(status),
            message: message.into(),
        }
    }

    /// A 400 `invalid_request_error`: the request is at fault and retrying it
    /// unchanged cannot help.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        AnthropicError::new(400, message)
    }

    /// A Keel error re-shaped for an Anthropic client: same status, the
    /// Anthropic type for that status, same message.
    pub fn from_api_error(err: &ApiError) -> Self {
        AnthropicError::new(err.status(), err.message.clone())
    }

    /// The JSON body: `{"type":"error","error":{"type":…,"message":…}}`.
    pub fn to_json(&self) -> Vec<u8> {
        let envelope = Envelope {
            kind: "error",
            error: Body {
                kind: self.error_type,
                message: &self.message,
            },
        };
        // Serialising plain strings into a Vec cannot fail.
        serde_json::to_vec(&envelope).unwrap_or_default()
    }

    /// The same error as one `event: error` SSE event, for streams that fail
    /// after their headers went out.
    pub fn to_sse_event(&self) -> Vec<u8> {
        let mut out = b"event: error\ndata: ".to_vec();
        out.extend_from_slice(&self.to_json());
        out.extend_from_slice(b"\n\n");
        out
    }
}

impl std::fmt::Display for AnthropicError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.error_type, self.message)
    }
}

impl std::error::Error for AnthropicError {}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

/// The Anthropic `error.type` for an HTTP status. The documented pairs are
/// kept; Anthropic documents `invalid_request_error` for any other 4xx, and
/// Keel uses `api_error` for any other 5xx. A 503 (OpenAI's "overloaded")
/// becomes `overloaded_error` so clients treat it as the same passing state.
pub fn error_type_for_status(status: u16) -> &'static str {
    match status {
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        409 => "conflict_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 => "timeout_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    }
}

/// Most of an upstream's own text that an error message repeats.
const MAX_MESSAGE_CHARS: usize = 2000;

/// Re-shapes an upstream's OpenAI-shaped error (`{"error":{"message",…}}`)
/// for an Anthropic client. The status is kept (a non-error status becomes
/// 502, since the upstream then broke its own protocol); the message is the
/// upstream's `error.message`, else its body text, else a line naming the
/// status.
pub fn from_openai_error(status: u16, openai_error_body: &[u8]) -> AnthropicError {
    let status = if (400..=599).contains(&status) {
        status
    } else {
        502
    };
    let message = openai_message(openai_error_body)
        .or_else(|| {
            let text = String::from_utf8_lossy(openai_error_body);
            let text = text.trim();
            (!text.is_empty()).then(|| text.chars().take(MAX_MESSAGE_CHARS).collect())
        })
        .unwrap_or_else(|| format!("the upstream answered with HTTP {status}"));
    AnthropicError::new(status, message)
}

/// The message of an OpenAI error body, also accepting the bare
/// `{"message": …}` and `{"error": "…"}` forms some compatible servers send.
fn openai_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        Nested { error: Inner },
        Flat { error: String },
        Bare { message: String },
    }
    #[derive(Deserialize)]
    struct Inner {
        message: String,
    }
    let message = match serde_json::from_slice::<Shape>(body).ok()? {
        Shape::Nested { error } => error.message,
        Shape::Flat { error } => error,
        Shape::Bare { message } => message,
    };
    let message = message.trim();
    (!message.is_empty()).then(|| message.chars().take(MAX_MESSAGE_CHARS).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use serde_json::{json, Value};

    #[test]
    fn documented_statuses_have_their_documented_types() {
        for (status, kind) in [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (402, "billing_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (409, "conflict_error"),
            (413, "request_too_large"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (504, "timeout_error"),
            (529, "overloaded_error"),
        ] {
            assert_eq!(error_type_for_status(status), kind, "{status}");
        }
    }

    #[test]
    fn undocumented_statuses_fall_back_by_class() {
        assert_eq!(error_type_for_status(405), "invalid_request_error");
        assert_eq!(error_type_for_status(408), "invalid_request_error");
        assert_eq!(error_type_for_status(422), "invalid_request_error");
        assert_eq!(error_type_for_status(502), "api_error");
        assert_eq!(error_type_for_status(503), "overloaded_error");
    }

    #[test]
    fn renders_the_anthropic_shape() {
        let err = AnthropicError::invalid_request("max_tokens: Field required");
        let v: Value = serde_json::from_slice(&err.to_json()).unwrap();
        assert_eq!(
            v,
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"}})
        );
        assert_eq!(err.status, 400);
    }

    #[test]
    fn sse_error_event_names_the_event() {
        let ev = AnthropicError::new(529, "Overloaded").to_sse_event();
        let text = String::from_utf8(ev).unwrap();
        assert_eq!(
            text,
            "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
        );
    }

    #[test]
    fn reshapes_openai_errors_keeping_status_and_message() {
        let body = br#"{"error":{"message":"Rate limit reached for gpt-4o","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#;
        let err = from_openai_error(429, body);
        assert_eq!(err.status, 429);
        assert_eq!(err.error_type, "rate_limit_error");
        assert_eq!(err.message, "Rate limit reached for gpt-4o");

        let err = from_openai_error(401, br#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#);
        assert_eq!((err.status, err.error_type), (401, "authentication_error"));
    }

    #[test]
    fn reshapes_other_error_bodies() {
        let flat = from_openai_error(400, br#"{"error":"context too long"}"#);
        assert_eq!(flat.message, "context too long");
        let bare = from_openai_error(404, br#"{"message":"no such model"}"#);
        assert_eq!(
            (bare.error_type, bare.message.as_str()),
            ("not_found_error", "no such model")
        );
        let text = from_openai_error(502, b"  Bad Gateway\n");
        assert_eq!(
            (text.error_type, text.message.as_str()),
            ("api_error", "Bad Gateway")
        );
        let empty = from_openai_error(503, b"");
        assert_eq!(empty.error_type, "overloaded_error");
        assert_eq!(empty.message, "the upstream answered with HTTP 503");
        let long = from_openai_error(500, "x".repeat(5000).as_bytes());
        assert_eq!(long.message.len(), MAX_MESSAGE_CHARS);
    }

    #[test]
    fn a_non_error_status_becomes_502() {
        let err = from_openai_error(200, br#"{"error":{"message":"boom"}}"#);
        assert_eq!((err.status, err.error_type), (502, "api_error"));
        assert_eq!(err.message, "boom");
    }

    #[test]
    fn keel_errors_keep_their_status() {
        let unknown = ApiError::new(ErrorKind::UnknownModel, "no provider serves 'x'");
        let err = AnthropicError::from_api_error(&unknown);
        assert_eq!((err.status, err.error_type), (404, "not_found_error"));
        let large = ApiError::new(ErrorKind::BodyTooLarge, "too big");
        assert_eq!(
            AnthropicError::from_api_error(&large).error_type,
            "request_too_large"
        );
        let cut = ApiError::new(ErrorKind::StreamCut, "cut");
        assert_eq!(AnthropicError::from_api_error(&cut).error_type, "api_error");
    }
}
