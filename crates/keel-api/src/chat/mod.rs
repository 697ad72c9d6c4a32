//! OpenAI chat completions requests: a field-preserving envelope that checks
//! what the gateway must check and forwards everything else byte for byte.
//!
//! The body is parsed once into its top-level fields as raw JSON slices. Only
//! the fields Keel acts on are decoded; unknown fields pass through untouched,
//! and when nothing needs rewriting the original bytes go upstream as they came.

pub mod codec;
mod validate;

/// Field checks shared with the other OpenAI request types.
pub(crate) mod validate_helpers {
    pub(crate) use super::validate::{optional, required_model};
}

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::ApiError;

pub use validate::ChatFacts;

/// A JSON object kept as its top-level fields, in order, each as raw JSON.
#[derive(Debug)]
pub struct RawObject<'a> {
    pub fields: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'a> RawObject<'a> {
    /// Parses `body` as a JSON object. Any syntax error becomes a 400 that
    /// says where the JSON broke.
    pub fn parse(body: &'a [u8]) -> Result<Self, ApiError> {
        let mut de = serde_json::Deserializer::from_slice(body);
        let obj = RawObject::deserialize(&mut de).map_err(|e| malformed(&e))?;
        de.end().map_err(|e| malformed(&e))?;
        // Providers disagree on which of two equal keys wins; Keel would
        // route and price by the first. Refuse the ambiguity.
        for (i, (key, _)) in obj.fields.iter().enumerate() {
            if obj.fields[..i].iter().any(|(k, _)| k == key) {
                return Err(ApiError::invalid(
                    key.as_ref(),
                    format!("duplicate field '{key}' in the request body"),
                ));
            }
        }
        Ok(obj)
    }

    /// The raw value of a top-level field.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// Serialises the object again with some fields replaced or added.
    /// `replacements` are `(key, raw JSON)`; a key not present is appended.
    pub fn write_with(&self, replacements: &[(&str, &str)], capacity_hint: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(capacity_hint + 64);
        out.push(b'{');
        let mut first = true;
        let mut push_field = |out: &mut Vec<u8>, key: &str, raw: &str| {
            if !first {
                out.push(b',');
            }
            first = false;
            write_json_string(out, key);
            out.push(b':');
            out.extend_from_slice(raw.as_bytes());
        };
        for (key, raw) in &self.fields {
            let replaced = replacements.iter().find(|(k, _)| *k == key.as_ref());
            let raw = replaced.map(|(_, v)| *v).unwrap_or_else(|| raw.get());
            push_field(&mut out, key, raw);
        }
        for (key, raw) in replacements {
            if self.get(key).is_none() {
                push_field(&mut out, key, raw);
            }
        }
        out.push(b'}');
        out
    }
}

fn malformed(e: &serde_json::Error) -> ApiError {
    let what = match e.classify() {
        serde_json::error::Category::Data => "the request body must be a JSON object",
        _ => "the request body is not valid JSON",
    };
    ApiError::invalid(
        "body",
        format!("{what} (line {}, column {}): {e}", e.line(), e.column()),
    )
}

/// Writes `s` as a JSON string literal.
pub fn write_json_string(out: &mut Vec<u8>, s: &str) {
    // Writing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

impl<'de> Deserialize<'de> for RawObject<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(12));
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    let value: &'de RawValue = map.next_value()?;
                    fields.push((key.0, value));
                }
                Ok(RawObject { fields })
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// A map key borrowed from the input when it has no escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A chat completions request: its raw fields plus the facts Keel acts on.
#[derive(Debug)]
pub struct ChatRequest<'a> {
    pub raw: RawObject<'a>,
    pub facts: ChatFacts<'a>,
    body_len: usize,
}

impl<'a> ChatRequest<'a> {
    /// Parses and validates a chat completions body.
    pub fn parse(body: &'a [u8]) -> Result<Self, ApiError> {
        let raw = RawObject::parse(body)?;
        let facts = ChatFacts::from_raw(&raw)?;
        Ok(ChatRequest {
            raw,
            facts,
            body_len: body.len(),
        })
    }

    /// The body to send upstream: `upstream_model` in place of the requested
    /// name, and, for streams when `ask_usage`, `stream_options.include_usage`
    /// forced on so the call is billed from the provider's own count. `None`
    /// means the original bytes can be sent unchanged.
    pub fn upstream_body(&self, upstream_model: &str, ask_usage: bool) -> Option<Vec<u8>> {
        let model_changes = upstream_model != self.facts.model.as_ref();
        let usage_injected = ask_usage && self.facts.stream && !self.facts.include_usage;
        if !model_changes && !usage_injected {
            return None;
        }
        let mut model_json = Vec::with_capacity(upstream_model.len() + 2);
        write_json_string(&mut model_json, upstream_model);
        let model_json = String::from_utf8(model_json).unwrap_or_default();
        let stream_options = usage_injected.then(|| self.stream_options_with_usage());
        let mut replacements: Vec<(&str, &str)> = Vec::with_capacity(2);
        if model_changes {
            replacements.push(("model", &model_json));
        }
        if let Some(so) = stream_options.as_deref() {
            replacements.push(("stream_options", so));
        }
        Some(self.raw.write_with(&replacements, self.body_len))
    }

    /// `stream_options` as sent, with `include_usage` set to true.
    fn stream_options_with_usage(&self) -> String {
        let existing = self.raw.get("stream_options").and_then(|raw| {
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(raw.get()).ok()
        });
        match existing {
            Some(mut map) => {
                map.insert("include_usage".into(), serde_json::Value::Bool(true));
                serde_json::Value::Object(map).to_string()
            }
            None => r#"{"include_usage":true}"#.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests;
