//! The goals: Keel against the bare proxy (`keel-null-proxy`) measured in
//! the same run, as ratios, and Keel's memory.

use super::rows::{med, median_some};
use super::MB;
use crate::results::Results;
use crate::stats::us;

/// One goal: Keel's figure, the proxy's, the value judged and the verdict.
#[derive(Debug, Clone)]
pub struct Goal {
    /// What is judged.
    pub name: &'static str,
    /// Keel's figure, in `unit`.
    pub keel: Option<f64>,
    /// The proxy's figure, in `unit` (for ratios; for scale otherwise).
    pub proxy: Option<f64>,
    /// Unit of `keel` and `proxy`.
    pub unit: &'static str,
    /// Whether `keel` and `proxy` are added values (shown with a sign).
    pub signed: bool,
    /// Keel ÷ proxy; `None` for absolute goals or when the proxy's figure
    /// is missing or not above zero.
    pub ratio: Option<f64>,
    /// The goal as text, e.g. `≤ 1.5`.
    pub target: &'static str,
    /// Whether the goal is met; `None` when a figure is missing.
    pub met: Option<bool>,
    /// What else to know to read it.
    pub note: Option<String>,
}

/// A ratio goal: `keel ÷ proxy`, met when `ok(ratio)`.
fn ratio(
    name: &'static str,
    unit: &'static str,
    (keel, proxy): (Option<f64>, Option<f64>),
    target: &'static str,
    ok: fn(f64) -> bool,
) -> Goal {
    let r = keel.zip(proxy.filter(|p| *p > 0.0)).map(|(k, p)| k / p);
    let note = match (keel, proxy) {
        (Some(_), Some(p)) if p <= 0.0 => Some("the proxy's figure is not above 0".to_owned()),
        (_, None) => Some("no proxy in this run".to_owned()),
        _ => None,
    };
    Goal {
        name,
        keel,
        proxy,
        unit,
        signed: false,
        ratio: r,
        target,
        met: r.map(ok),
        note,
    }
}

/// The goals, when Keel was measured (empty otherwise).
pub fn goals(r: &Results) -> Vec<Goal> {
    if r.throughput.keel.is_none() {
        return Vec::new();
    }
    let cpu = r.throughput.map(|v| median_some(v, |x| x.cpu_us_per_req));
    let rps = med(&r.throughput, |x| x.rps);
    let c1 = med(&r.sequential, |x| us(x.latency.p99 as f64));
    let c1_added = (
        c1.keel.map(|k| k - c1.direct),
        c1.proxy.map(|p| p - c1.direct),
    );
    let first = med(&r.streams, |x| us(x.first_event.p50 as f64));
    let first_added = (
        first.keel.map(|k| k - first.direct),
        first.proxy.map(|p| p - first.direct),
    );
    let mut goals = vec![
        ratio(
            "CPU per request at 64 connections",
            "µs",
            (cpu.keel.flatten(), cpu.proxy.flatten()),
            "≤ 1.5",
            |x| x <= 1.5,
        ),
        ratio(
            "throughput at 64 connections",
            "req/s",
            (rps.keel, rps.proxy),
            "≥ 0.8",
            |x| x >= 0.8,
        ),
        Goal {
            signed: true,
            ..ratio("added p99 at c=1", "µs", c1_added, "≤ 1.5", |x| x <= 1.5)
        },
        Goal {
            signed: true,
            ..ratio(
                "stream first event added p50",
                "µs",
                first_added,
                "≤ 1.5",
                |x| x <= 1.5,
            )
        },
    ];
    goals.extend(memory(r));
    goals
}

/// Keel's RSS peak during its 512-stream burst, and after the load.
fn memory(r: &Results) -> Vec<Goal> {
    let (keel, proxy) = (r.rss.keel.flatten(), r.rss.proxy.flatten());
    let mb = |b: u64| b as f64 / MB;
    let absolute = |name, keel, proxy, target, met, note| Goal {
        name,
        keel,
        proxy,
        unit: "MB",
        signed: false,
        ratio: None,
        target,
        met,
        note,
    };
    let burst = keel.map(|k| mb(k.burst_peak)).filter(|b| *b > 0.0);
    vec![
        absolute(
            "RSS peak during the concurrent streams",
            burst,
            proxy.map(|p| mb(p.burst_peak)),
            "< 64 MB",
            burst.map(|b| b < 64.0),
            None,
        ),
        absolute(
            "RSS after load (+2 s)",
            keel.map(|k| mb(k.after)),
            proxy.map(|p| mb(p.after)),
            "≤ idle + 16 MB",
            keel.map(|k| k.after <= k.idle + 16 * 1024 * 1024),
            keel.map(|k| format!("idle {:.1} MB", mb(k.idle))),
        ),
    ]
}
