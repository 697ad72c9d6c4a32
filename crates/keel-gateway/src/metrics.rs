//! Prometheus metrics: what `/metrics` shows and the one place that updates
//! the per-call series (from the record writer, off the request path).

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Renders the Prometheus text format.
#[derive(Clone)]
pub struct Metrics {
    handle: Option<PrometheusHandle>,
}

impl Metrics {
    /// Installs the process-wide recorder once; later calls share it.
    pub fn install() -> Metrics {
        static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
        let handle = HANDLE
            .get_or_init(|| {
                let latency = [
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    120.0,
                ];
                PrometheusBuilder::new()
                    .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &latency)
                    .and_then(|b| b.install_recorder())
                    .map_err(|e| tracing::error!(error = %e, "metrics recorder not installed"))
                    .ok()
            })
            .clone();
        Metrics { handle }
    }

    /// The current metrics in Prometheus text format.
    pub fn render(&self) -> String {
        self.handle
            .as_ref()
            .map(PrometheusHandle::render)
            .unwrap_or_default()
    }
}

/// What one finished call contributes to the metrics.
pub struct CallMetrics<'a> {
    pub endpoint: &'static str,
    pub model: &'a str,
    pub provider: &'a str,
    pub status: u16,
    pub error_class: Option<&'a str>,
    pub latency_s: f64,
    pub ttft_s: Option<f64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub token_source: &'static str,
    pub cost_usd: Option<f64>,
}

/// Updates the per-call series.
pub fn observe_call(m: &CallMetrics<'_>) {
    let status = m.status.to_string();
    let labels = [
        ("endpoint", m.endpoint.to_owned()),
        ("model", m.model.to_owned()),
        ("provider", m.provider.to_owned()),
    ];
    let mut with_status = labels.to_vec();
    with_status.push(("status", status));
    metrics::counter!("keel_requests_total", &with_status).increment(1);
    if let Some(class) = m.error_class {
        let mut with_class = labels.to_vec();
        with_class.push(("error_class", class.to_owned()));
        metrics::counter!("keel_request_errors_total", &with_class).increment(1);
    }
    metrics::histogram!("keel_request_duration_seconds", &labels).record(m.latency_s);
    if let Some(ttft) = m.ttft_s {
        metrics::histogram!("keel_time_to_first_token_seconds", &labels).record(ttft);
    }
    for (kind, n) in [
        ("input", m.input_tokens),
        ("output", m.output_tokens),
        ("cached", m.cached_tokens),
    ] {
        if n > 0 {
            let mut l = labels.to_vec();
            l.push(("kind", kind.to_owned()));
            l.push(("source", m.token_source.to_owned()));
            metrics::counter!("keel_tokens_total", &l).increment(n);
        }
    }
    if let Some(cost) = m.cost_usd {
        metrics::counter!("keel_cost_usd_micros_total", &labels)
            .increment((cost * 1_000_000.0).round() as u64);
    }
}
