//! The provider half of translation. Inside Keel a chat call is an OpenAI
//! chat completion; this module turns it into the provider's format and the
//! provider's answers (whole or streamed) back, by calling the pure
//! translations of `keel_api`. The client half (an Anthropic client's
//! request and answer) lives with the stages that read and answer it.

use bytes::Bytes;
use keel_api::bedrock::eventstream::Message;
use keel_api::{anthropic, bedrock, gemini};
use keel_api::{ApiError, ErrorKind};
use keel_providers::WireFormat;
use serde_json::Value;

/// The OpenAI chat body as the provider's request body.
pub fn provider_request(format: WireFormat, openai_body: Bytes) -> Result<Bytes, ApiError> {
    let translate = match format {
        WireFormat::OpenAi => return Ok(openai_body),
        WireFormat::Anthropic => anthropic::from_openai::request,
        WireFormat::Gemini => gemini::from_openai::request,
        WireFormat::Bedrock => bedrock::from_openai::request,
    };
    let value: Value = serde_json::from_slice(&openai_body)
        .map_err(|e| ApiError::invalid("body", format!("the request body is not JSON: {e}")))?;
    let translated = translate(&value)?;
    Ok(Bytes::from(
        serde_json::to_vec(&translated).unwrap_or_default(),
    ))
}

/// A provider's whole answer, seen as an OpenAI chat completion.
pub struct ProviderAnswer {
    /// The answer as an OpenAI `chat.completion`.
    pub openai: Value,
    /// The usage object exactly as the provider reported it.
    pub raw_usage: Option<Value>,
}

/// Reads a provider's successful answer. A body that is not an answer of
/// its format is a 502.
pub fn provider_answer(
    format: WireFormat,
    body: &[u8],
    requested_model: &str,
) -> Result<ProviderAnswer, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorKind::UpstreamMalformed,
            format!("the provider's answer is not JSON: {e}"),
        )
    })?;
    let usage_key = match format {
        WireFormat::Gemini => "usageMetadata",
        _ => "usage",
    };
    let raw_usage = value.get(usage_key).filter(|u| u.is_object()).cloned();
    let openai = match format {
        WireFormat::OpenAi => value,
        WireFormat::Anthropic => anthropic::to_openai::response(&value, requested_model)?,
        WireFormat::Gemini => gemini::to_openai::response(&value, requested_model)?,
        WireFormat::Bedrock => bedrock::to_openai::response(&value, requested_model)?,
    };
    Ok(ProviderAnswer { openai, raw_usage })
}

/// A provider's error answer in OpenAI's error shape, with the status to
/// answer: the body as it came when it already is one (OpenAI-compatible
/// providers), the provider's error reshaped otherwise. `None` when the
/// body is nothing the format knows; the caller writes a generic error.
/// `error_type` is Bedrock's `x-amzn-ErrorType` header.
pub fn openai_error(
    format: WireFormat,
    status: u16,
    body: &Bytes,
    error_type: Option<&str>,
) -> Option<(u16, Bytes)> {
    match format {
        WireFormat::OpenAi => {
            keel_api::error::is_openai_error_body(body).then(|| (status, body.clone()))
        }
        WireFormat::Gemini => {
            gemini::error_to_openai(status, body).map(|b| (status, Bytes::from(b)))
        }
        WireFormat::Bedrock => {
            let (status, body) = bedrock::openai_error(status, error_type, body);
            Some((status, Bytes::from(body)))
        }
        WireFormat::Anthropic => None,
    }
}

/// Whether an upstream error means the provider refused Keel's own
/// credentials (not the caller's fault): 401/403 anywhere, and Gemini's 400
/// `API_KEY_INVALID`.
pub fn refuses_credentials(format: WireFormat, status: u16, body: &[u8]) -> bool {
    match (format, status) {
        (_, 401 | 403) => true,
        (WireFormat::Gemini, 400) => gemini::error::parse(body)
            .is_some_and(|e| e.reason.as_deref() == Some("API_KEY_INVALID")),
        _ => false,
    }
}

/// Turns a provider's stream events into OpenAI chunk payloads, one event at
/// a time. OpenAI-compatible providers need none of it.
pub enum ProviderStream {
    /// Anthropic's named SSE events.
    Anthropic(anthropic::to_openai::StreamTranslator),
    /// Gemini's SSE events, each a `GenerateContentResponse` fragment.
    Gemini(gemini::to_openai::StreamTranslator),
    /// Bedrock's ConverseStream messages, framed as an AWS event stream.
    Bedrock(bedrock::to_openai::StreamTranslator),
}

impl ProviderStream {
    /// The translator for `format`, or `None` when events are already
    /// OpenAI chunks. Usage is always asked for: the record needs it, and
    /// the relay hides it from clients that did not ask.
    pub fn new(format: WireFormat, requested_model: &str, created: u64) -> Option<ProviderStream> {
        match format {
            WireFormat::OpenAi => None,
            WireFormat::Anthropic => Some(ProviderStream::Anthropic(
                anthropic::to_openai::StreamTranslator::new(requested_model, created, true),
            )),
            WireFormat::Gemini => Some(ProviderStream::Gemini(
                gemini::to_openai::StreamTranslator::new(requested_model, created, true),
            )),
            WireFormat::Bedrock => Some(ProviderStream::Bedrock(
                bedrock::to_openai::StreamTranslator::new(requested_model, created, true),
            )),
        }
    }

    /// The chunk payloads for one SSE event's data.
    pub fn on_event(&mut self, data: &[u8], out: &mut Vec<Vec<u8>>) -> Result<(), ApiError> {
        match self {
            ProviderStream::Anthropic(t) => t.on_event(data, out),
            ProviderStream::Gemini(t) => t.on_event(data, out),
            ProviderStream::Bedrock(_) => Err(ApiError::new(
                ErrorKind::UpstreamMalformed,
                "the provider sent server-sent events instead of an AWS event stream",
            )),
        }
    }

    /// The chunk payloads for one AWS event stream message.
    pub fn on_message(
        &mut self,
        message: &Message,
        out: &mut Vec<Vec<u8>>,
    ) -> Result<(), ApiError> {
        match self {
            ProviderStream::Bedrock(t) => t.on_message(message, out),
            _ => Err(ApiError::new(
                ErrorKind::UpstreamMalformed,
                "the provider sent an AWS event stream instead of server-sent events",
            )),
        }
    }

    /// Chunks owed once the upstream stream has ended: Gemini's finish
    /// reasons and usage, which come on events with no end marker and are
    /// only known to be final here. An error when the format shows the
    /// answer was cut short (Bedrock without `messageStop`).
    pub fn finish(&mut self, out: &mut Vec<Vec<u8>>) -> Result<(), ApiError> {
        match self {
            ProviderStream::Anthropic(_) => Ok(()),
            ProviderStream::Gemini(t) => {
                t.finish(out);
                Ok(())
            }
            ProviderStream::Bedrock(t) => t.finish(out),
        }
    }

    /// The provider's own usage object, for the record.
    pub fn provider_usage(&self) -> Option<Value> {
        match self {
            ProviderStream::Anthropic(t) => t.provider_usage(),
            ProviderStream::Gemini(t) => t.provider_usage(),
            ProviderStream::Bedrock(t) => t.provider_usage(),
        }
    }
}
