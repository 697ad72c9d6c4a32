//! The OpenAI chat format as a provider's: Keel's inside shape, so requests
//! and answers pass as they are.

use bytes::Bytes;
use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::codec::{answer_json, raw_usage, Codec, ProviderAnswer, StreamDecoder, WireFormat};
use crate::ApiError;

/// The codec of OpenAI-compatible providers.
pub struct OpenAiCodec;

/// The one instance providers hand out.
pub static CODEC: OpenAiCodec = OpenAiCodec;

impl Codec for OpenAiCodec {
    fn format(&self) -> WireFormat {
        WireFormat::OpenAi
    }

    fn usage_on_request(&self) -> bool {
        true
    }

    /// The body as it is, but for `top_k`, which a translated request (an
    /// Anthropic client's) may carry: OpenAI's API has no top-k, so it is
    /// refused rather than sent on to be rejected, or silently ignored.
    fn request(&self, openai_body: Bytes) -> Result<Bytes, ApiError> {
        #[derive(Deserialize)]
        struct TopK {
            top_k: Option<IgnoredAny>,
        }
        let asks_top_k = serde_json::from_slice::<TopK>(&openai_body)
            .map(|probe| probe.top_k.is_some())
            .unwrap_or(false);
        if asks_top_k {
            return Err(ApiError::invalid(
                "top_k",
                "top_k: top-k sampling is not available for this model's provider (an OpenAI-compatible API)",
            ));
        }
        Ok(openai_body)
    }

    fn answer(&self, body: &[u8], _requested_model: &str) -> Result<ProviderAnswer, ApiError> {
        let openai = answer_json(body)?;
        let raw_usage = raw_usage(&openai, "usage");
        Ok(ProviderAnswer { openai, raw_usage })
    }

    /// The body as it came, when it already is an OpenAI error.
    fn error(&self, status: u16, body: &Bytes, _detail: Option<&str>) -> Option<(u16, Bytes)> {
        crate::error::is_openai_error_body(body).then(|| (status, body.clone()))
    }

    fn stream_decoder(&self, _model: &str, _created: u64) -> Option<Box<dyn StreamDecoder>> {
        None
    }
}
