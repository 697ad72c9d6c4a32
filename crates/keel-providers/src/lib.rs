//! Providers: where a model call goes and how it gets there. An adapter only
//! builds requests (no I/O); the shared [`executor`] does HTTP, timeouts and
//! error classification for every adapter alike.

pub mod anthropic;
pub mod bedrock;
mod connector;
mod error;
pub mod executor;
pub mod gemini;
pub mod openai;
pub mod registry;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method};

pub use error::ProviderError;
pub use executor::{Executor, ExecutorConfig, UpstreamError};
pub use keel_api::codec::{Codec, StreamFraming, WireFormat};
pub use registry::{ModelRegistry, Plan, Route};

/// One call as a provider needs to know it to build the request.
#[derive(Debug, Clone, Copy)]
pub struct CallSpec<'a> {
    pub operation: Operation,
    /// The model id the upstream knows.
    pub upstream_model: &'a str,
    /// The answer is to be streamed (some APIs use another URL for it).
    pub stream: bool,
    /// The client's request headers; an adapter may forward the few that
    /// belong to its own API (e.g. `anthropic-beta`) and nothing else.
    pub client_headers: &'a HeaderMap,
}

/// What the client asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    ChatCompletions,
    Embeddings,
    /// Anthropic's `/v1/messages/count_tokens`.
    CountTokens,
}

impl Operation {
    /// The record's `endpoint` name.
    pub fn endpoint(self) -> &'static str {
        match self {
            Operation::ChatCompletions => "chat.completions",
            Operation::Embeddings => "embeddings",
            Operation::CountTokens => "messages.count_tokens",
        }
    }
}

/// An HTTP request ready for the executor.
#[derive(Debug, Clone)]
pub struct UpstreamRequest {
    pub method: Method,
    pub url: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One upstream service (an account at a vendor, a local server…).
pub trait Provider: Send + Sync + 'static {
    /// The configured name, used in `provider/model` and in records.
    fn name(&self) -> &str;
    /// The behaviour of the format its API speaks: how requests are
    /// translated for it and its answers, errors and streams read back.
    fn codec(&self) -> &'static dyn Codec;
    /// Builds the request for `call` with `body` already in this provider's
    /// format. Fails only when the request cannot be built (e.g. signing
    /// credentials are missing).
    fn request(&self, call: CallSpec<'_>, body: Bytes) -> Result<UpstreamRequest, ProviderError>;
    /// The request that lists the upstream's models, if it can list them.
    fn models_request(&self) -> Option<UpstreamRequest>;
    /// Reads the model ids out of the answer to [`Provider::models_request`].
    fn parse_models(&self, body: &[u8]) -> Result<Vec<String>, ProviderError>;
    /// Whether Keel may add `stream_options.include_usage` to streams (some
    /// OpenAI-compatible servers reject the field; their streams are then
    /// counted with the tokenizer).
    fn stream_usage(&self) -> bool {
        true
    }
    /// Whether [`CallSpec::client_headers`] matters to this adapter; when
    /// not, the gateway passes an empty map and saves copying the client's.
    fn reads_client_headers(&self) -> bool {
        false
    }
}

/// A credential as a header value, marked sensitive so it never shows in
/// logs or debug output.
pub(crate) fn secret_header(provider: &str, secret: &str) -> Result<HeaderValue, ProviderError> {
    let mut value = HeaderValue::from_str(secret)
        .map_err(|_| ProviderError::setting(provider, "the API key contains invalid characters"))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Adds a provider's configured extra headers, refusing invalid ones with a
/// message naming the provider.
pub(crate) fn extra_headers(
    provider: &str,
    extra: &[(String, String)],
    headers: &mut HeaderMap,
) -> Result<(), ProviderError> {
    for (k, v) in extra {
        let name = HeaderName::try_from(k.as_str())
            .map_err(|_| ProviderError::setting(provider, format!("invalid header name '{k}'")))?;
        let value = HeaderValue::from_str(v).map_err(|_| {
            ProviderError::setting(provider, format!("invalid value for header '{k}'"))
        })?;
        headers.insert(name, value);
    }
    Ok(())
}
