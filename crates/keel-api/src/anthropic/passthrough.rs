//! Same-format calls: an Anthropic request going to an Anthropic provider is
//! forwarded as the client's bytes (only `model` is rewritten when the
//! route names the model differently), so fields Keel does not model —
//! thinking, `top_k`, beta features — still work. Keel checks only what it
//! acts on (model, stream) and what every valid request has (messages,
//! max_tokens); the provider judges the rest and its 400s reach the client
//! unchanged.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::error::AnthropicError;
use crate::chat::{write_json_string, RawObject};

/// The parts of an Anthropic request Keel reads before forwarding it.
#[derive(Debug)]
pub struct MessagesHead<'a> {
    raw: RawObject<'a>,
    /// The requested model.
    pub model: Cow<'a, str>,
    /// `stream: true`.
    pub stream: bool,
    /// `max_tokens` (none on count_tokens).
    pub max_tokens: Option<u64>,
    body_len: usize,
}

/// Which endpoint the body was sent to; `count_tokens` takes no
/// `max_tokens` and never streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessagesEndpoint {
    Messages,
    CountTokens,
}

/// Reads and checks the head of a Messages (or count_tokens) request.
/// Every failure is an Anthropic-shaped 400 naming the field.
pub fn head(body: &[u8], endpoint: MessagesEndpoint) -> Result<MessagesHead<'_>, AnthropicError> {
    let raw = RawObject::parse(body).map_err(|e| AnthropicError::invalid_request(e.message))?;
    let model = match raw.get("model") {
        None => return Err(invalid("model: Field required")),
        Some(v) => serde_json::from_str::<Cow<'_, str>>(v.get())
            .map_err(|_| invalid("model: Input should be a valid string"))?,
    };
    if model.trim().is_empty() {
        return Err(invalid("model: String should have at least 1 character"));
    }
    match raw.get("messages").map(first_byte) {
        None => return Err(invalid("messages: Field required")),
        Some(b'[') => {}
        Some(_) => return Err(invalid("messages: Input should be a valid list")),
    }
    let mut max_tokens = None;
    if endpoint == MessagesEndpoint::Messages {
        match raw
            .get("max_tokens")
            .map(|v| serde_json::from_str::<u64>(v.get()))
        {
            None => return Err(invalid("max_tokens: Field required")),
            Some(Err(_)) => return Err(invalid("max_tokens: Input should be a valid integer")),
            Some(Ok(n)) => max_tokens = Some(n),
        }
    }
    let stream = match raw.get("stream") {
        None => false,
        Some(v) => match v.get() {
            "true" => true,
            "false" | "null" => false,
            _ => return Err(invalid("stream: Input should be a valid boolean")),
        },
    };
    if stream && endpoint == MessagesEndpoint::CountTokens {
        return Err(invalid("stream: Extra inputs are not permitted"));
    }
    Ok(MessagesHead {
        raw,
        model,
        stream,
        max_tokens,
        body_len: body.len(),
    })
}

impl MessagesHead<'_> {
    /// The body for the provider: `None` when the client's bytes go as they
    /// are, else the same fields with `model` set to `upstream_model`.
    pub fn upstream_body(&self, upstream_model: &str) -> Option<Vec<u8>> {
        if upstream_model == self.model {
            return None;
        }
        let mut model = Vec::with_capacity(upstream_model.len() + 2);
        write_json_string(&mut model, upstream_model);
        let model = String::from_utf8(model).unwrap_or_default();
        Some(self.raw.write_with(&[("model", &model)], self.body_len))
    }
}

fn first_byte(v: &RawValue) -> u8 {
    v.get().bytes().next().unwrap_or(b' ')
}

fn invalid(message: &str) -> AnthropicError {
    AnthropicError::invalid_request(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_model_and_stream_and_keeps_bytes() {
        let body = br#"{"model":"claude-x","max_tokens":5,"top_k":3,"messages":[],"stream":true}"#;
        let h = head(body, MessagesEndpoint::Messages).unwrap();
        assert_eq!((h.model.as_ref(), h.stream), ("claude-x", true));
        assert_eq!(h.upstream_body("claude-x"), None);
        let renamed = h.upstream_body("claude-y").unwrap();
        assert_eq!(
            String::from_utf8(renamed).unwrap(),
            r#"{"model":"claude-y","max_tokens":5,"top_k":3,"messages":[],"stream":true}"#
        );
    }

    #[test]
    fn refuses_what_every_request_needs() {
        let cases: [(&[u8], &str); 8] = [
            (b"{", "not valid JSON"),
            (b"[]", "JSON object"),
            (
                br#"{"max_tokens":1,"messages":[]}"#,
                "model: Field required",
            ),
            (
                br#"{"model":1,"max_tokens":1,"messages":[]}"#,
                "model: Input should be a valid string",
            ),
            (
                br#"{"model":"m","messages":[]}"#,
                "max_tokens: Field required",
            ),
            (
                br#"{"model":"m","max_tokens":"1","messages":[]}"#,
                "max_tokens: Input should be a valid integer",
            ),
            (
                br#"{"model":"m","max_tokens":1,"messages":{}}"#,
                "messages: Input should be a valid list",
            ),
            (
                br#"{"model":"m","max_tokens":1,"messages":[],"stream":"yes"}"#,
                "stream: Input should be a valid boolean",
            ),
        ];
        for (body, expected) in cases {
            let err = head(body, MessagesEndpoint::Messages).unwrap_err();
            assert!(err.message.contains(expected), "{err} / {expected}");
            assert_eq!(err.status, 400);
        }
        assert!(head(
            br#"{"model":"m","messages":[]}"#,
            MessagesEndpoint::CountTokens
        )
        .is_ok());
    }
}
