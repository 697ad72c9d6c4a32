//! Budget alerts: each threshold a budget crosses is claimed in the store
//! (so it fires once per period, across restarts and nodes) and POSTed as
//! JSON to `governance.alert_webhook_url`, or logged when none is set.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use keel_policy::ledger::{format_usd, ThresholdCrossed};
use keel_providers::UpstreamRequest;
use serde_json::json;
use tokio::sync::mpsc;

use crate::state::AppState;

/// How long one webhook delivery may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries tried per alert before giving up (logged).
const ATTEMPTS: u32 = 3;

/// Runs until shutdown (and the queue is empty).
pub async fn run(state: Arc<AppState>, mut queue: mpsc::UnboundedReceiver<ThresholdCrossed>) {
    loop {
        let crossed = tokio::select! {
            c = queue.recv() => c,
            _ = state.shutdown.cancelled() => return,
        };
        let Some(crossed) = crossed else { return };
        match state
            .store
            .claim_alert(
                &crossed.scope,
                crossed.period_start_ms,
                i64::from(crossed.threshold),
            )
            .await
        {
            Ok(true) => deliver(&state, &crossed).await,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, scope = %crossed.scope, "cannot record a budget alert; not sent")
            }
        }
    }
}

async fn deliver(state: &AppState, crossed: &ThresholdCrossed) {
    let config = &state.governance.config;
    tracing::warn!(
        scope = %crossed.scope,
        threshold = crossed.threshold,
        spent_usd = crossed.spent_usd,
        "budget threshold reached"
    );
    let Some(url) = &config.alert_webhook_url else {
        return;
    };
    let body = Bytes::from(alert_body(crossed, config.alert_webhook_slack).to_string());
    for attempt in 1..=ATTEMPTS {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let request = UpstreamRequest {
            method: Method::POST,
            url: url.clone(),
            headers,
            body: body.clone(),
        };
        match state.executor.send(request, DELIVERY_TIMEOUT).await {
            Ok(resp) if resp.status().is_success() => return,
            Ok(resp) => tracing::warn!(
                status = resp.status().as_u16(),
                attempt,
                "budget alert webhook refused"
            ),
            Err(e) => tracing::warn!(error = %e, attempt, "budget alert webhook unreachable"),
        }
        tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
    }
}

/// The webhook body: Keel's JSON, or a Slack-compatible `{"text": …}`.
pub fn alert_body(c: &ThresholdCrossed, slack: bool) -> serde_json::Value {
    let limit = match (c.limit_usd, c.limit_tokens) {
        (Some(usd), _) => format_usd(usd),
        (None, Some(tokens)) => format!("{tokens} tokens"),
        (None, None) => "no limit".to_owned(),
    };
    let text = format!(
        "Keel budget alert: {} reached {}% of its {} budget of {limit} ({} and {} tokens spent this period).",
        c.scope,
        c.threshold,
        c.period.as_str(),
        format_usd(c.spent_usd),
        c.spent_tokens
    );
    if slack {
        return json!({ "text": text });
    }
    json!({
        "type": "budget.threshold",
        "scope": c.scope,
        "threshold_percent": c.threshold,
        "period": c.period.as_str(),
        "period_start": keel_store::timefmt::format_ms(c.period_start_ms),
        "spent_usd": c.spent_usd,
        "spent_tokens": c.spent_tokens,
        "limit_usd": c.limit_usd,
        "limit_tokens": c.limit_tokens,
        "message": text,
    })
}
