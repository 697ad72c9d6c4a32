//! The Google Gemini API adapter (`generativelanguage.googleapis.com`): chat
//! calls go to `{base_url}/v1beta/models/{model}:generateContent`, or
//! `:streamGenerateContent?alt=sse` when streaming, with the key in the
//! `x-goog-api-key` header. Bodies are already in Gemini's shape (see
//! `keel_api::gemini::from_openai`); the model is named by the URL only.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::{CallSpec, Operation, Provider, ProviderError, UpstreamRequest};
use keel_api::codec::Codec;

/// Where Google serves the Gemini API.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";

/// The header Google reads the API key from.
pub const API_KEY_HEADER: &str = "x-goog-api-key";

/// Settings of one Gemini provider.
#[derive(Debug, Clone)]
pub struct GeminiSettings {
    pub name: String,
    /// Without the API version; [`DEFAULT_BASE_URL`] for Google itself.
    pub base_url: String,
    pub api_key: Option<SecretString>,
    /// Extra headers sent on every request.
    pub headers: Vec<(String, String)>,
}

/// A Gemini API upstream.
pub struct GeminiProvider {
    name: String,
    base_url: String,
    headers: HeaderMap,
}

impl GeminiProvider {
    /// Prepares the fixed parts (trimmed URL, key and extra headers) once.
    pub fn new(settings: GeminiSettings) -> Result<Self, ProviderError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(key) = &settings.api_key {
            headers.insert(
                HeaderName::from_static(API_KEY_HEADER),
                crate::secret_header(&settings.name, key.expose_secret())?,
            );
        }
        crate::extra_headers(&settings.name, &settings.headers, &mut headers)?;
        let base_url = match settings.base_url.trim_end_matches('/') {
            "" => DEFAULT_BASE_URL.to_owned(),
            url => url.to_owned(),
        };
        Ok(GeminiProvider {
            name: settings.name,
            base_url,
            headers,
        })
    }
}

impl Provider for GeminiProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn codec(&self) -> &'static dyn Codec {
        &keel_api::gemini::codec::CODEC
    }

    fn request(&self, call: CallSpec<'_>, body: Bytes) -> Result<UpstreamRequest, ProviderError> {
        if call.operation == Operation::Embeddings {
            return Err(ProviderError::Unsupported {
                provider: self.name.clone(),
                detail: "embeddings are not supported for Gemini providers".into(),
            });
        }
        let method = match (call.operation, call.stream) {
            (Operation::CountTokens, _) => "countTokens",
            (_, true) => "streamGenerateContent?alt=sse",
            (_, false) => "generateContent",
        };
        // A model configured as `models/x` is addressed as `x`.
        let model = call
            .upstream_model
            .strip_prefix("models/")
            .unwrap_or(call.upstream_model);
        Ok(UpstreamRequest {
            method: Method::POST,
            url: format!("{}/v1beta/models/{model}:{method}", self.base_url),
            headers: self.headers.clone(),
            body,
        })
    }

    /// `GET {base}/v1beta/models`: the first page only (up to 50 models by
    /// Google's default), which lists the current models.
    fn models_request(&self) -> Option<UpstreamRequest> {
        let mut headers = self.headers.clone();
        headers.remove(CONTENT_TYPE);
        Some(UpstreamRequest {
            method: Method::GET,
            url: format!("{}/v1beta/models", self.base_url),
            headers,
            body: Bytes::new(),
        })
    }

    fn parse_models(&self, body: &[u8]) -> Result<Vec<String>, ProviderError> {
        parse_model_names(body)
    }
}

/// The model ids in a Gemini model list (`{"models": [{"name":
/// "models/gemini-2.5-flash", …}], "nextPageToken": …}`), without the
/// `models/` prefix.
pub fn parse_model_names(body: &[u8]) -> Result<Vec<String>, ProviderError> {
    #[derive(Deserialize)]
    struct List {
        #[serde(default)]
        models: Vec<Model>,
    }
    #[derive(Deserialize)]
    struct Model {
        name: String,
    }
    let list: List = serde_json::from_slice(body)
        .map_err(|e| ProviderError::ModelList(format!("not a Gemini model list: {e}")))?;
    Ok(list
        .models
        .into_iter()
        .map(|m| match m.name.strip_prefix("models/") {
            Some(id) => id.to_owned(),
            None => m.name,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<'a>(
        operation: Operation,
        model: &'a str,
        stream: bool,
        headers: &'a HeaderMap,
    ) -> CallSpec<'a> {
        CallSpec {
            operation,
            upstream_model: model,
            stream,
            client_headers: headers,
        }
    }

    fn provider(base_url: &str) -> GeminiProvider {
        GeminiProvider::new(GeminiSettings {
            name: "g".into(),
            base_url: base_url.into(),
            api_key: Some(SecretString::from("AIza-test")),
            headers: vec![("x-goog-user-project".into(), "proj-1".into())],
        })
        .unwrap()
    }

    #[test]
    fn urls_name_the_model_and_the_method() {
        let p = provider("https://example.test/");
        let none = HeaderMap::new();
        let req = p
            .request(
                spec(Operation::ChatCompletions, "gemini-2.5-flash", false, &none),
                Bytes::from_static(b"{}"),
            )
            .unwrap();
        assert_eq!(req.method, Method::POST);
        assert_eq!(
            req.url,
            "https://example.test/v1beta/models/gemini-2.5-flash:generateContent"
        );
        assert_eq!(req.body, Bytes::from_static(b"{}"));
        let req = p
            .request(
                spec(
                    Operation::ChatCompletions,
                    "models/gemini-2.5-pro",
                    true,
                    &none,
                ),
                Bytes::new(),
            )
            .unwrap();
        assert_eq!(
            req.url,
            "https://example.test/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
        );
    }

    #[test]
    fn the_key_goes_in_a_sensitive_header_with_the_extra_headers() {
        let p = provider(DEFAULT_BASE_URL);
        let none = HeaderMap::new();
        let req = p
            .request(
                spec(Operation::ChatCompletions, "m", false, &none),
                Bytes::new(),
            )
            .unwrap();
        assert_eq!(req.headers[API_KEY_HEADER], "AIza-test");
        assert!(req.headers[API_KEY_HEADER].is_sensitive());
        assert_eq!(req.headers["x-goog-user-project"], "proj-1");
        assert_eq!(req.headers[CONTENT_TYPE], "application/json");
        assert!(req
            .url
            .starts_with("https://generativelanguage.googleapis.com/v1beta/"));
        let listing = p.models_request().unwrap();
        assert_eq!(listing.method, Method::GET);
        assert_eq!(
            listing.url,
            "https://generativelanguage.googleapis.com/v1beta/models"
        );
        assert_eq!(listing.headers[API_KEY_HEADER], "AIza-test");
        assert!(listing.headers.get(CONTENT_TYPE).is_none());
    }

    #[test]
    fn no_key_no_header_and_an_empty_base_is_google() {
        let p = GeminiProvider::new(GeminiSettings {
            name: "g".into(),
            base_url: String::new(),
            api_key: None,
            headers: vec![],
        })
        .unwrap();
        let req = p
            .request(
                spec(Operation::ChatCompletions, "m", false, &HeaderMap::new()),
                Bytes::new(),
            )
            .unwrap();
        assert!(req.headers.get(API_KEY_HEADER).is_none());
        assert_eq!(
            req.url,
            "https://generativelanguage.googleapis.com/v1beta/models/m:generateContent"
        );
        assert_eq!(p.codec().format(), crate::WireFormat::Gemini);
        assert!(p.stream_usage());
    }

    #[test]
    fn embeddings_and_bad_settings_are_refused() {
        let p = provider(DEFAULT_BASE_URL);
        let err = p
            .request(
                spec(
                    Operation::Embeddings,
                    "text-embedding-004",
                    false,
                    &HeaderMap::new(),
                ),
                Bytes::new(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("not supported"), "{err}");
        let bad = GeminiProvider::new(GeminiSettings {
            name: "g".into(),
            base_url: DEFAULT_BASE_URL.into(),
            api_key: Some(SecretString::from("bad\nkey")),
            headers: vec![],
        });
        assert!(bad.is_err());
    }

    #[test]
    fn model_lists_lose_the_models_prefix() {
        let body = br#"{"models": [
            {"name": "models/gemini-2.5-flash", "version": "001", "displayName": "Gemini 2.5 Flash",
             "supportedGenerationMethods": ["generateContent", "countTokens"]},
            {"name": "models/text-embedding-004", "supportedGenerationMethods": ["embedContent"]},
            {"name": "tunedModels/mine"}
        ], "nextPageToken": "Ch5tb2RlbHMv"}"#;
        assert_eq!(
            parse_model_names(body).unwrap(),
            ["gemini-2.5-flash", "text-embedding-004", "tunedModels/mine"]
        );
        assert_eq!(parse_model_names(b"{}").unwrap(), Vec::<String>::new());
        assert!(parse_model_names(b"[1]").is_err());
    }
}
