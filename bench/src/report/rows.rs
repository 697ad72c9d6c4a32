//! The comparison rows, medians over rounds where there are rounds.

use super::{Row, MB};
use crate::phases::concurrency::ConcurrencyRun;
use crate::phases::latency::LatencyRun;
use crate::phases::rate::RateRun;
use crate::phases::streams::StreamRun;
use crate::phases::throughput::ThroughputRun;
use crate::results::{FrontDoorRuns, Results, Rss, Sides};
use crate::stats::{median, median_of, us};

/// Phase label of the Anthropic front door, whose columns differ.
pub(super) const FRONT_DOOR: &str = "4b Anthropic front door";

/// The median of a field over each side's rounds.
pub(super) fn med<T>(runs: &Sides<Vec<T>>, f: fn(&T) -> f64) -> Sides<f64> {
    runs.map(|v| median_of(v, f))
}

/// The median of a field over the rounds that have it.
pub(super) fn median_some<T>(runs: &[T], f: fn(&T) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = runs.iter().filter_map(f).collect();
    (!v.is_empty()).then(|| median(&v))
}

/// Every row of the run, in phase order.
pub fn rows(r: &Results) -> Vec<Row> {
    let mut rows = Vec::new();
    sequential_rows(&mut rows, &r.sequential);
    for (rate, runs) in &r.rates {
        rate_rows(&mut rows, *rate, runs);
    }
    throughput_rows(&mut rows, &r.throughput);
    stream_rows(&mut rows, &r.streams);
    if let Some(fd) = &r.front_door {
        front_door_rows(&mut rows, fd, r.streams.keel.as_deref());
    }
    concurrency_rows(&mut rows, &r.concurrency);
    rss_rows(&mut rows, r);
    rows
}

fn sequential_rows(rows: &mut Vec<Row>, runs: &Sides<Vec<LatencyRun>>) {
    let p50 = med(runs, |x| us(x.latency.p50 as f64));
    rows.push(Row::new("1 c=1", "p50 latency", "µs", p50));
    let p99 = med(runs, |x| us(x.latency.p99 as f64));
    rows.push(Row::new("1 c=1", "p99 latency", "µs", p99));
}

fn rate_rows(rows: &mut Vec<Row>, rate: f64, runs: &Sides<Vec<RateRun>>) {
    let phase = "2 fixed rate";
    let p50 = med(runs, |x| us(x.latency.p50 as f64));
    rows.push(Row::new(phase, format!("{rate} req/s p50"), "µs", p50));
    let p99 = Row::new(
        phase,
        format!("{rate} req/s p99"),
        "µs",
        med(runs, |x| us(x.latency.p99 as f64)),
    );
    rows.push(if (rate - 2000.0).abs() < f64::EPSILON {
        p99.added_at_most(1000.0, "added ≤ 1 ms")
    } else {
        p99
    });
    let achieved = med(runs, |x| x.achieved_rps);
    rows.push(Row::new(
        phase,
        format!("{rate} req/s achieved"),
        "req/s",
        achieved,
    ));
}

fn throughput_rows(rows: &mut Vec<Row>, t: &Sides<Vec<ThroughputRun>>) {
    let phase = "3 max throughput";
    let rps = med(t, |x| x.rps);
    rows.push(Row::new(phase, "64 connections", "req/s", rps.clone()));
    let of_direct = |v: f64| Some(v / rps.direct.max(1e-9));
    let ratio = Sides {
        direct: None,
        proxy: rps.proxy.map(of_direct),
        keel: rps.keel.map(of_direct),
    };
    if ratio.proxy.is_some() || ratio.keel.is_some() {
        rows.push(Row::plain(phase, "÷ direct", "ratio", ratio));
    }
    let p99 = med(t, |x| us(x.latency.p99 as f64));
    rows.push(Row::new(phase, "p99 latency", "µs", p99));
    let cpu = t.map(|v| median_some(v, |x| x.cpu_us_per_req));
    rows.push(Row::plain(
        phase,
        "CPU per request (direct: upstream)",
        "µs",
        cpu,
    ));
}

fn stream_rows(rows: &mut Vec<Row>, st: &Sides<Vec<StreamRun>>) {
    let phase = "4 streams";
    let headers = med(st, |x| us(x.headers.p50 as f64));
    rows.push(Row::new(phase, "headers p50", "µs", headers));
    let p50 = med(st, |x| us(x.first_event.p50 as f64));
    rows.push(Row::new(phase, "first event p50", "µs", p50));
    let p99 = med(st, |x| us(x.first_event.p99 as f64));
    rows.push(Row::new(phase, "first event p99", "µs", p99));
    let gap = med(st, |x| us(x.mean_gap_ns));
    rows.push(Row::new(phase, "mean inter-event gap", "µs", gap));
    let cpu = st.map(|v| median_some(v, |x| x.cpu_us_per_stream));
    rows.push(Row::plain(
        phase,
        "CPU per stream (direct: upstream)",
        "µs",
        cpu,
    ));
}

/// Phase 4b: `/v1/messages` (keel column) against `/v1/chat/completions`
/// (direct column), both through Keel; `chat_only` is phase 4's keel side.
fn front_door_rows(rows: &mut Vec<Row>, fd: &FrontDoorRuns, chat_only: Option<&[StreamRun]>) {
    let both = |f: fn(&StreamRun) -> f64| Sides {
        direct: median_of(&fd.chat, f),
        proxy: None,
        keel: Some(median_of(&fd.messages, f)),
    };
    let p50 = Row::new(
        FRONT_DOOR,
        "first event p50",
        "µs",
        both(|x| us(x.first_event.p50 as f64)),
    );
    let under = p50.added.map(|a| a < 20.0);
    rows.push(p50.goal("added < 20 µs", under));
    let p99 = both(|x| us(x.first_event.p99 as f64));
    rows.push(Row::new(FRONT_DOOR, "first event p99", "µs", p99));
    let gap = Row::new(
        FRONT_DOOR,
        "mean gap between content deltas",
        "µs",
        both(|x| us(x.delta_gap_ns)),
    );
    let under = gap.added.map(|a| a < 2.0);
    rows.push(gap.goal("added < 2 µs per event", under));
    let cpu = |runs: &[StreamRun]| median_some(runs, |x| x.cpu_us_per_stream);
    if let (Some(c), Some(m)) = (chat_only.and_then(cpu), cpu(&fd.messages_cpu)) {
        rows.push(Row::new(
            FRONT_DOOR,
            "keel CPU per stream (separate rounds)",
            "µs",
            Sides {
                direct: c,
                proxy: None,
                keel: Some(m),
            },
        ));
    }
}

fn concurrency_rows(rows: &mut Vec<Row>, c: &Sides<ConcurrencyRun>) {
    let phase = "5 concurrency";
    let all_passed = c.keel.as_ref().map(|k| k.passed == k.requested);
    let passed = c.map(|x| x.passed as f64);
    let metric = format!("{} streams passed", c.direct.requested);
    rows.push(
        Row::new(phase, metric, "streams", passed)
            .goal("all pass (no error, no stall)", all_passed),
    );
    let max_gap = c.map(|x| x.max_gap.p99 as f64 / 1e6);
    rows.push(Row::new(phase, "per-stream max gap p99", "ms", max_gap));
    let first = c.map(|x| x.first_event.p99 as f64 / 1e6);
    rows.push(Row::new(phase, "first event p99", "ms", first));
    let connect = c.map(|x| x.connect.max as f64 / 1e6);
    rows.push(Row::new(phase, "connect max (all at once)", "ms", connect));
    rows.push(Row::new(
        phase,
        "burst duration",
        "s",
        c.map(|x| x.elapsed_s),
    ));
}

/// Phase 6: each server's RSS (direct: the upstream's); goals on Keel's.
fn rss_rows(rows: &mut Vec<Row>, r: &Results) {
    let phase = "6 RSS";
    let rss = &r.rss;
    if rss.direct.is_none() && rss.proxy.flatten().is_none() && rss.keel.flatten().is_none() {
        return;
    }
    let mb = |f: fn(&Rss) -> u64| -> Sides<Option<f64>> {
        rss.map(|x| x.as_ref().map(|x| f(x) as f64 / MB))
    };
    rows.push(Row::plain(phase, "idle", "MB", mb(|x| x.idle)));
    for (after, bytes) in &r.rss_by_phase {
        let v = bytes.map(|b| b.map(|b| b as f64 / MB));
        rows.push(Row::plain(phase, format!("after {after}"), "MB", v));
    }
    let keel = rss.keel.flatten();
    rows.push(Row::plain(phase, "peak under load", "MB", mb(|x| x.peak)));
    let burst = Row::plain(
        phase,
        "peak during the burst (phase 5)",
        "MB",
        mb(|x| x.burst_peak),
    );
    let under = keel.map(|k| (k.burst_peak as f64 / MB) < 64.0);
    rows.push(burst.goal("< 64 MB", under));
    let near = keel.map(|k| k.after <= k.idle + 16 * 1024 * 1024);
    let after = Row::plain(phase, "after load (+2 s)", "MB", mb(|x| x.after));
    rows.push(after.goal("≤ idle + 16 MB", near));
}
