//! The JSON document written to `--out`: meta, rows, goals, the soak, and
//! per-round raw numbers of every side.

use serde_json::{json, Value};

use super::{soak, Goal, Row};
use crate::phases::concurrency::ConcurrencyRun;
use crate::phases::latency::LatencyRun;
use crate::phases::rate::RateRun;
use crate::phases::streams::StreamRun;
use crate::phases::throughput::ThroughputRun;
use crate::results::{Results, Rss, Sides};
use crate::stats::us;

/// The whole document.
pub fn doc(rows: &[Row], goals: &[Goal], r: &Results, meta: Value) -> Value {
    json!({
        "meta": meta,
        "rows": rows.iter().map(row).collect::<Vec<_>>(),
        "goals": goals.iter().map(goal).collect::<Vec<_>>(),
        "soak": r.soak.as_ref().map(soak::json),
        "raw": raw(r),
    })
}

fn row(x: &Row) -> Value {
    json!({"phase": x.phase, "metric": x.metric, "unit": x.unit, "direct": x.direct,
        "proxy": x.proxy, "keel": x.keel, "proxy_added": x.proxy_added, "added": x.added,
        "goal": x.goal, "pass": x.pass})
}

fn goal(g: &Goal) -> Value {
    json!({"goal": g.name, "keel": g.keel, "proxy": g.proxy, "unit": g.unit,
        "keel_over_proxy": g.ratio, "target": g.target, "met": g.met, "note": g.note})
}

/// Each side of `s` as JSON.
fn sides<T>(s: &Sides<T>, f: impl Fn(&T) -> Value) -> Value {
    let s = s.map(f);
    json!({"direct": s.direct, "proxy": s.proxy, "keel": s.keel})
}

fn raw(r: &Results) -> Value {
    json!({
        "sequential": sides(&r.sequential, |v| latency_rounds(v)),
        "rates": r.rates.iter()
            .map(|(rate, p)| json!({"rate": rate, "runs": sides(p, |v| rate_rounds(v))}))
            .collect::<Vec<_>>(),
        "throughput": sides(&r.throughput, |v| throughput_rounds(v)),
        "streams": sides(&r.streams, |v| stream_rounds(v)),
        "front_door": r.front_door.as_ref().map(|fd| json!({
            "chat_completions": stream_rounds(&fd.chat),
            "messages": stream_rounds(&fd.messages),
            "messages_only": stream_rounds(&fd.messages_cpu)})),
        "concurrency": sides(&r.concurrency, burst),
        "rss_bytes": sides(&r.rss, |x| x.as_ref().map_or(Value::Null, rss)),
        "rss_bytes_after_phase": r.rss_by_phase.iter()
            .map(|(phase, rss)| json!({"after": phase, "rss": sides(rss, |x| json!(x))}))
            .collect::<Vec<_>>(),
    })
}

pub(super) fn latency_rounds(v: &[LatencyRun]) -> Value {
    json!({"p50_us": v.iter().map(|x| us(x.latency.p50 as f64)).collect::<Vec<_>>(),
           "p99_us": v.iter().map(|x| us(x.latency.p99 as f64)).collect::<Vec<_>>(),
           "errors": v.iter().map(|x| x.errors).sum::<usize>()})
}

fn rate_rounds(v: &[RateRun]) -> Value {
    json!({"p50_us": v.iter().map(|x| us(x.latency.p50 as f64)).collect::<Vec<_>>(),
           "p99_us": v.iter().map(|x| us(x.latency.p99 as f64)).collect::<Vec<_>>(),
           "achieved_rps": v.iter().map(|x| x.achieved_rps).collect::<Vec<_>>(),
           "behind_schedule": v.iter().map(|x| x.behind_schedule).collect::<Vec<_>>(),
           "errors": v.iter().map(|x| x.errors).sum::<usize>()})
}

pub(super) fn throughput_rounds(v: &[ThroughputRun]) -> Value {
    json!({"rps": v.iter().map(|x| x.rps).collect::<Vec<_>>(),
           "requests": v.iter().map(|x| x.requests).collect::<Vec<_>>(),
           "cpu_us_per_request": v.iter().map(|x| x.cpu_us_per_req).collect::<Vec<_>>(),
           "p50_us": v.iter().map(|x| us(x.latency.p50 as f64)).collect::<Vec<_>>(),
           "p99_us": v.iter().map(|x| us(x.latency.p99 as f64)).collect::<Vec<_>>(),
           "elapsed_s": v.iter().map(|x| x.elapsed_s).collect::<Vec<_>>(),
           "errors": v.iter().map(|x| x.errors).sum::<usize>()})
}

fn stream_rounds(v: &[StreamRun]) -> Value {
    json!({"first_event_p50_us": v.iter().map(|x| us(x.first_event.p50 as f64)).collect::<Vec<_>>(),
           "first_event_p99_us": v.iter().map(|x| us(x.first_event.p99 as f64)).collect::<Vec<_>>(),
           "mean_gap_us": v.iter().map(|x| us(x.mean_gap_ns)).collect::<Vec<_>>(),
           "delta_gap_us": v.iter().map(|x| us(x.delta_gap_ns)).collect::<Vec<_>>(),
           "cpu_us_per_stream": v.iter().map(|x| x.cpu_us_per_stream).collect::<Vec<_>>(),
           "streams": v.iter().map(|x| x.streams).collect::<Vec<_>>(),
           "events_per_stream": v.iter().map(|x| x.events_per_stream).max(),
           "deltas_per_stream": v.iter().map(|x| x.deltas_per_stream).max(),
           "errors": v.iter().map(|x| x.errors).sum::<usize>()})
}

fn burst(c: &ConcurrencyRun) -> Value {
    json!({"requested": c.requested, "connected": c.connected,
        "passed": c.passed, "stalled": c.stalled, "errors": c.errors,
        "max_gap_p50_ms": c.max_gap.p50 as f64 / 1e6, "max_gap_max_ms": c.max_gap.max as f64 / 1e6,
        "first_event_max_ms": c.first_event.max as f64 / 1e6,
        "connect_p99_ms": c.connect.p99 as f64 / 1e6, "connect_max_ms": c.connect.max as f64 / 1e6,
        "elapsed_s": c.elapsed_s})
}

fn rss(x: &Rss) -> Value {
    json!({"idle": x.idle, "peak": x.peak, "burst_peak": x.burst_peak, "after": x.after})
}
