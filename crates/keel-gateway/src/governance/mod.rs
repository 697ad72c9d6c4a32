//! Keys, budgets and rate limits in the running gateway: the directory and
//! ledger of `keel-policy`, loaded from the store at start, kept current by
//! a refresh task (so a change made on another node arrives within
//! `governance.refresh_ms`), and budget alerts sent by a task of their own.
//! Nothing here is awaited on the request path.

mod alerts;
mod refresh;

use std::sync::Arc;

use keel_policy::ledger::ThresholdCrossed;
use keel_policy::{Clock, Directory, Ledger, RedisLedger};
use keel_store::{Store, StoreError};
use tokio::sync::mpsc;

use crate::config::GovernanceConfig;

pub use alerts::alert_body;

/// The gateway's governance state.
pub struct Governance {
    pub directory: Directory,
    /// This node's counters (the only ones without Redis; the fallback
    /// with Redis and `fail_open`).
    pub ledger: Arc<Ledger>,
    /// Counters shared by every node, when `[counters] redis_url` is set.
    pub redis: Option<Arc<RedisLedger>>,
    pub config: GovernanceConfig,
    alerts: mpsc::UnboundedSender<ThresholdCrossed>,
}

/// The tasks that keep governance current, started once the state exists.
pub struct GovernanceTasks {
    alerts: mpsc::UnboundedReceiver<ThresholdCrossed>,
}

impl Governance {
    /// Loads the directory and the stored spend.
    pub async fn load(
        store: &dyn Store,
        config: GovernanceConfig,
        clock: Clock,
    ) -> Result<(Arc<Governance>, GovernanceTasks), StoreError> {
        let directory = Directory::default();
        directory.install(store.load_directory().await?);
        let ledger = Ledger::new(clock, config.alert_thresholds.clone());
        let stored = store.daily_spend_since(0).await?;
        ledger.seed(&stored);
        let (tx, rx) = mpsc::unbounded_channel();
        let redis = match &config.redis_url {
            None => None,
            Some(url) => {
                let alerts = tx.clone();
                let announce = Box::new(move |crossed: Vec<ThresholdCrossed>| {
                    for c in crossed {
                        let _ = alerts.send(c);
                    }
                });
                let redis = RedisLedger::connect(
                    url,
                    &config.redis_key_prefix,
                    config.when_redis_down,
                    ledger.clone(),
                    config.alert_thresholds.clone(),
                    announce,
                )
                .await
                .map_err(|e| StoreError::Counters(e.to_string()))?;
                redis
                    .seed_once(&stored)
                    .await
                    .map_err(|e| StoreError::Counters(e.to_string()))?;
                Some(redis)
            }
        };
        let governance = Arc::new(Governance {
            directory,
            ledger,
            redis,
            config,
            alerts: tx,
        });
        Ok((governance, GovernanceTasks { alerts: rx }))
    }

    /// Reloads the directory now (after a write through this node).
    pub async fn reload(&self, store: &dyn Store) -> Result<(), StoreError> {
        self.directory.install(store.load_directory().await?);
        Ok(())
    }

    /// Queues budget alerts for the alert task.
    pub fn announce(&self, crossed: Vec<ThresholdCrossed>) {
        for c in crossed {
            let _ = self.alerts.send(c);
        }
    }
}

impl GovernanceTasks {
    /// Starts the refresh and alert tasks.
    pub fn start(self, state: &Arc<crate::state::AppState>) {
        state.tasks.spawn(refresh::run(state.clone()));
        state.tasks.spawn(alerts::run(state.clone(), self.alerts));
    }
}
