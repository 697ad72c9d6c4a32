//! Building the model registry: models listed in the config, plus those an
//! upstream reports on its `/models` when `discover = true`.

use std::sync::Arc;
use std::time::Duration;

use keel_providers::anthropic::{AnthropicProvider, AnthropicSettings};
use keel_providers::bedrock::{BedrockProvider, BedrockSettings};
use keel_providers::gemini::{GeminiProvider, GeminiSettings};
use keel_providers::openai::{OpenAiProvider, OpenAiSettings};
use keel_providers::{Executor, ModelRegistry, Provider, ProviderError};

use crate::config::{ProviderConfig, ProviderKind};
use crate::state::AppState;

/// How long start-up waits for a provider's model list.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a failed discovery is retried in the background.
const RETRY_EVERY: Duration = Duration::from_secs(15);

/// A provider with what it is configured to serve.
pub struct ProviderEntry {
    pub provider: Arc<dyn Provider>,
    pub config: ProviderConfig,
    /// Models found by discovery (empty until it succeeds).
    pub discovered: Option<Vec<String>>,
    /// A Bedrock provider whose temporary credentials Keel fetches itself.
    pub fetches_credentials: Option<Arc<BedrockProvider>>,
}

/// Instantiates the adapters for the configured providers.
pub fn providers(configs: &[ProviderConfig]) -> Result<Vec<ProviderEntry>, ProviderError> {
    configs
        .iter()
        .map(|c| {
            let (provider, fetches_credentials) = adapter(c)?;
            Ok(ProviderEntry {
                provider,
                fetches_credentials,
                config: c.clone(),
                discovered: None,
            })
        })
        .collect()
}

/// An adapter, and the same adapter again when it is a Bedrock provider
/// whose credentials Keel must fetch.
type Adapter = (Arc<dyn Provider>, Option<Arc<BedrockProvider>>);

/// The adapter for one configured provider.
fn adapter(c: &ProviderConfig) -> Result<Adapter, ProviderError> {
    let provider: Arc<dyn Provider> = match &c.kind {
        ProviderKind::OpenAi(flavor) => Arc::new(OpenAiProvider::new(OpenAiSettings {
            name: c.name.clone(),
            base_url: c.base_url.clone(),
            api_key: c.api_key.clone(),
            flavor: flavor.clone(),
            headers: c.headers.clone(),
            stream_usage: c.stream_usage,
        })?),
        ProviderKind::Anthropic { version } => {
            Arc::new(AnthropicProvider::new(AnthropicSettings {
                name: c.name.clone(),
                base_url: c.base_url.clone(),
                api_key: c.api_key.clone(),
                version: version.clone(),
                headers: c.headers.clone(),
            })?)
        }
        ProviderKind::Bedrock {
            region,
            access_key_id,
            secret_access_key,
            session_token,
            profile,
        } => {
            let mut settings = BedrockSettings::new(&c.name, region);
            settings.base_url = Some(c.base_url.clone());
            settings.access_key_id = access_key_id.clone();
            settings.secret_access_key = secret_access_key.clone();
            settings.session_token = session_token.clone();
            settings.profile = profile.clone();
            settings.api_key = c.api_key.clone();
            let bedrock = Arc::new(BedrockProvider::from_environment(settings)?);
            let fetches = bedrock.remote_source().is_some().then(|| bedrock.clone());
            return Ok((bedrock, fetches));
        }
        ProviderKind::Gemini => Arc::new(GeminiProvider::new(GeminiSettings {
            name: c.name.clone(),
            base_url: c.base_url.clone(),
            api_key: c.api_key.clone(),
            headers: c.headers.clone(),
        })?),
    };
    Ok((provider, None))
}

/// Asks one provider for its models.
pub async fn discover(executor: &Executor, provider: &dyn Provider) -> Result<Vec<String>, String> {
    let request = provider
        .models_request()
        .ok_or_else(|| "this provider cannot list its models".to_owned())?;
    let response = executor
        .send(request, DISCOVERY_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let deadline = tokio::time::Instant::now() + DISCOVERY_TIMEOUT;
    let body = executor
        .read_body(response, deadline)
        .await
        .map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("HTTP {status} from the model list"));
    }
    provider.parse_models(&body).map_err(|e| e.to_string())
}

/// Runs discovery for every provider that wants it, all at once.
pub async fn discover_all(executor: &Executor, entries: &mut [ProviderEntry]) {
    let wanted: Vec<usize> = (0..entries.len())
        .filter(|&i| entries[i].config.discover && entries[i].discovered.is_none())
        .collect();
    let results = futures_util::future::join_all(
        wanted
            .iter()
            .map(|&i| discover(executor, entries[i].provider.as_ref())),
    )
    .await;
    for (&i, result) in wanted.iter().zip(results) {
        let name = entries[i].provider.name().to_owned();
        match result {
            Ok(models) => {
                tracing::info!(provider = %name, models = models.len(), "discovered models");
                entries[i].discovered = Some(models);
            }
            Err(e) => {
                tracing::warn!(provider = %name, error = %e, "model discovery failed; retrying in the background")
            }
        }
    }
}

/// The registry for the current state of `entries`.
pub fn registry(entries: &[ProviderEntry]) -> ModelRegistry {
    let mut registry = ModelRegistry::default();
    for e in entries {
        let mut models = e.config.models.clone();
        for m in e.discovered.iter().flatten() {
            if !models.contains(m) {
                models.push(m.clone());
            }
        }
        registry.add(e.provider.clone(), &models);
    }
    registry
}

/// Retries failed discoveries until each has succeeded or Keel stops.
pub async fn retry_in_background(state: Arc<AppState>, mut entries: Vec<ProviderEntry>) {
    while entries
        .iter()
        .any(|e| e.config.discover && e.discovered.is_none())
    {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tokio::time::sleep(RETRY_EVERY) => {}
        }
        discover_all(&state.executor, &mut entries).await;
        state.set_registry(registry(&entries));
    }
}
