//! AWS Bedrock behind Keel, through the Converse API: `POST
//! {base}/model/{modelId}/converse`, or `/converse-stream` for streamed
//! answers (binary event stream framing, see
//! `keel_api::bedrock::eventstream`). Bodies are translated by
//! `keel_api::bedrock`; this adapter only addresses and authorizes requests.
//!
//! - The base URL defaults to `https://bedrock-runtime.{region}.amazonaws.com`.
//! - The model id is percent-encoded into the path (every byte but
//!   `A-Z a-z 0-9 - . _ ~`), so ARNs and ids like `…-v1:0` travel intact.
//! - Every request is signed with SigV4 (service `bedrock`, the configured
//!   region), or carries a Bedrock API key as `Authorization: Bearer`; see
//!   [`credentials`] for where they come from.
//! - The runtime API lists no models, so [`Provider::models_request`] is
//!   `None`; Converse does not embed, so embeddings are refused.

pub mod credentials;
pub mod remote;
mod settings;
mod sign;
mod signing_keys;

use std::sync::RwLock;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, Method};
use secrecy::ExposeSecret;

use crate::{CallSpec, Operation, Provider, ProviderError, UpstreamRequest};
use keel_api::codec::Codec;

pub use credentials::{load_auth, load_credentials, Auth, Credentials, BEARER_TOKEN_ENV};
pub use remote::RemoteSource;
pub use settings::BedrockSettings;

/// The SigV4 service name Bedrock's runtime signs with.
pub const SIGNING_SERVICE: &str = "bedrock";

/// How this provider authorizes, prepared once (and again whenever fetched
/// credentials are refreshed).
enum Authorizer {
    SigV4(sign::Signer),
    Bearer(HeaderValue),
    /// Credentials from a [`RemoteSource`] not fetched yet.
    Pending,
}

/// A Bedrock runtime endpoint.
pub struct BedrockProvider {
    name: String,
    region: String,
    base_url: String,
    auth: RwLock<Authorizer>,
    /// Where temporary credentials are fetched from, when they are.
    remote: Option<RemoteSource>,
}

impl BedrockProvider {
    /// A provider for `settings` authorized by `auth` (see [`load_auth`]).
    /// Fails on a region or base URL that cannot be signed for, or an API
    /// key that cannot be a header.
    pub fn new(settings: BedrockSettings, auth: Auth) -> Result<Self, ProviderError> {
        let name = settings.name;
        let region = settings.region.trim().to_owned();
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ProviderError::setting(
                &name,
                format!("the region must look like us-east-1, not '{region}'"),
            ));
        }
        let base_url = settings
            .base_url
            .unwrap_or_else(|| format!("https://bedrock-runtime.{region}.amazonaws.com"))
            .trim_end_matches('/')
            .to_owned();
        let uri: http::Uri = base_url
            .parse()
            .map_err(|_| ProviderError::setting(&name, format!("invalid base URL '{base_url}'")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(ProviderError::setting(
                &name,
                format!("the base URL must be http(s)://host[:port][/path], not '{base_url}'"),
            ));
        }
        if uri.query().is_some() {
            return Err(ProviderError::setting(
                &name,
                "the base URL must not have a query",
            ));
        }
        let mut remote = None;
        let auth = match auth {
            Auth::SigV4(creds) => {
                Authorizer::SigV4(sign::Signer::new(&creds, &region, SIGNING_SERVICE))
            }
            Auth::Remote(source) => {
                remote = Some(source);
                Authorizer::Pending
            }
            Auth::ApiKey(key) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", key.expose_secret()))
                    .map_err(|_| {
                    ProviderError::setting(&name, "the Bedrock API key contains invalid characters")
                })?;
                value.set_sensitive(true);
                Authorizer::Bearer(value)
            }
        };
        Ok(BedrockProvider {
            name,
            region,
            base_url,
            auth: RwLock::new(auth),
            remote,
        })
    }

    /// The source its temporary credentials are fetched from, when they are
    /// (the caller fetches them, then refreshes them before they expire).
    pub fn remote_source(&self) -> Option<&RemoteSource> {
        self.remote.as_ref()
    }

    /// Signs from now on with `credentials` (freshly fetched ones).
    pub fn set_credentials(&self, credentials: &Credentials) {
        let signer = sign::Signer::new(credentials, &self.region, SIGNING_SERVICE);
        if let Ok(mut auth) = self.auth.write() {
            *auth = Authorizer::SigV4(signer);
        }
    }

    /// [`BedrockProvider::new`] with credentials from the process
    /// environment and the shared credentials file.
    pub fn from_environment(settings: BedrockSettings) -> Result<Self, ProviderError> {
        let auth = load_auth(&settings, &|k| std::env::var(k).ok()).map_err(|detail| {
            ProviderError::Credentials {
                provider: settings.name.clone(),
                detail,
            }
        })?;
        Self::new(settings, auth)
    }

    fn credentials_error(&self, detail: &str) -> ProviderError {
        ProviderError::Credentials {
            provider: self.name.clone(),
            detail: detail.to_owned(),
        }
    }

    /// The Converse (or ConverseStream) URL for `model`.
    pub fn url(&self, model: &str, stream: bool) -> String {
        let operation = if stream {
            "converse-stream"
        } else {
            "converse"
        };
        format!(
            "{}/model/{}/{operation}",
            self.base_url,
            encode_path_segment(model)
        )
    }

    /// Builds the signed request at `time` (tests pin it).
    fn request_at(
        &self,
        call: CallSpec<'_>,
        body: Bytes,
        time: SystemTime,
    ) -> Result<UpstreamRequest, ProviderError> {
        if call.operation != Operation::ChatCompletions {
            return Err(ProviderError::Unsupported {
                provider: self.name.clone(),
                detail: format!(
                    "Bedrock's Converse API does not serve {}",
                    call.operation.endpoint()
                ),
            });
        }
        let url = self.url(call.upstream_model, call.stream);
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let auth = self
            .auth
            .read()
            .map_err(|_| self.credentials_error("credentials unavailable"))?;
        match &*auth {
            Authorizer::Pending => {
                return Err(self.credentials_error("AWS credentials have not been fetched yet"))
            }
            Authorizer::Bearer(value) => {
                headers.insert(AUTHORIZATION, value.clone());
            }
            Authorizer::SigV4(signer) => {
                let signed = signer
                    .sign(
                        "POST",
                        &url,
                        &[("content-type", "application/json")],
                        &body,
                        time,
                    )
                    .map_err(|detail| ProviderError::Signing {
                        provider: self.name.clone(),
                        detail,
                    })?;
                for (name, value) in signed {
                    let mut value =
                        HeaderValue::from_str(&value).map_err(|_| ProviderError::Signing {
                            provider: self.name.clone(),
                            detail: "the signature is not a header value".into(),
                        })?;
                    value.set_sensitive(name != "x-amz-date");
                    headers.insert(HeaderName::from_static(name), value);
                }
            }
        }
        Ok(UpstreamRequest {
            method: Method::POST,
            url,
            headers,
            body,
        })
    }
}

impl Provider for BedrockProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn codec(&self) -> &'static dyn Codec {
        &keel_api::bedrock::codec::CODEC
    }

    fn request(&self, call: CallSpec<'_>, body: Bytes) -> Result<UpstreamRequest, ProviderError> {
        self.request_at(call, body, SystemTime::now())
    }

    fn models_request(&self) -> Option<UpstreamRequest> {
        None
    }

    fn parse_models(&self, _body: &[u8]) -> Result<Vec<String>, ProviderError> {
        Err(ProviderError::ModelList(
            "Bedrock's runtime API has no model list".to_owned(),
        ))
    }
}

/// Percent-encodes one path segment: every byte but RFC 3986 unreserved ones.
fn encode_path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
