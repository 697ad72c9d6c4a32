//! The OpenAI-compatible adapter: OpenAI itself, Azure OpenAI (deployment
//! URLs, `api-version`, `api-key` header), and the many servers that copy
//! OpenAI's API (vLLM, llama.cpp, Ollama, Groq, Together, Mistral…).

use std::collections::HashMap;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, Method};
use secrecy::{ExposeSecret, SecretString};

use crate::{CallSpec, Operation, Provider, ProviderError, UpstreamRequest};
use keel_api::codec::Codec;

/// How the provider addresses models and takes its key.
#[derive(Debug, Clone)]
pub enum Flavor {
    /// `{base_url}/chat/completions`, `Authorization: Bearer`.
    OpenAi,
    /// `{base_url}/openai/deployments/{deployment}/chat/completions?api-version=…`,
    /// `api-key` header; `deployments` maps model names to deployment names
    /// (a model without an entry uses its own name).
    Azure {
        api_version: String,
        deployments: HashMap<String, String>,
    },
}

/// Settings of one OpenAI-compatible provider.
#[derive(Debug, Clone)]
pub struct OpenAiSettings {
    pub name: String,
    pub base_url: String,
    pub api_key: Option<SecretString>,
    pub flavor: Flavor,
    /// Extra headers sent on every request (e.g. `OpenAI-Organization`).
    pub headers: Vec<(String, String)>,
    /// Ask for usage on streams (`stream_options.include_usage`).
    pub stream_usage: bool,
}

/// An OpenAI-compatible upstream.
pub struct OpenAiProvider {
    settings: OpenAiSettings,
    base_url: String,
    headers: HeaderMap,
}

impl OpenAiProvider {
    /// Prepares the fixed parts (trimmed URL, auth and extra headers) once.
    pub fn new(settings: OpenAiSettings) -> Result<Self, ProviderError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(key) = &settings.api_key {
            let (name, value) = match settings.flavor {
                Flavor::OpenAi => (AUTHORIZATION, format!("Bearer {}", key.expose_secret())),
                Flavor::Azure { .. } => (
                    HeaderName::from_static("api-key"),
                    key.expose_secret().to_owned(),
                ),
            };
            headers.insert(name, crate::secret_header(&settings.name, &value)?);
        }
        crate::extra_headers(&settings.name, &settings.headers, &mut headers)?;
        let base_url = settings.base_url.trim_end_matches('/').to_owned();
        Ok(OpenAiProvider {
            settings,
            base_url,
            headers,
        })
    }

    fn url(&self, path: &str, model: &str) -> String {
        match &self.settings.flavor {
            Flavor::OpenAi => format!("{}/{path}", self.base_url),
            Flavor::Azure {
                api_version,
                deployments,
            } => {
                let deployment = deployments.get(model).map(String::as_str).unwrap_or(model);
                format!(
                    "{}/openai/deployments/{deployment}/{path}?api-version={api_version}",
                    self.base_url
                )
            }
        }
    }
}

impl Provider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn codec(&self) -> &'static dyn Codec {
        &keel_api::chat::codec::CODEC
    }

    fn request(&self, call: CallSpec<'_>, body: Bytes) -> Result<UpstreamRequest, ProviderError> {
        let path = match call.operation {
            Operation::ChatCompletions => "chat/completions",
            Operation::Embeddings => "embeddings",
            Operation::CountTokens => {
                return Err(ProviderError::Unsupported {
                    provider: self.name().to_owned(),
                    detail: "OpenAI-compatible APIs have no token counting endpoint".into(),
                })
            }
        };
        Ok(UpstreamRequest {
            method: Method::POST,
            url: self.url(path, call.upstream_model),
            headers: self.headers.clone(),
            body,
        })
    }

    fn models_request(&self) -> Option<UpstreamRequest> {
        let url = match &self.settings.flavor {
            Flavor::OpenAi => format!("{}/models", self.base_url),
            Flavor::Azure { api_version, .. } => {
                format!("{}/openai/models?api-version={api_version}", self.base_url)
            }
        };
        let mut headers = self.headers.clone();
        headers.remove(CONTENT_TYPE);
        Some(UpstreamRequest {
            method: Method::GET,
            url,
            headers,
            body: Bytes::new(),
        })
    }

    fn parse_models(&self, body: &[u8]) -> Result<Vec<String>, ProviderError> {
        keel_api::models::parse_model_ids(body)
            .map_err(|e| ProviderError::ModelList(format!("not an OpenAI model list: {e}")))
    }

    fn stream_usage(&self) -> bool {
        self.settings.stream_usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(operation: Operation, model: &'a str, headers: &'a HeaderMap) -> CallSpec<'a> {
        CallSpec {
            operation,
            upstream_model: model,
            stream: false,
            client_headers: headers,
        }
    }

    fn provider(flavor: Flavor) -> OpenAiProvider {
        OpenAiProvider::new(OpenAiSettings {
            name: "p".into(),
            base_url: "https://example.test/v1/".into(),
            api_key: Some(SecretString::from("sk-test")),
            flavor,
            headers: vec![("OpenAI-Organization".into(), "org-1".into())],
            stream_usage: true,
        })
        .unwrap()
    }

    #[test]
    fn openai_urls_and_bearer_auth() {
        let p = provider(Flavor::OpenAi);
        let req = p
            .request(
                spec(Operation::ChatCompletions, "gpt-4o", &HeaderMap::new()),
                Bytes::from_static(b"{}"),
            )
            .unwrap();
        assert_eq!(req.url, "https://example.test/v1/chat/completions");
        assert_eq!(req.headers[AUTHORIZATION], "Bearer sk-test");
        assert_eq!(req.headers["openai-organization"], "org-1");
        assert!(req.headers[AUTHORIZATION].is_sensitive());
        let req = p
            .request(
                spec(Operation::Embeddings, "e", &HeaderMap::new()),
                Bytes::new(),
            )
            .unwrap();
        assert_eq!(req.url, "https://example.test/v1/embeddings");
        assert_eq!(
            p.models_request().unwrap().url,
            "https://example.test/v1/models"
        );
    }

    #[test]
    fn azure_uses_deployments_api_version_and_api_key() {
        let p = provider(Flavor::Azure {
            api_version: "2024-10-21".into(),
            deployments: HashMap::from([("gpt-4o".to_owned(), "prod-4o".to_owned())]),
        });
        let req = p
            .request(
                spec(Operation::ChatCompletions, "gpt-4o", &HeaderMap::new()),
                Bytes::new(),
            )
            .unwrap();
        assert_eq!(
            req.url,
            "https://example.test/v1/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21"
        );
        assert_eq!(req.headers["api-key"], "sk-test");
        assert!(req.headers.get(AUTHORIZATION).is_none());
        let req = p
            .request(
                spec(
                    Operation::Embeddings,
                    "text-embedding-3-small",
                    &HeaderMap::new(),
                ),
                Bytes::new(),
            )
            .unwrap();
        assert!(req
            .url
            .contains("/deployments/text-embedding-3-small/embeddings?"));
    }

    #[test]
    fn no_key_sends_no_auth_header() {
        let p = OpenAiProvider::new(OpenAiSettings {
            name: "local".into(),
            base_url: "http://127.0.0.1:8090/v1".into(),
            api_key: None,
            flavor: Flavor::OpenAi,
            headers: vec![],
            stream_usage: true,
        })
        .unwrap();
        let req = p
            .request(
                spec(Operation::ChatCompletions, "m", &HeaderMap::new()),
                Bytes::new(),
            )
            .unwrap();
        assert!(req.headers.get(AUTHORIZATION).is_none());
    }
}
