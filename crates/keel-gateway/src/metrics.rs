//! Prometheus metrics: what `/metrics` shows and the one place that updates
//! the per-call series, from each stored batch of records (off the request
//! path; a metric never counts a call that has no record).

use std::sync::OnceLock;

use std::collections::HashMap;

use keel_store::Invocation;
use metrics::Label;
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

/// Updates the per-call series from a stored batch of records. Calls are
/// grouped by their labels first, so the cost is per label set, not per call.
pub fn observe_batch(records: &[Invocation]) {
    let mut groups: HashMap<GroupKey<'_>, Group> = HashMap::new();
    for r in records {
        let key = GroupKey {
            endpoint: &r.endpoint,
            model: r.resolved_model.as_deref().unwrap_or("unknown"),
            provider: r.provider.as_deref().unwrap_or("none"),
        };
        let g = groups.entry(key).or_default();
        *g.by_status
            .entry((r.status, r.error_class.as_deref()))
            .or_default() += 1;
        g.latencies.push(r.latency_ms / 1000.0);
        g.ttfts.extend(r.ttft_ms.map(|t| t / 1000.0));
        let source = r.token_source.as_str();
        for (kind, n) in [
            ("input", r.input_tokens),
            ("output", r.output_tokens),
            ("cached", r.cached_tokens),
        ] {
            if n > 0 {
                *g.tokens.entry((kind, source)).or_default() += n as u64;
            }
        }
        if let Some(cost) = r.cost_usd {
            g.cost_micros += (cost * 1_000_000.0).round() as u64;
        }
    }
    for (key, g) in groups {
        let labels = [
            Label::new("endpoint", key.endpoint.to_owned()),
            Label::new("model", key.model.to_owned()),
            Label::new("provider", key.provider.to_owned()),
        ];
        for ((status, class), n) in g.by_status {
            let mut l = labels.to_vec();
            l.push(Label::new("status", status.to_string()));
            metrics::counter!("keel_requests_total", l.clone()).increment(n);
            if let Some(class) = class {
                l.pop();
                l.push(Label::new("error_class", class.to_owned()));
                metrics::counter!("keel_request_errors_total", l).increment(n);
            }
        }
        let duration = metrics::histogram!("keel_request_duration_seconds", labels.to_vec());
        g.latencies.into_iter().for_each(|v| duration.record(v));
        if !g.ttfts.is_empty() {
            let ttft = metrics::histogram!("keel_time_to_first_token_seconds", labels.to_vec());
            g.ttfts.into_iter().for_each(|v| ttft.record(v));
        }
        for ((kind, source), n) in g.tokens {
            let mut l = labels.to_vec();
            l.push(Label::new("kind", kind));
            l.push(Label::new("source", source.to_owned()));
            metrics::counter!("keel_tokens_total", l).increment(n);
        }
        if g.cost_micros > 0 {
            metrics::counter!("keel_cost_usd_micros_total", labels.to_vec())
                .increment(g.cost_micros);
        }
    }
}

#[derive(Hash, PartialEq, Eq)]
struct GroupKey<'a> {
    endpoint: &'a str,
    model: &'a str,
    provider: &'a str,
}

#[derive(Default)]
struct Group<'a> {
    by_status: HashMap<(u16, Option<&'a str>), u64>,
    latencies: Vec<f64>,
    ttfts: Vec<f64>,
    tokens: HashMap<(&'static str, &'a str), u64>,
    cost_micros: u64,
}
