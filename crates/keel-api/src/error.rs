//! The OpenAI error shape (`{"error":{"message","type","param","code"}}`),
//! which every Keel error is rendered in so each SDK raises its typed error.

use serde::Serialize;

/// What went wrong, from the caller's point of view. Decides the HTTP status
/// and the `type` field; one exhaustive `match` so a new kind forces a choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed JSON, wrong types, missing or invalid fields.
    InvalidRequest,
    /// Missing or wrong API key.
    Unauthorized,
    /// The key may not do this (a model outside its allow-list, an admin
    /// action outside its role).
    Forbidden,
    /// Over a requests- or tokens-per-minute limit.
    RateLimited,
    /// A budget (key, user, team, model or agent run) is used up.
    BudgetExceeded,
    /// The change conflicts with what exists (a name already taken).
    Conflict,
    /// The model is not served by any configured provider.
    UnknownModel,
    /// Unknown route.
    NotFound,
    /// Method not allowed on a known route.
    MethodNotAllowed,
    /// Body over the configured limit.
    BodyTooLarge,
    /// The client did not send its body in time.
    RequestTimeout,
    /// The upstream could not be reached.
    UpstreamConnect,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// The upstream answered with something that is not the expected format.
    UpstreamMalformed,
    /// The upstream's stream ended before it completed.
    StreamCut,
    /// A bug or an unavailable dependency inside Keel.
    Internal,
    /// A dependency Keel needs for this call (the shared counters) does
    /// not answer; trying again shortly may succeed.
    Unavailable,
}

impl ErrorKind {
    /// The HTTP status for this kind.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::RateLimited | ErrorKind::BudgetExceeded => 429,
            ErrorKind::Conflict => 409,
            ErrorKind::UnknownModel => 404,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::BodyTooLarge => 413,
            ErrorKind::RequestTimeout => 408,
            ErrorKind::UpstreamConnect => 502,
            ErrorKind::UpstreamTimeout => 504,
            ErrorKind::UpstreamMalformed => 502,
            ErrorKind::StreamCut => 502,
            ErrorKind::Internal => 500,
            ErrorKind::Unavailable => 503,
        }
    }

    /// The OpenAI `type` field.
    pub fn error_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest
            | ErrorKind::UnknownModel
            | ErrorKind::NotFound
            | ErrorKind::MethodNotAllowed
            | ErrorKind::BodyTooLarge
            | ErrorKind::RequestTimeout
            | ErrorKind::Conflict => "invalid_request_error",
            ErrorKind::Unauthorized => "authentication_error",
            ErrorKind::Forbidden => "permission_error",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::BudgetExceeded => "insufficient_quota",
            ErrorKind::UpstreamConnect
            | ErrorKind::UpstreamTimeout
            | ErrorKind::UpstreamMalformed
            | ErrorKind::StreamCut => "upstream_error",
            ErrorKind::Internal | ErrorKind::Unavailable => "server_error",
        }
    }

    /// The record's `error_class`: a stable, greppable name.
    pub fn class(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::BudgetExceeded => "budget_exceeded",
            ErrorKind::Conflict => "conflict",
            ErrorKind::UnknownModel => "unknown_model",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::BodyTooLarge => "body_too_large",
            ErrorKind::RequestTimeout => "request_timeout",
            ErrorKind::UpstreamConnect => "upstream_connect",
            ErrorKind::UpstreamTimeout => "upstream_timeout",
            ErrorKind::UpstreamMalformed => "upstream_malformed",
            ErrorKind::StreamCut => "stream_cut",
            ErrorKind::Internal => "internal",
            ErrorKind::Unavailable => "unavailable",
        }
    }

    /// Whether the caller (rather than the upstream or Keel) caused it.
    pub fn is_client_error(self) -> bool {
        self.status() < 500
    }

    /// The default OpenAI `code` for this kind, if OpenAI documents one.
    fn default_code(self) -> Option<&'static str> {
        match self {
            ErrorKind::Unauthorized => Some("invalid_api_key"),
            ErrorKind::RateLimited => Some("rate_limit_exceeded"),
            ErrorKind::BudgetExceeded => Some("budget_exceeded"),
            ErrorKind::Conflict => Some("conflict"),
            ErrorKind::UnknownModel => Some("model_not_found"),
            ErrorKind::BodyTooLarge => Some("request_too_large"),
            ErrorKind::StreamCut => Some("stream_cut"),
            ErrorKind::UpstreamTimeout => Some("upstream_timeout"),
            ErrorKind::UpstreamConnect => Some("upstream_unavailable"),
            ErrorKind::UpstreamMalformed => Some("upstream_malformed"),
            ErrorKind::InvalidRequest
            | ErrorKind::RequestTimeout
            | ErrorKind::NotFound
            | ErrorKind::MethodNotAllowed
            | ErrorKind::Forbidden
            | ErrorKind::Internal
            | ErrorKind::Unavailable => None,
        }
    }
}

/// An error as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
    /// The request field at fault, e.g. `messages[0].role`.
    pub param: Option<String>,
    pub code: Option<String>,
}

impl ApiError {
    /// An error of `kind` with a message the caller can act on.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
            param: None,
            code: kind.default_code().map(str::to_owned),
        }
    }

    /// The same error with its `code` set.
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// A 400 naming the offending field.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            param: Some(param.into()),
            ..ApiError::new(ErrorKind::InvalidRequest, message)
        }
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The JSON body in the OpenAI error shape.
    pub fn to_json(&self) -> Vec<u8> {
        error_body(
            &self.message,
            self.kind.error_type(),
            self.param.as_deref(),
            self.code.as_deref(),
        )
    }

    /// The same error as one SSE event, for streams that fail after their
    /// headers went out (the SDKs raise on a `data:` event carrying `error`).
    pub fn to_sse_event(&self) -> Vec<u8> {
        let mut out = b"data: ".to_vec();
        out.extend_from_slice(&self.to_json());
        out.extend_from_slice(b"\n\n");
        out
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.class(), self.message)
    }
}

impl std::error::Error for ApiError {}

#[derive(Serialize)]
struct ErrorEnvelope<'a> {
    error: ErrorObject<'a>,
}

#[derive(Serialize)]
struct ErrorObject<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    error_type: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

/// Serialises an OpenAI-shaped error body; also used to wrap an upstream's
/// non-JSON error text.
pub fn error_body(
    message: &str,
    error_type: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Vec<u8> {
    let envelope = ErrorEnvelope {
        error: ErrorObject {
            message,
            error_type,
            param,
            code,
        },
    };
    // Serialising plain strings into a Vec cannot fail.
    serde_json::to_vec(&envelope).unwrap_or_default()
}

/// True when `body` already is an OpenAI-shaped error (`{"error":{…}}`), so an
/// upstream's own error can be passed through untouched.
pub fn is_openai_error_body(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Probe {
        error: serde_json::Map<String, serde_json::Value>,
    }
    serde_json::from_slice::<Probe>(body)
        .map(|p| p.error.get("message").is_some_and(|m| m.is_string()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_openai_shape() {
        let err = ApiError::invalid("messages", "messages must not be empty");
        let v: serde_json::Value = serde_json::from_slice(&err.to_json()).unwrap();
        assert_eq!(v["error"]["message"], "messages must not be empty");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["param"], "messages");
        assert!(v["error"]["code"].is_null());
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn unknown_model_is_404_model_not_found() {
        let err = ApiError::new(ErrorKind::UnknownModel, "no such model");
        let v: serde_json::Value = serde_json::from_slice(&err.to_json()).unwrap();
        assert_eq!(err.status(), 404);
        assert_eq!(v["error"]["code"], "model_not_found");
    }

    #[test]
    fn sse_error_event_is_one_data_line() {
        let ev = ApiError::new(ErrorKind::StreamCut, "cut").to_sse_event();
        let text = String::from_utf8(ev).unwrap();
        assert!(text.starts_with("data: {\"error\":"));
        assert!(text.ends_with("\n\n"));
    }

    #[test]
    fn recognises_upstream_error_bodies() {
        assert!(is_openai_error_body(
            br#"{"error":{"message":"x","type":"y"}}"#
        ));
        assert!(!is_openai_error_body(b"<html>bad gateway</html>"));
        assert!(!is_openai_error_body(br#"{"error":"plain"}"#));
    }
}
