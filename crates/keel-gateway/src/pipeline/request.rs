//! The parse stage: one [`Request`] for every endpoint. It holds the
//! client's bytes, the facts every stage needs (model, stream, usage, `n`),
//! and the canonical OpenAI chat view, built only when a candidate of
//! another format asks for it, so a same-format call never pays for it.

use bytes::Bytes;
use keel_api::anthropic::passthrough::{self, MessagesEndpoint, MessagesHead};
use keel_api::anthropic::{from_anthropic, AnthropicError};
use keel_api::chat::ChatRequest;
use keel_api::embeddings::EmbeddingsRequest;
use keel_api::{ApiError, ErrorKind};
use keel_providers::Operation;

use crate::ingress::Ingress;
use crate::invocation::Call;

/// The front doors of the data plane; each names its operation and the
/// wire format its clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/chat/completions`.
    ChatCompletions,
    /// `POST /v1/messages` (Anthropic).
    Messages,
    /// `POST /v1/messages/count_tokens` (Anthropic).
    CountTokens,
    /// `POST /v1/embeddings`.
    Embeddings,
}

impl Endpoint {
    /// What the client asks to do.
    pub fn operation(self) -> Operation {
        match self {
            Endpoint::ChatCompletions | Endpoint::Messages => Operation::ChatCompletions,
            Endpoint::CountTokens => Operation::CountTokens,
            Endpoint::Embeddings => Operation::Embeddings,
        }
    }

    /// The wire format its clients speak.
    pub fn ingress(self) -> Ingress {
        match self {
            Endpoint::ChatCompletions | Endpoint::Embeddings => Ingress::OpenAi,
            Endpoint::Messages | Endpoint::CountTokens => Ingress::Anthropic,
        }
    }
}

/// A parsed request, borrowing the client's bytes.
pub struct Request<'a> {
    /// The client's body, exactly as it came.
    pub body: &'a Bytes,
    /// The client's request, read as far as Keel needs it.
    pub parsed: Parsed<'a>,
    /// The request as an OpenAI chat body, once built.
    canonical: Option<Bytes>,
}

/// The client's request, by endpoint.
pub enum Parsed<'a> {
    /// An OpenAI chat completion.
    Chat(ChatRequest<'a>),
    /// An Anthropic Messages call.
    Messages(MessagesHead<'a>),
    /// An Anthropic token count.
    CountTokens(MessagesHead<'a>),
    /// An OpenAI embeddings call.
    Embeddings(EmbeddingsRequest<'a>),
}

/// Reads the body for `endpoint` and notes its facts on the call.
pub fn parse<'a>(
    call: &mut Call,
    endpoint: Endpoint,
    body: &'a Bytes,
) -> Result<Request<'a>, ApiError> {
    let parsed = match endpoint {
        Endpoint::ChatCompletions => {
            let chat = ChatRequest::parse(body)?;
            call.stream = chat.facts.stream;
            call.include_usage = chat.facts.include_usage;
            call.choices = chat.facts.n;
            call.requested_model = Some(chat.facts.model.to_string());
            Parsed::Chat(chat)
        }
        Endpoint::Messages => {
            let head = passthrough::head(body, MessagesEndpoint::Messages).map_err(invalid)?;
            call.stream = head.stream;
            call.requested_model = Some(head.model.to_string());
            Parsed::Messages(head)
        }
        Endpoint::CountTokens => {
            let head = passthrough::head(body, MessagesEndpoint::CountTokens).map_err(invalid)?;
            call.requested_model = Some(head.model.to_string());
            Parsed::CountTokens(head)
        }
        Endpoint::Embeddings => {
            let embeddings = EmbeddingsRequest::parse(body)?;
            call.requested_model = Some(embeddings.model.to_string());
            Parsed::Embeddings(embeddings)
        }
    };
    call.request_is_json = true;
    Ok(Request {
        body,
        parsed,
        canonical: None,
    })
}

impl Request<'_> {
    /// The model the client asked for.
    pub fn model(&self) -> &str {
        match &self.parsed {
            Parsed::Chat(chat) => &chat.facts.model,
            Parsed::Messages(head) | Parsed::CountTokens(head) => &head.model,
            Parsed::Embeddings(embeddings) => &embeddings.model,
        }
    }

    /// The request as an OpenAI chat body (an Anthropic client's request
    /// translated, once), for a candidate that speaks another format.
    pub fn canonical(&mut self) -> Result<Bytes, ApiError> {
        if let Some(canonical) = &self.canonical {
            return Ok(canonical.clone());
        }
        let canonical = match &self.parsed {
            Parsed::Chat(_) | Parsed::Embeddings(_) => self.body.clone(),
            Parsed::Messages(_) => {
                let translated = from_anthropic::request(self.body).map_err(invalid)?;
                Bytes::from(serde_json::to_vec(&translated).unwrap_or_default())
            }
            Parsed::CountTokens(_) => {
                let translated = self.count_request()?;
                Bytes::from(serde_json::to_vec(&translated).unwrap_or_default())
            }
        };
        self.canonical = Some(canonical.clone());
        Ok(canonical)
    }

    /// A token count's request in OpenAI's shape, for a provider of another
    /// format: the same checks as a Messages call, but generation settings
    /// are not part of a count, so max_tokens is filled in and thinking
    /// (which a translated route would refuse) left out.
    pub fn count_request(&self) -> Result<serde_json::Value, ApiError> {
        let mut with_max: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(self.body)
                .map_err(|e| ApiError::invalid("body", e.to_string()))?;
        with_max.insert("max_tokens".into(), 1.into());
        with_max.remove("thinking");
        let as_body = serde_json::to_vec(&with_max).unwrap_or_default();
        from_anthropic::request(&as_body).map_err(invalid)
    }
}

/// A 400 found while reading an Anthropic request, answered in its shape.
fn invalid(err: AnthropicError) -> ApiError {
    ApiError::new(ErrorKind::InvalidRequest, err.message)
}
