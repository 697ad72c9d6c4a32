//! The Invocation record: one per model call, whatever happened to it.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::timefmt::format_ms;

/// How a call ended, from the operator's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    ClientError,
    UpstreamError,
    InternalError,
    ClientDisconnected,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ClientError => "client_error",
            Outcome::UpstreamError => "upstream_error",
            Outcome::InternalError => "internal_error",
            Outcome::ClientDisconnected => "client_disconnected",
        }
    }

    pub fn parse(s: &str) -> Outcome {
        match s {
            "ok" => Outcome::Ok,
            "client_error" => Outcome::ClientError,
            "upstream_error" => Outcome::UpstreamError,
            "client_disconnected" => Outcome::ClientDisconnected,
            _ => Outcome::InternalError,
        }
    }
}

/// One try at a provider within a call; a call retried on another candidate keeps every try.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Attempt {
    /// The provider's configured name.
    pub provider: String,
    /// The model id the upstream was asked for.
    pub model: String,
    /// The HTTP status the provider answered with; None when none came (connect error, timeout).
    pub status: Option<u16>,
    /// Why the attempt failed (the record's error classes: "upstream_connect", "upstream_timeout", ...); None when it succeeded.
    pub error_class: Option<String>,
    /// From sending the request to its headers (or failure), in milliseconds.
    pub latency_ms: f64,
}

/// One model call. Bodies are JSON text (a body that was not JSON is kept as
/// a JSON string), so they can be shown and replayed as they were.
#[derive(Debug, Clone, PartialEq)]
pub struct Invocation {
    pub id: Uuid,
    pub created_at_ms: i64,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
    pub parent_span_id: Option<String>,
    pub key_id: Option<String>,
    /// The key's name, user, team and agent at the time of the call, so
    /// spend groups by them without a join.
    pub key_name: Option<String>,
    pub user_id: Option<String>,
    pub team_id: Option<String>,
    pub agent: Option<String>,
    /// The key's tags as a JSON object.
    pub tags: Option<String>,
    /// `chat.completions`, `embeddings`, …
    pub endpoint: String,
    pub requested_model: Option<String>,
    pub resolved_model: Option<String>,
    pub provider: Option<String>,
    /// The model the upstream says answered (its `model` field).
    pub model_version: Option<String>,
    pub stream: bool,
    /// The HTTP status the client got (499: the client left first).
    pub status: u16,
    pub outcome: Outcome,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
    pub finish_reason: Option<String>,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cached_tokens: i64,
    pub reasoning_tokens: i64,
    /// `provider`, `estimated` or `none`.
    pub token_source: String,
    /// `None` when no price is known for the model (never a silent zero).
    pub cost_usd: Option<f64>,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    pub attempts: i32,
    /// Every try at a provider, in order (`attempts` is its count).
    pub attempt_list: Vec<Attempt>,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    pub raw_usage: Option<String>,
}

impl Invocation {
    /// A record with only its identity and endpoint filled in.
    pub fn new(id: Uuid, created_at_ms: i64, endpoint: &str) -> Self {
        Invocation {
            id,
            created_at_ms,
            trace_id: None,
            span_id: None,
            parent_span_id: None,
            key_id: None,
            key_name: None,
            user_id: None,
            team_id: None,
            agent: None,
            tags: None,
            endpoint: endpoint.to_owned(),
            requested_model: None,
            resolved_model: None,
            provider: None,
            model_version: None,
            stream: false,
            status: 0,
            outcome: Outcome::Ok,
            error_class: None,
            error_message: None,
            finish_reason: None,
            input_tokens: 0,
            output_tokens: 0,
            cached_tokens: 0,
            reasoning_tokens: 0,
            token_source: "none".to_owned(),
            cost_usd: None,
            latency_ms: 0.0,
            ttft_ms: None,
            attempts: 0,
            attempt_list: Vec::new(),
            request_body: None,
            response_body: None,
            raw_usage: None,
        }
    }

    /// The record with NUL characters replaced (U+FFFD): PostgreSQL text
    /// cannot hold them, and a caller could otherwise send one in a model
    /// name and make its batch unstorable.
    pub fn scrubbed(mut self) -> Self {
        for field in [
            &mut self.trace_id,
            &mut self.span_id,
            &mut self.parent_span_id,
            &mut self.key_id,
            &mut self.key_name,
            &mut self.user_id,
            &mut self.team_id,
            &mut self.agent,
            &mut self.tags,
            &mut self.requested_model,
            &mut self.resolved_model,
            &mut self.provider,
            &mut self.model_version,
            &mut self.error_class,
            &mut self.error_message,
            &mut self.finish_reason,
            &mut self.request_body,
            &mut self.response_body,
            &mut self.raw_usage,
        ] {
            if let Some(text) = field.as_mut() {
                scrub(text);
            }
        }
        scrub(&mut self.endpoint);
        for attempt in &mut self.attempt_list {
            scrub(&mut attempt.provider);
            scrub(&mut attempt.model);
            if let Some(class) = attempt.error_class.as_mut() {
                scrub(class);
            }
        }
        self
    }

    /// A JSON view for `keel logs`; `with_bodies` adds the bodies.
    pub fn to_json(&self, with_bodies: bool) -> String {
        serde_json::to_string(&JsonView {
            record: self,
            with_bodies,
        })
        .unwrap_or_default()
    }
}

struct JsonView<'a> {
    record: &'a Invocation,
    with_bodies: bool,
}

impl Serialize for JsonView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.record;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &r.id.to_string())?;
        m.serialize_entry("created_at", &format_ms(r.created_at_ms))?;
        m.serialize_entry("trace_id", &r.trace_id)?;
        m.serialize_entry("span_id", &r.span_id)?;
        m.serialize_entry("parent_span_id", &r.parent_span_id)?;
        m.serialize_entry("key_id", &r.key_id)?;
        m.serialize_entry("key_name", &r.key_name)?;
        m.serialize_entry("user_id", &r.user_id)?;
        m.serialize_entry("team_id", &r.team_id)?;
        m.serialize_entry("agent", &r.agent)?;
        m.serialize_entry("tags", &r.tags.as_deref().map(as_raw_json))?;
        m.serialize_entry("endpoint", &r.endpoint)?;
        m.serialize_entry("requested_model", &r.requested_model)?;
        m.serialize_entry("resolved_model", &r.resolved_model)?;
        m.serialize_entry("provider", &r.provider)?;
        m.serialize_entry("model_version", &r.model_version)?;
        m.serialize_entry("stream", &r.stream)?;
        m.serialize_entry("status", &r.status)?;
        m.serialize_entry("outcome", r.outcome.as_str())?;
        m.serialize_entry("error_class", &r.error_class)?;
        m.serialize_entry("error_message", &r.error_message)?;
        m.serialize_entry("finish_reason", &r.finish_reason)?;
        m.serialize_entry("input_tokens", &r.input_tokens)?;
        m.serialize_entry("output_tokens", &r.output_tokens)?;
        m.serialize_entry("cached_tokens", &r.cached_tokens)?;
        m.serialize_entry("reasoning_tokens", &r.reasoning_tokens)?;
        m.serialize_entry("token_source", &r.token_source)?;
        m.serialize_entry("cost_usd", &r.cost_usd)?;
        m.serialize_entry("latency_ms", &r.latency_ms)?;
        m.serialize_entry("ttft_ms", &r.ttft_ms)?;
        m.serialize_entry("attempts", &r.attempts)?;
        m.serialize_entry("attempt_list", &r.attempt_list)?;
        m.serialize_entry("raw_usage", &r.raw_usage.as_deref().map(as_raw_json))?;
        if self.with_bodies {
            m.serialize_entry("request_body", &r.request_body.as_deref().map(as_raw_json))?;
            m.serialize_entry(
                "response_body",
                &r.response_body.as_deref().map(as_raw_json),
            )?;
        }
        m.end()
    }
}

/// Replaces NUL characters in `text` with U+FFFD, allocating only when it has one.
fn scrub(text: &mut String) {
    if text.contains('\0') {
        *text = text.replace('\0', "\u{FFFD}");
    }
}

/// Embeds stored JSON text as JSON; text that is not JSON becomes a string.
fn as_raw_json(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned())
        .or_else(|_| RawValue::from_string(serde_json::Value::from(text).to_string()))
        .unwrap_or_default()
}
