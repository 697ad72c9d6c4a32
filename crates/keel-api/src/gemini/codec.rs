//! The Gemini `generateContent` format as a provider's, with its own token
//! counter (`countTokens`).

use bytes::Bytes;
use serde_json::Value;

use super::{count_tokens_answer, count_tokens_request, from_openai, to_openai};
use crate::codec::{
    translate_request, translated_answer, wrong_framing, Codec, ProviderAnswer, StreamDecoder,
    StreamFrame, StreamFraming, WireFormat,
};
use crate::ApiError;

/// The codec of Gemini providers.
pub struct GeminiCodec;

/// The one instance providers hand out.
pub static CODEC: GeminiCodec = GeminiCodec;

impl Codec for GeminiCodec {
    fn format(&self) -> WireFormat {
        WireFormat::Gemini
    }

    fn request(&self, openai_body: Bytes) -> Result<Bytes, ApiError> {
        translate_request(&openai_body, from_openai::request)
    }

    fn answer(&self, body: &[u8], requested_model: &str) -> Result<ProviderAnswer, ApiError> {
        translated_answer(body, "usageMetadata", |value| {
            to_openai::response(value, requested_model)
        })
    }

    fn error(&self, status: u16, body: &Bytes, _detail: Option<&str>) -> Option<(u16, Bytes)> {
        to_openai::error(status, body).map(|b| (status, Bytes::from(b)))
    }

    /// Gemini also says so with a 400 `API_KEY_INVALID`.
    fn refuses_credentials(&self, status: u16, body: &[u8]) -> bool {
        match status {
            401 | 403 => true,
            400 => super::error::parse(body)
                .is_some_and(|e| e.reason.as_deref() == Some("API_KEY_INVALID")),
            _ => false,
        }
    }

    fn stream_decoder(&self, model: &str, created: u64) -> Option<Box<dyn StreamDecoder>> {
        Some(Box::new(to_openai::StreamTranslator::new(
            model, created, true,
        )))
    }

    /// Gemini counts with its own tokenizer, system instruction and tools
    /// included.
    fn count_tokens_request(
        &self,
        openai: &Value,
        upstream_model: &str,
    ) -> Option<Result<Bytes, ApiError>> {
        Some(from_openai::request(openai).map(|generate| {
            let count = count_tokens_request(generate, upstream_model);
            Bytes::from(serde_json::to_vec(&count).unwrap_or_default())
        }))
    }

    fn count_tokens_answer(&self, body: &[u8]) -> Option<u64> {
        count_tokens_answer(&serde_json::from_slice(body).ok()?)
    }
}

impl StreamDecoder for to_openai::StreamTranslator {
    fn on_frame(&mut self, frame: StreamFrame<'_>, out: &mut Vec<Vec<u8>>) -> Result<(), ApiError> {
        match frame {
            StreamFrame::Sse(data) => self.on_event(data, out),
            StreamFrame::Aws(_) => Err(wrong_framing(StreamFraming::Sse)),
        }
    }

    /// Gemini's finish reasons and usage come on events with no end marker
    /// and are only known to be final here.
    fn finish(&mut self, out: &mut Vec<Vec<u8>>) -> Result<(), ApiError> {
        to_openai::StreamTranslator::finish(self, out);
        Ok(())
    }

    fn provider_usage(&self) -> Option<Value> {
        to_openai::StreamTranslator::provider_usage(self)
    }
}
