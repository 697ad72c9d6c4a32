//! The Anthropic Messages format as a provider's.

use bytes::Bytes;
use serde_json::Value;

use super::{from_openai, to_openai};
use crate::codec::{
    translate_request, translated_answer, wrong_framing, Codec, ProviderAnswer, StreamDecoder,
    StreamFrame, StreamFraming, WireFormat,
};
use crate::ApiError;

/// The codec of Anthropic providers.
pub struct AnthropicCodec;

/// The one instance providers hand out.
pub static CODEC: AnthropicCodec = AnthropicCodec;

impl Codec for AnthropicCodec {
    fn format(&self) -> WireFormat {
        WireFormat::Anthropic
    }

    fn request(&self, openai_body: Bytes) -> Result<Bytes, ApiError> {
        translate_request(&openai_body, from_openai::request)
    }

    fn answer(&self, body: &[u8], requested_model: &str) -> Result<ProviderAnswer, ApiError> {
        translated_answer(body, "usage", |value| {
            to_openai::response(value, requested_model)
        })
    }

    /// Anthropic's errors are not reshaped: the caller writes a generic
    /// error with their message (and an Anthropic client gets the bytes).
    fn error(&self, _status: u16, _body: &Bytes, _detail: Option<&str>) -> Option<(u16, Bytes)> {
        None
    }

    fn stream_decoder(&self, model: &str, created: u64) -> Option<Box<dyn StreamDecoder>> {
        Some(Box::new(to_openai::StreamTranslator::new(
            model, created, true,
        )))
    }
}

impl StreamDecoder for to_openai::StreamTranslator {
    fn on_frame(&mut self, frame: StreamFrame<'_>, out: &mut Vec<Vec<u8>>) -> Result<(), ApiError> {
        match frame {
            StreamFrame::Sse(data) => self.on_event(data, out),
            StreamFrame::Aws(_) => Err(wrong_framing(StreamFraming::Sse)),
        }
    }

    fn finish(&mut self, _out: &mut Vec<Vec<u8>>) -> Result<(), ApiError> {
        Ok(())
    }

    fn provider_usage(&self) -> Option<Value> {
        to_openai::StreamTranslator::provider_usage(self)
    }
}
