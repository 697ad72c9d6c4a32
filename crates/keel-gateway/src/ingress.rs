//! The client's side of translation: which wire format a front door speaks,
//! and how answers, errors and stream events reach its clients in it.
//! Inside Keel a call is an OpenAI chat completion; an Anthropic client's
//! request is translated in at the parse stage and its answer out here.

use bytes::Bytes;
use keel_api::anthropic::{to_anthropic, AnthropicError};
use keel_api::codec::{Codec, WireFormat};
use keel_api::{ApiError, ErrorKind};
use serde_json::Value;

/// The wire format the client speaks; answers and errors go back in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ingress {
    /// OpenAI chat completions / embeddings.
    #[default]
    OpenAi,
    /// Anthropic Messages (`POST /v1/messages`), translated to and from the
    /// OpenAI shape at the edges unless the provider speaks it too.
    Anthropic,
}

impl Ingress {
    /// The wire format of this front door; a provider of the same format
    /// gets the client's bytes.
    pub fn format(self) -> WireFormat {
        match self {
            Ingress::OpenAi => WireFormat::OpenAi,
            Ingress::Anthropic => WireFormat::Anthropic,
        }
    }

    /// Whether a provider of this codec speaks the client's format: then the
    /// client's bytes go to it, and its answers, events and errors come back
    /// as they are.
    pub fn speaks(self, codec: &dyn Codec) -> bool {
        codec.format() == self.format()
    }

    /// An error Keel decided on, as this client's status and body.
    pub fn error_body(self, err: &ApiError) -> (u16, Bytes) {
        match self {
            Ingress::OpenAi => (err.status(), Bytes::from(err.to_json())),
            Ingress::Anthropic => {
                let anthropic = AnthropicError::from_api_error(err);
                (anthropic.status, Bytes::from(anthropic.to_json()))
            }
        }
    }

    /// An error that ends a stream whose headers already went out.
    pub fn error_event(self, err: &ApiError) -> Bytes {
        match self {
            Ingress::OpenAi => Bytes::from(err.to_sse_event()),
            Ingress::Anthropic => Bytes::from(AnthropicError::from_api_error(err).to_sse_event()),
        }
    }

    /// An upstream error for this client: `openai_error` is it in OpenAI's
    /// shape (the provider's own bytes when those already were), `own` the
    /// provider's body when the provider speaks this client's format.
    pub fn upstream_error_body(
        self,
        status: u16,
        openai_error: Bytes,
        own: Option<Bytes>,
    ) -> Bytes {
        match (self, own) {
            (Ingress::OpenAi, _) => openai_error,
            (Ingress::Anthropic, Some(own)) => own,
            (Ingress::Anthropic, None) => {
                Bytes::from(to_anthropic::error(status, &openai_error).to_json())
            }
        }
    }

    /// A provider's answer, read as an OpenAI chat completion, for this
    /// client. An answer the client's format cannot express is a 502.
    pub fn answer_body(self, openai: &Value, requested_model: &str) -> Result<Bytes, ApiError> {
        let reply = match self {
            Ingress::OpenAi => serde_json::to_vec(openai).unwrap_or_default(),
            Ingress::Anthropic => {
                let message = to_anthropic::response(openai, requested_model).map_err(|e| {
                    ApiError::new(
                        ErrorKind::UpstreamMalformed,
                        format!(
                            "the provider's answer cannot be expressed as a message: {}",
                            e.message
                        ),
                    )
                })?;
                serde_json::to_vec(&message).unwrap_or_default()
            }
        };
        Ok(Bytes::from(reply))
    }

    /// The translator of OpenAI chunks into this client's stream events;
    /// `None` when the client takes OpenAI chunks.
    pub fn stream_translator(
        self,
        requested_model: &str,
        message_id: &str,
    ) -> Option<to_anthropic::StreamTranslator> {
        match self {
            Ingress::OpenAi => None,
            Ingress::Anthropic => Some(to_anthropic::StreamTranslator::new(
                requested_model,
                message_id,
            )),
        }
    }
}
