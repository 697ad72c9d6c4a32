//! Bedrock's error shape, read so an OpenAI client sees it in the OpenAI
//! shape its SDK raises typed errors from.
//!
//! A failed Bedrock call answers JSON `{"message": "…"}` and names the error
//! in the `x-amzn-ErrorType` response header (AWS restJson1: the name may
//! carry a `namespace#` prefix or a `:url` suffix, and may instead be in the
//! body's `__type` or `code`). The documented errors of Converse and
//! ConverseStream and their statuses: `ValidationException` 400,
//! `AccessDeniedException` 403, `ResourceNotFoundException` 404,
//! `ModelTimeoutException` 408, `ModelErrorException` 424,
//! `ThrottlingException` 429, `ModelNotReadyException` 429,
//! `InternalServerException` 500, `ServiceUnavailableException` 503.
//!
//! The OpenAI rendering keeps Bedrock's status (so clients back off on 429
//! and retry 5xx as they would with OpenAI), uses the error name as `code`,
//! Bedrock's message as `message`, and a `type` chosen by status:
//! `authentication_error` (401), `permission_error` (403),
//! `rate_limit_error` (429), `invalid_request_error` (other 4xx),
//! `upstream_error` (5xx, Keel's type for upstream faults).

use serde_json::Value;

use crate::error::error_body;

/// The response header naming a Bedrock error.
pub const ERROR_TYPE_HEADER: &str = "x-amzn-errortype";

/// Most of Bedrock's own message an error repeats.
const MAX_MESSAGE_CHARS: usize = 2000;

/// A failed Bedrock response, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedrockError {
    /// Bedrock's status; a non-error status becomes 502 (the upstream broke
    /// its own protocol).
    pub status: u16,
    /// The bare error name (`ThrottlingException`), when Bedrock gave one.
    pub error_type: Option<String>,
    /// Bedrock's message (at most 2000 characters), or a line naming the
    /// status when it sent none.
    pub message: String,
}

impl BedrockError {
    /// Reads a failed response: its status, its `x-amzn-ErrorType` header
    /// value (if any) and its body.
    pub fn parse(status: u16, error_type_header: Option<&str>, body: &[u8]) -> Self {
        let status = if (400..=599).contains(&status) {
            status
        } else {
            502
        };
        let json: Option<Value> = serde_json::from_slice(body).ok();
        let field = |key: &str| {
            json.as_ref()
                .and_then(|v| v.get(key))
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let error_type = error_type_header
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .or_else(|| field("__type"))
            .or_else(|| field("code"))
            .map(sanitize_error_type)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let message = field("message")
            .or_else(|| field("Message"))
            .map(str::to_owned)
            .or_else(|| {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                (!text.is_empty()).then(|| text.to_owned())
            })
            .map(|m| m.chars().take(MAX_MESSAGE_CHARS).collect())
            .unwrap_or_else(|| format!("the upstream answered with HTTP {status}"));
        BedrockError {
            status,
            error_type,
            message,
        }
    }

    /// The OpenAI `error.type` for this error's status.
    pub fn openai_type(&self) -> &'static str {
        match self.status {
            401 => "authentication_error",
            403 => "permission_error",
            429 => "rate_limit_error",
            400..=499 => "invalid_request_error",
            _ => "upstream_error",
        }
    }

    /// The OpenAI error body: `{"error":{"message","type","param","code"}}`.
    pub fn to_openai_json(&self) -> Vec<u8> {
        error_body(
            &self.message,
            self.openai_type(),
            None,
            self.error_type.as_deref(),
        )
    }
}

/// The OpenAI status and body for a failed Bedrock response, from its
/// status, `x-amzn-ErrorType` header and body.
pub fn openai_error(status: u16, error_type_header: Option<&str>, body: &[u8]) -> (u16, Vec<u8>) {
    let err = BedrockError::parse(status, error_type_header, body);
    (err.status, err.to_openai_json())
}

/// The bare name of an AWS error: `ns#Name:http://…` → `Name`.
fn sanitize_error_type(raw: &str) -> &str {
    let raw = raw.split(':').next().unwrap_or(raw);
    raw.rsplit('#').next().unwrap_or(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn openai(status: u16, header: Option<&str>, body: &str) -> (u16, Value) {
        let (status, body) = openai_error(status, header, body.as_bytes());
        (status, serde_json::from_slice(&body).unwrap())
    }

    #[test]
    fn keeps_status_names_the_error_and_types_by_status() {
        let (status, v) = openai(
            429,
            Some("ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            r#"{"message":"Too many requests, please wait before trying again."}"#,
        );
        assert_eq!(status, 429);
        assert_eq!(v["error"]["type"], "rate_limit_error");
        assert_eq!(v["error"]["code"], "ThrottlingException");
        assert_eq!(
            v["error"]["message"],
            "Too many requests, please wait before trying again."
        );
        assert!(v["error"]["param"].is_null());
        for (status, kind) in [
            (400, "invalid_request_error"),
            (403, "permission_error"),
            (404, "invalid_request_error"),
            (408, "invalid_request_error"),
            (424, "invalid_request_error"),
            (500, "upstream_error"),
            (503, "upstream_error"),
        ] {
            assert_eq!(openai(status, None, "{}").1["error"]["type"], kind);
        }
    }

    #[test]
    fn finds_the_name_in_the_body_and_survives_odd_bodies() {
        let (_, v) = openai(
            403,
            None,
            r#"{"__type":"com.amazon.coral.service#UnrecognizedClientException","message":"bad key"}"#,
        );
        assert_eq!(v["error"]["code"], "UnrecognizedClientException");
        let (_, v) = openai(500, None, "  <html>oops</html> ");
        assert_eq!(v["error"]["message"], "<html>oops</html>");
        assert!(v["error"]["code"].is_null());
        let (status, v) = openai(200, None, "");
        assert_eq!(status, 502);
        assert_eq!(v["error"]["message"], "the upstream answered with HTTP 502");
        let long = format!("{{\"message\":\"{}\"}}", "x".repeat(5000));
        let (_, v) = openai(400, Some("ValidationException"), &long);
        assert_eq!(
            v["error"]["message"].as_str().unwrap().len(),
            MAX_MESSAGE_CHARS
        );
    }
}
