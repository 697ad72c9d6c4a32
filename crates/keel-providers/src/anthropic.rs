//! The native Anthropic adapter: `POST {base_url}/v1/messages` with the
//! `x-api-key` and `anthropic-version` headers.
//!
//! A client's own `anthropic-version` and `anthropic-beta` headers are
//! passed on (an Anthropic SDK pins the version it was written for, and
//! beta features only exist behind their header); without them the
//! configured version is sent. No other client header reaches the provider.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method};
use secrecy::{ExposeSecret, SecretString};

use crate::{CallSpec, Operation, Provider, ProviderError, UpstreamRequest};
use keel_api::codec::Codec;

/// Anthropic's API root.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The API version sent when the client names none (the one every current
/// Anthropic SDK sends).
pub const DEFAULT_VERSION: &str = "2023-06-01";

const VERSION_HEADER: HeaderName = HeaderName::from_static("anthropic-version");
const BETA_HEADER: HeaderName = HeaderName::from_static("anthropic-beta");
const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");

/// Settings of one Anthropic account.
#[derive(Debug, Clone)]
pub struct AnthropicSettings {
    pub name: String,
    pub base_url: String,
    pub api_key: Option<SecretString>,
    /// `anthropic-version` when the client sends none.
    pub version: String,
    /// Extra headers sent on every request.
    pub headers: Vec<(String, String)>,
}

/// An Anthropic Messages upstream.
pub struct AnthropicProvider {
    name: String,
    base_url: String,
    headers: HeaderMap,
}

impl AnthropicProvider {
    /// Prepares the fixed headers once.
    pub fn new(settings: AnthropicSettings) -> Result<Self, ProviderError> {
        let name = settings.name;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let version = HeaderValue::from_str(&settings.version)
            .map_err(|_| ProviderError::setting(&name, "invalid anthropic_version"))?;
        headers.insert(VERSION_HEADER, version);
        if let Some(key) = &settings.api_key {
            headers.insert(
                API_KEY_HEADER,
                crate::secret_header(&name, key.expose_secret())?,
            );
        }
        crate::extra_headers(&name, &settings.headers, &mut headers)?;
        Ok(AnthropicProvider {
            base_url: settings.base_url.trim_end_matches('/').to_owned(),
            name,
            headers,
        })
    }
}

impl Provider for AnthropicProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn codec(&self) -> &'static dyn Codec {
        &keel_api::anthropic::codec::CODEC
    }

    fn request(&self, call: CallSpec<'_>, body: Bytes) -> Result<UpstreamRequest, ProviderError> {
        let path = match call.operation {
            Operation::ChatCompletions => "v1/messages",
            Operation::CountTokens => "v1/messages/count_tokens",
            Operation::Embeddings => {
                return Err(ProviderError::Unsupported {
                    provider: self.name.clone(),
                    detail: "Anthropic has no embeddings API".into(),
                });
            }
        };
        let mut headers = self.headers.clone();
        if let Some(version) = call.client_headers.get(VERSION_HEADER) {
            headers.insert(VERSION_HEADER, version.clone());
        }
        for beta in call.client_headers.get_all(BETA_HEADER) {
            headers.append(BETA_HEADER, beta.clone());
        }
        Ok(UpstreamRequest {
            method: Method::POST,
            url: format!("{}/{path}", self.base_url),
            headers,
            body,
        })
    }

    fn models_request(&self) -> Option<UpstreamRequest> {
        let mut headers = self.headers.clone();
        headers.remove(CONTENT_TYPE);
        Some(UpstreamRequest {
            method: Method::GET,
            url: format!("{}/v1/models?limit=1000", self.base_url),
            headers,
            body: Bytes::new(),
        })
    }

    fn reads_client_headers(&self) -> bool {
        true
    }

    fn parse_models(&self, body: &[u8]) -> Result<Vec<String>, ProviderError> {
        // `{"data": [{"type": "model", "id": …}], "has_more": …}`: the ids sit
        // where OpenAI's do.
        keel_api::models::parse_model_ids(body)
            .map_err(|e| ProviderError::ModelList(format!("not an Anthropic model list: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider() -> AnthropicProvider {
        AnthropicProvider::new(AnthropicSettings {
            name: "claude".into(),
            base_url: "https://api.anthropic.test/".into(),
            api_key: Some(SecretString::from("sk-ant-test")),
            version: DEFAULT_VERSION.into(),
            headers: vec![],
        })
        .unwrap()
    }

    fn spec<'a>(operation: Operation, headers: &'a HeaderMap) -> CallSpec<'a> {
        CallSpec {
            operation,
            upstream_model: "claude-sonnet-4-5",
            stream: false,
            client_headers: headers,
        }
    }

    #[test]
    fn messages_url_key_and_default_version() {
        let client = HeaderMap::new();
        let req = provider()
            .request(spec(Operation::ChatCompletions, &client), Bytes::new())
            .unwrap();
        assert_eq!(req.url, "https://api.anthropic.test/v1/messages");
        assert_eq!(req.headers["x-api-key"], "sk-ant-test");
        assert!(req.headers["x-api-key"].is_sensitive());
        assert_eq!(req.headers["anthropic-version"], DEFAULT_VERSION);
        assert!(req.headers.get("authorization").is_none());
        let req = provider()
            .request(spec(Operation::CountTokens, &client), Bytes::new())
            .unwrap();
        assert_eq!(
            req.url,
            "https://api.anthropic.test/v1/messages/count_tokens"
        );
        assert!(provider()
            .request(spec(Operation::Embeddings, &client), Bytes::new())
            .is_err());
    }

    #[test]
    fn client_version_and_betas_pass_on_and_nothing_else() {
        let mut client = HeaderMap::new();
        client.insert("anthropic-version", HeaderValue::from_static("2024-01-01"));
        client.append("anthropic-beta", HeaderValue::from_static("a-2025"));
        client.append("anthropic-beta", HeaderValue::from_static("b-2025"));
        client.insert("x-api-key", HeaderValue::from_static("keel-client-key"));
        client.insert("cookie", HeaderValue::from_static("c=1"));
        let req = provider()
            .request(spec(Operation::ChatCompletions, &client), Bytes::new())
            .unwrap();
        assert_eq!(req.headers["anthropic-version"], "2024-01-01");
        let betas: Vec<_> = req.headers.get_all("anthropic-beta").iter().collect();
        assert_eq!(betas, ["a-2025", "b-2025"]);
        assert_eq!(
            req.headers["x-api-key"], "sk-ant-test",
            "Keel's key, not the client's"
        );
        assert!(req.headers.get("cookie").is_none());
    }

    #[test]
    fn model_list_request() {
        let req = provider().models_request().unwrap();
        assert_eq!(req.method, Method::GET);
        assert!(req.url.starts_with("https://api.anthropic.test/v1/models"));
        let ids = provider()
            .parse_models(br#"{"data":[{"type":"model","id":"claude-x","display_name":"X","created_at":"2025-01-01T00:00:00Z"}],"has_more":false,"first_id":"claude-x","last_id":"claude-x"}"#)
            .unwrap();
        assert_eq!(ids, ["claude-x"]);
    }
}
