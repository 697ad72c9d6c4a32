//! The Bedrock Converse format as a provider's: AWS event-stream framing
//! and errors typed in a response header.

use bytes::Bytes;
use serde_json::Value;

use super::error::ERROR_TYPE_HEADER;
use super::{from_openai, to_openai};
use crate::codec::{
    translate_request, translated_answer, wrong_framing, Codec, ProviderAnswer, StreamDecoder,
    StreamFrame, StreamFraming, WireFormat,
};
use crate::ApiError;

/// The codec of Bedrock providers.
pub struct BedrockCodec;

/// The one instance providers hand out.
pub static CODEC: BedrockCodec = BedrockCodec;

impl Codec for BedrockCodec {
    fn format(&self) -> WireFormat {
        WireFormat::Bedrock
    }

    fn framing(&self) -> StreamFraming {
        StreamFraming::AwsEventStream
    }

    fn request(&self, openai_body: Bytes) -> Result<Bytes, ApiError> {
        translate_request(&openai_body, from_openai::request)
    }

    fn answer(&self, body: &[u8], requested_model: &str) -> Result<ProviderAnswer, ApiError> {
        translated_answer(body, "usage", |value| {
            to_openai::response(value, requested_model)
        })
    }

    fn error(&self, status: u16, body: &Bytes, detail: Option<&str>) -> Option<(u16, Bytes)> {
        let (status, body) = to_openai::error(status, detail, body);
        Some((status, Bytes::from(body)))
    }

    fn error_detail_header(&self) -> Option<&'static str> {
        Some(ERROR_TYPE_HEADER)
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
            StreamFrame::Aws(message) => self.on_message(message, out),
            StreamFrame::Sse(_) => Err(wrong_framing(StreamFraming::AwsEventStream)),
        }
    }

    /// An error when the stream ended without `messageStop`.
    fn finish(&mut self, out: &mut Vec<Vec<u8>>) -> Result<(), ApiError> {
        to_openai::StreamTranslator::finish(self, out)
    }

    fn provider_usage(&self) -> Option<Value> {
        to_openai::StreamTranslator::provider_usage(self)
    }
}
