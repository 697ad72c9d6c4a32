//! What every request shares: config, providers, the record sink, prices.

use std::sync::{Arc, RwLock};

use bytes::Bytes;
use keel_providers::{Executor, ModelRegistry};
use keel_store::{RecordSink, Store};
use secrecy::SecretString;

use crate::config::Config;
use crate::pricing::PriceCatalog;
use crate::tasks::Tasks;

/// Shared by all requests, by reference.
pub struct AppState {
    pub config: Config,
    pub master_key: SecretString,
    pub executor: Executor,
    models: RwLock<Arc<ModelSnapshot>>,
    pub sink: RecordSink,
    pub store: Arc<dyn Store>,
    pub prices: Arc<PriceCatalog>,
    pub tasks: Tasks,
    pub metrics: crate::metrics::Metrics,
    /// Keys, budgets and rate limits.
    pub governance: Arc<crate::governance::Governance>,
    /// Cancelled when Keel starts shutting down.
    pub shutdown: tokio_util::sync::CancellationToken,
}

/// The registry plus its rendered `/v1/models` body, swapped as one when
/// discovery finds models.
pub struct ModelSnapshot {
    pub registry: ModelRegistry,
    pub list_body: Bytes,
    /// The same list in Anthropic's shape, for Anthropic clients.
    pub anthropic_list_body: Bytes,
}

/// Everything the state is made of, named, so assembling it reads as what
/// each part is.
pub struct StateParts {
    pub config: Config,
    pub master_key: SecretString,
    pub executor: Executor,
    /// The registry known at start; discovery may replace it.
    pub registry: ModelRegistry,
    pub sink: RecordSink,
    pub store: Arc<dyn Store>,
    pub prices: PriceCatalog,
    pub tasks: Tasks,
    pub metrics: crate::metrics::Metrics,
    pub governance: Arc<crate::governance::Governance>,
}

impl AppState {
    /// Assembles the state from its parts.
    pub fn new(parts: StateParts) -> Self {
        AppState {
            config: parts.config,
            master_key: parts.master_key,
            executor: parts.executor,
            models: RwLock::new(Arc::new(ModelSnapshot::new(parts.registry))),
            sink: parts.sink,
            store: parts.store,
            prices: Arc::new(parts.prices),
            tasks: parts.tasks,
            metrics: parts.metrics,
            governance: parts.governance,
            shutdown: tokio_util::sync::CancellationToken::new(),
        }
    }

    /// The current model snapshot (cheap: one Arc clone under a read lock).
    pub fn models(&self) -> Arc<ModelSnapshot> {
        match self.models.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the registry (after discovery).
    pub fn set_registry(&self, registry: ModelRegistry) {
        let snapshot = Arc::new(ModelSnapshot::new(registry));
        match self.models.write() {
            Ok(mut guard) => *guard = snapshot,
            Err(poisoned) => *poisoned.into_inner() = snapshot,
        }
    }
}

impl ModelSnapshot {
    fn new(registry: ModelRegistry) -> Self {
        let (list_body, anthropic_list_body) = render_lists(&registry, |_| true);
        ModelSnapshot {
            registry,
            list_body,
            anthropic_list_body,
        }
    }

    /// The model list (OpenAI's shape, or Anthropic's) with only the models
    /// `allowed` lets through: what a key with an allow-list sees.
    pub fn list_for(&self, allowed: impl Fn(&str) -> bool, anthropic: bool) -> Bytes {
        let (openai, anthropic_body) = render_lists(&self.registry, allowed);
        match anthropic {
            true => anthropic_body,
            false => openai,
        }
    }
}

/// `/v1/models` in OpenAI's and Anthropic's shapes.
fn render_lists(registry: &ModelRegistry, allowed: impl Fn(&str) -> bool) -> (Bytes, Bytes) {
    let mut seen = std::collections::HashSet::new();
    let entries = registry
        .models()
        .filter(|(_, model)| allowed(model) && seen.insert(*model))
        .map(|(provider, model)| keel_api::models::ModelEntry {
            id: model.to_owned(),
            object: "model".to_owned(),
            created: 0,
            owned_by: provider.to_owned(),
        })
        .collect();
    let list = keel_api::models::ModelList::new(entries);
    let anthropic_list =
        keel_api::anthropic::models::model_list(list.data.iter().map(|m| m.id.as_str()));
    (
        Bytes::from(serde_json::to_vec(&list).unwrap_or_default()),
        Bytes::from(anthropic_list.to_string()),
    )
}
