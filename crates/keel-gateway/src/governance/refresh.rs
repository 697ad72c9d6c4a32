//! Keeps the in-memory directory equal to the store's: every
//! `governance.refresh_ms` one cheap query reads the directory's version,
//! and only a changed version reloads it. This is how a key revoked on one
//! node is refused by every other within a second.

use std::sync::Arc;

use crate::state::AppState;

/// Runs until shutdown.
pub async fn run(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(state.governance.config.refresh);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Some(redis) = &state.governance.redis {
            redis.flush_pending().await;
        }
        let stored = match state.store.directory_version().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the directory version; keys and budgets stay as loaded");
                continue;
            }
        };
        if stored != state.governance.directory.version() {
            if let Err(e) = state.governance.reload(state.store.as_ref()).await {
                tracing::warn!(error = %e, "cannot reload keys and budgets; they stay as loaded");
            }
        }
    }
}
