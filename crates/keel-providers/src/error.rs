//! What can go wrong while building a provider or one of its requests.
//! Each variant names the provider (where there is one) and says what to fix.

/// A provider that cannot be built, or a request it cannot make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// A setting that cannot be used: a header, a URL, a region, a version.
    #[error("provider '{provider}': {detail}")]
    Setting { provider: String, detail: String },
    /// The provider's API does not serve the operation asked for.
    #[error("provider '{provider}': {detail}")]
    Unsupported { provider: String, detail: String },
    /// No usable credentials, or they could not be read or fetched yet.
    #[error("provider '{provider}': {detail}")]
    Credentials { provider: String, detail: String },
    /// The request could not be signed.
    #[error("provider '{provider}': cannot sign the request: {detail}")]
    Signing { provider: String, detail: String },
    /// An upstream's model list is not in its format (or there is none).
    #[error("{0}")]
    ModelList(String),
    /// The shared HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(String),
}

impl ProviderError {
    /// A [`ProviderError::Setting`] of `provider`.
    pub(crate) fn setting(provider: &str, detail: impl Into<String>) -> ProviderError {
        ProviderError::Setting {
            provider: provider.to_owned(),
            detail: detail.into(),
        }
    }
}
