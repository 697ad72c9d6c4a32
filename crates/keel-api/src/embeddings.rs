//! OpenAI embeddings requests: validated like chat requests, forwarded as-is.

use std::borrow::Cow;

use serde_json::value::RawValue;

use crate::chat::validate_helpers::{optional, required_model};
use crate::chat::RawObject;
use crate::error::ApiError;

/// What the gateway needs to know about an embeddings request.
#[derive(Debug)]
pub struct EmbeddingsRequest<'a> {
    pub raw: RawObject<'a>,
    pub model: Cow<'a, str>,
}

impl<'a> EmbeddingsRequest<'a> {
    /// Parses and validates an embeddings body.
    pub fn parse(body: &'a [u8]) -> Result<Self, ApiError> {
        let raw = RawObject::parse(body)?;
        let model = required_model(&raw)?;
        let input = raw
            .get("input")
            .ok_or_else(|| ApiError::invalid("input", "missing required field 'input'"))?;
        check_input(input)?;
        if let Some(format) = optional::<&str>(&raw, "encoding_format", "a string")? {
            if format != "float" && format != "base64" {
                return Err(ApiError::invalid(
                    "encoding_format",
                    "'encoding_format' must be \"float\" or \"base64\"",
                ));
            }
        }
        optional::<u32>(&raw, "dimensions", "a positive integer")?;
        Ok(EmbeddingsRequest { raw, model })
    }

    /// The body to send upstream with `upstream_model` in place of the
    /// requested name; `None` when the original bytes can go unchanged.
    pub fn upstream_body(&self, upstream_model: &str, capacity_hint: usize) -> Option<Vec<u8>> {
        if upstream_model == self.model.as_ref() {
            return None;
        }
        let mut model_json = Vec::new();
        crate::chat::write_json_string(&mut model_json, upstream_model);
        let model_json = String::from_utf8(model_json).unwrap_or_default();
        Some(
            self.raw
                .write_with(&[("model", &model_json)], capacity_hint),
        )
    }
}

fn check_input(input: &RawValue) -> Result<(), ApiError> {
    let text = input.get();
    let err = || {
        ApiError::invalid(
            "input",
            "'input' must be a non-empty string, an array of strings, or an array of token arrays",
        )
    };
    if let Ok(s) = serde_json::from_str::<Cow<str>>(text) {
        return if s.is_empty() { Err(err()) } else { Ok(()) };
    }
    let ok = serde_json::from_str::<Vec<Cow<str>>>(text)
        .is_ok_and(|v| !v.is_empty() && v.iter().all(|s| !s.is_empty()))
        || serde_json::from_str::<Vec<u32>>(text).is_ok_and(|v| !v.is_empty())
        || serde_json::from_str::<Vec<Vec<u32>>>(text)
            .is_ok_and(|v| !v.is_empty() && v.iter().all(|t| !t.is_empty()));
    if ok {
        Ok(())
    } else {
        Err(err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_input_forms() {
        for body in [
            r#"{"model":"m","input":"hello"}"#,
            r#"{"model":"m","input":["a","b"]}"#,
            r#"{"model":"m","input":[1,2,3]}"#,
            r#"{"model":"m","input":[[1,2],[3]],"encoding_format":"base64"}"#,
        ] {
            assert!(EmbeddingsRequest::parse(body.as_bytes()).is_ok(), "{body}");
        }
    }

    #[test]
    fn rejects_bad_input() {
        for (body, param) in [
            (r#"{"model":"m"}"#, "input"),
            (r#"{"model":"m","input":""}"#, "input"),
            (r#"{"model":"m","input":[]}"#, "input"),
            (r#"{"model":"m","input":{"a":1}}"#, "input"),
            (r#"{"input":"x"}"#, "model"),
            (
                r#"{"model":"m","input":"x","encoding_format":"int8"}"#,
                "encoding_format",
            ),
        ] {
            let err = EmbeddingsRequest::parse(body.as_bytes()).unwrap_err();
            assert_eq!(err.param.as_deref(), Some(param), "{body}");
            assert_eq!(err.status(), 400);
        }
    }

    #[test]
    fn rewrites_only_the_model() {
        let body = br#"{"input":"x","model":"p/m","dimensions":8}"#;
        let req = EmbeddingsRequest::parse(body).unwrap();
        let out = req.upstream_body("m", body.len()).unwrap();
        assert_eq!(out, br#"{"input":"x","model":"m","dimensions":8}"#);
        assert!(req.upstream_body("p/m", body.len()).is_none());
    }
}
