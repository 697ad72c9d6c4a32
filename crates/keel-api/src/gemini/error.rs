//! Gemini's error body, `{"error":{"code","message","status","details"}}`
//! (sometimes wrapped in a one-element list), re-shaped as the OpenAI error
//! the client's SDK understands, so a gateway can pass Gemini's own words on.

use serde_json::Value;

use crate::error::error_body;

/// The parts of a Gemini error a client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeminiError {
    /// `error.code`, the HTTP status Gemini meant (0 when absent).
    pub code: u16,
    /// `error.message`.
    pub message: String,
    /// `error.status`, the canonical code name (`INVALID_ARGUMENT`, …).
    pub status: String,
    /// The first `reason` in `error.details` (`API_KEY_INVALID`, …).
    pub reason: Option<String>,
}

/// Reads a Gemini error body; `None` when `body` is not one.
pub fn parse(body: &[u8]) -> Option<GeminiError> {
    let value: Value = serde_json::from_slice(body).ok()?;
    from_value(&value)
}

/// Reads a Gemini error out of parsed JSON (an object, or a one-element list
/// holding it, as the non-SSE stream sends); `None` when it is not one.
pub fn from_value(value: &Value) -> Option<GeminiError> {
    let value = match value {
        Value::Array(list) if list.len() == 1 => &list[0],
        other => other,
    };
    let error = value.get("error")?.as_object()?;
    let message = error.get("message")?.as_str()?.trim().to_owned();
    let status = error
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let code = error
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .unwrap_or(0);
    let reason = error
        .get("details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find_map(|d| d.get("reason").and_then(Value::as_str))
        .map(str::to_owned);
    Some(GeminiError {
        code,
        message,
        status,
        reason,
    })
}

/// Re-shapes a Gemini error body as an OpenAI error body
/// (`{"error":{"message","type","param","code"}}`), keeping Gemini's message.
/// `status` is the HTTP status of the answer, used when the body names none.
/// `None` when `body` is not a Gemini error, so the caller can fall back to
/// its own handling of unexpected bodies.
///
/// - `type`: `invalid_request_error` for 400 and 404, `authentication_error`
///   for 401 and for a 400 whose reason is `API_KEY_INVALID`,
///   `permission_error` for 403, `requests` for 429 (as OpenAI's rate
///   limits say), `server_error` otherwise;
/// - `code`: `invalid_api_key` for `API_KEY_INVALID`, `rate_limit_exceeded`
///   for 429, else Gemini's `status` in lower case (`invalid_argument`, …).
pub fn error_to_openai(status: u16, body: &[u8]) -> Option<Vec<u8>> {
    let error = parse(body)?;
    let status = if (400..=599).contains(&error.code) {
        error.code
    } else {
        status
    };
    let bad_key = error.reason.as_deref() == Some("API_KEY_INVALID");
    let kind = match status {
        _ if bad_key => "authentication_error",
        400 | 404 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        429 => "requests",
        _ => "server_error",
    };
    let code = if bad_key {
        "invalid_api_key".to_owned()
    } else if status == 429 {
        "rate_limit_exceeded".to_owned()
    } else {
        error.status.to_ascii_lowercase()
    };
    let message = if error.message.is_empty() {
        format!("the upstream answered with HTTP {status}")
    } else {
        error.message
    };
    Some(error_body(
        &message,
        kind,
        None,
        (!code.is_empty()).then_some(code.as_str()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reshape(status: u16, body: Value) -> Value {
        let out = error_to_openai(status, body.to_string().as_bytes()).unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn a_bad_key_is_an_authentication_error() {
        let body = json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID", "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"}}]}});
        assert_eq!(
            reshape(400, body),
            json!({"error": {"message": "API key not valid. Please pass a valid API key.",
                "type": "authentication_error", "param": null, "code": "invalid_api_key"}})
        );
    }

    #[test]
    fn statuses_pick_type_and_code() {
        let body = |code: u16, status: &str| json!({"error": {"code": code, "message": "m", "status": status}});
        let v = reshape(429, body(429, "RESOURCE_EXHAUSTED"));
        assert_eq!(
            (&v["error"]["type"], &v["error"]["code"]),
            (&json!("requests"), &json!("rate_limit_exceeded"))
        );
        let v = reshape(500, body(500, "INTERNAL"));
        assert_eq!(
            (&v["error"]["type"], &v["error"]["code"]),
            (&json!("server_error"), &json!("internal"))
        );
        let v = reshape(400, body(400, "INVALID_ARGUMENT"));
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["code"], "invalid_argument");
        let v = reshape(403, body(403, "PERMISSION_DENIED"));
        assert_eq!(v["error"]["type"], "permission_error");
        // The HTTP status decides when the body names no code.
        let v = reshape(
            404,
            json!({"error": {"message": "no such model", "status": "NOT_FOUND"}}),
        );
        assert_eq!(v["error"]["type"], "invalid_request_error");
    }

    #[test]
    fn listed_errors_are_read_and_other_bodies_are_not_errors() {
        let listed =
            json!([{"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}]);
        assert_eq!(reshape(503, listed)["error"]["message"], "overloaded");
        assert!(error_to_openai(500, b"<html>oops</html>").is_none());
        assert!(error_to_openai(400, br#"{"error":"plain"}"#).is_none());
        assert!(error_to_openai(400, br#"{"candidates":[]}"#).is_none());
    }
}
