//! One trait for what a provider's wire format means to the gateway: how a
//! canonical (OpenAI chat) request becomes the provider's, and how its
//! answers, errors, streams and token counts come back. Each format
//! implements it next to its translations, so the gateway never matches on
//! a format: a new format is one module here and one adapter in
//! `keel-providers`.

use bytes::Bytes;
use serde_json::Value;

use crate::bedrock::eventstream::Message;
use crate::{ApiError, ErrorKind};

/// The wire format a provider speaks. A call whose client speaks the same
/// format as its provider passes through without re-serialising the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFormat {
    /// OpenAI chat completions / embeddings / models.
    OpenAi,
    /// Anthropic Messages (`/v1/messages`).
    Anthropic,
    /// Google Gemini `generateContent` / `streamGenerateContent`.
    Gemini,
    /// AWS Bedrock `Converse` / `ConverseStream`.
    Bedrock,
}

/// The framing of a streamed answer on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFraming {
    /// `text/event-stream`.
    Sse,
    /// `application/vnd.amazon.eventstream` binary messages.
    AwsEventStream,
}

impl StreamFraming {
    /// The content type a stream of this framing comes with.
    pub fn content_type(self) -> &'static str {
        match self {
            StreamFraming::Sse => "text/event-stream",
            StreamFraming::AwsEventStream => "application/vnd.amazon.eventstream",
        }
    }
}

/// A provider's whole answer, seen as an OpenAI chat completion.
pub struct ProviderAnswer {
    /// The answer as an OpenAI `chat.completion`.
    pub openai: Value,
    /// The usage object exactly as the provider reported it.
    pub raw_usage: Option<Value>,
}

/// One framed unit of a provider's stream.
pub enum StreamFrame<'a> {
    /// The `data` of one server-sent event.
    Sse(&'a [u8]),
    /// One AWS event-stream message.
    Aws(&'a Message),
}

/// Turns a provider's stream into OpenAI chunk payloads, one frame at a time.
pub trait StreamDecoder: Send {
    /// Appends the chunk payloads for one frame to `out`. A frame the format
    /// cannot carry, or an error the provider reports in the stream, is an
    /// error; the relay ends the stream with it.
    fn on_frame(&mut self, frame: StreamFrame<'_>, out: &mut Vec<Vec<u8>>) -> Result<(), ApiError>;

    /// Chunks owed once the upstream stream has ended (a format whose last
    /// events carry no end marker). An error when the format shows the
    /// answer was cut short.
    fn finish(&mut self, out: &mut Vec<Vec<u8>>) -> Result<(), ApiError>;

    /// The provider's own usage object, for the record.
    fn provider_usage(&self) -> Option<Value>;
}

/// A provider wire format's behaviour, as the gateway uses it.
pub trait Codec: Send + Sync + 'static {
    /// Which format this is (a client of the same format gets its bytes
    /// passed through).
    fn format(&self) -> WireFormat;

    /// How this format frames a streamed answer.
    fn framing(&self) -> StreamFraming {
        StreamFraming::Sse
    }

    /// Whether this format's streams report usage only when asked
    /// (OpenAI's `stream_options.include_usage`); the others always do.
    fn usage_on_request(&self) -> bool {
        false
    }

    /// The provider's request body for a canonical OpenAI chat body. Fields
    /// the format cannot express are refused with a 400 naming them.
    fn request(&self, openai_body: Bytes) -> Result<Bytes, ApiError>;

    /// Reads a provider's successful answer. A body that is not an answer
    /// of this format is a 502 (`upstream_malformed`).
    fn answer(&self, body: &[u8], requested_model: &str) -> Result<ProviderAnswer, ApiError>;

    /// A provider's error answer in OpenAI's error shape, with the status to
    /// answer. `None` when the body is nothing the format knows; the caller
    /// writes a generic error. `detail` is the value of
    /// [`Codec::error_detail_header`], when the format names one.
    fn error(&self, status: u16, body: &Bytes, detail: Option<&str>) -> Option<(u16, Bytes)>;

    /// A response header that details an error answer (Bedrock's
    /// `x-amzn-ErrorType`).
    fn error_detail_header(&self) -> Option<&'static str> {
        None
    }

    /// Whether an upstream error means the provider refused Keel's own
    /// credentials (not the caller's fault): 401 and 403 for every format.
    fn refuses_credentials(&self, status: u16, _body: &[u8]) -> bool {
        matches!(status, 401 | 403)
    }

    /// The decoder of this format's streams, or `None` when its events
    /// already are OpenAI chunks. Usage is always asked for: the record
    /// needs it, and the relay hides it from clients that did not ask.
    fn stream_decoder(&self, requested_model: &str, created: u64)
        -> Option<Box<dyn StreamDecoder>>;

    /// The provider's token-count request for a canonical chat request, or
    /// `None` when the provider cannot count (Keel estimates instead).
    fn count_tokens_request(
        &self,
        _openai: &Value,
        _upstream_model: &str,
    ) -> Option<Result<Bytes, ApiError>> {
        None
    }

    /// The count in the provider's answer to [`Codec::count_tokens_request`].
    /// `None` when the answer holds none; the default reads Anthropic's
    /// `{"input_tokens": n}`.
    fn count_tokens_answer(&self, body: &[u8]) -> Option<u64> {
        let value: Value = serde_json::from_slice(body).ok()?;
        value.get("input_tokens").and_then(Value::as_u64)
    }
}

/// Parses a provider's answer as JSON, or says it is not.
pub(crate) fn answer_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            ErrorKind::UpstreamMalformed,
            format!("the provider's answer is not JSON: {e}"),
        )
    })
}

/// Translates a canonical OpenAI chat body with a `Value` translation.
pub(crate) fn translate_request(
    openai_body: &[u8],
    translate: impl FnOnce(&Value) -> Result<Value, ApiError>,
) -> Result<Bytes, ApiError> {
    let value: Value = serde_json::from_slice(openai_body)
        .map_err(|e| ApiError::invalid("body", format!("the request body is not JSON: {e}")))?;
    let translated = translate(&value)?;
    Ok(Bytes::from(
        serde_json::to_vec(&translated).unwrap_or_default(),
    ))
}

/// The usage object under `key` of an answer, as the provider wrote it.
pub(crate) fn raw_usage(answer: &Value, key: &str) -> Option<Value> {
    answer.get(key).filter(|u| u.is_object()).cloned()
}

/// A provider's answer read with its format's translation to OpenAI's
/// shape, keeping the usage object found under `usage_key`.
pub(crate) fn translated_answer(
    body: &[u8],
    usage_key: &str,
    translate: impl FnOnce(&Value) -> Result<Value, ApiError>,
) -> Result<ProviderAnswer, ApiError> {
    let value = answer_json(body)?;
    Ok(ProviderAnswer {
        raw_usage: raw_usage(&value, usage_key),
        openai: translate(&value)?,
    })
}

/// The error for a frame a format's streams never carry.
pub(crate) fn wrong_framing(expected: StreamFraming) -> ApiError {
    let message = match expected {
        StreamFraming::Sse => "the provider sent an AWS event stream instead of server-sent events",
        StreamFraming::AwsEventStream => {
            "the provider sent server-sent events instead of an AWS event stream"
        }
    };
    ApiError::new(ErrorKind::UpstreamMalformed, message)
}
