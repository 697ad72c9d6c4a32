//! Turns [`Results`] into comparison rows, then into a markdown table and a
//! JSON document (rows plus per-round raw numbers, to judge noise).

use serde_json::{json, Value};

use crate::phases::streams::StreamRun;
use crate::results::{FrontDoorRuns, Pair, Results};
use crate::stats::{median, median_of, us};

/// Phase label of the Anthropic front door, whose columns differ.
const FRONT_DOOR: &str = "4b Anthropic front door";

/// How to read the front door's rows, printed under the table.
const FRONT_DOOR_NOTE: &str = "4b: \"direct\" is Keel's OpenAI-format stream \
(`/v1/chat/completions`), \"keel\" is Keel's Anthropic stream (`/v1/messages`), \
\"added\" is what the translation adds. Both run mixed on the same connections in \
the same rounds; CPU per stream comes from rounds of one kind each (phase 4's keel \
side and a messages-only round).";

/// One line of the comparison.
#[derive(Debug, Clone)]
pub struct Row {
    pub phase: &'static str,
    pub metric: String,
    pub unit: &'static str,
    pub direct: Option<f64>,
    pub keel: Option<f64>,
    /// keel − direct, when both exist.
    pub added: Option<f64>,
    pub goal: Option<String>,
    pub pass: Option<bool>,
}

impl Row {
    fn new(
        phase: &'static str,
        metric: impl Into<String>,
        unit: &'static str,
        v: Pair<f64>,
    ) -> Row {
        Row {
            phase,
            metric: metric.into(),
            unit,
            direct: Some(v.direct),
            added: v.keel.map(|k| k - v.direct),
            keel: v.keel,
            goal: None,
            pass: None,
        }
    }

    /// Goal on the added value: at most `limit`.
    fn added_at_most(mut self, limit: f64, text: &str) -> Row {
        self.goal = Some(text.to_owned());
        self.pass = self.added.map(|a| a <= limit);
        self
    }

    fn keel_only(
        phase: &'static str,
        metric: impl Into<String>,
        unit: &'static str,
        v: Option<f64>,
    ) -> Row {
        Row {
            phase,
            metric: metric.into(),
            unit,
            direct: None,
            keel: v,
            added: None,
            goal: None,
            pass: None,
        }
    }

    fn goal(mut self, text: &str, pass: Option<bool>) -> Row {
        self.goal = Some(text.to_owned());
        self.pass = pass;
        self
    }
}

const MB: f64 = 1024.0 * 1024.0;

/// The comparison rows, medians over rounds where there are rounds.
pub fn rows(r: &Results) -> Vec<Row> {
    let mut rows = Vec::new();
    let seq =
        |f: fn(&crate::phases::latency::LatencyRun) -> f64| r.sequential.map(|v| median_of(v, f));
    rows.push(Row::new(
        "1 c=1",
        "p50 latency",
        "µs",
        seq(|x| us(x.latency.p50 as f64)),
    ));
    rows.push(
        Row::new(
            "1 c=1",
            "p99 latency",
            "µs",
            seq(|x| us(x.latency.p99 as f64)),
        )
        .added_at_most(150.0, "added ≤ 150 µs"),
    );
    for (rate, runs) in &r.rates {
        let med = |f: fn(&crate::phases::rate::RateRun) -> f64| runs.map(|v| median_of(v, f));
        let phase = "2 fixed rate";
        rows.push(Row::new(
            phase,
            format!("{rate} req/s p50"),
            "µs",
            med(|x| us(x.latency.p50 as f64)),
        ));
        let p99 = Row::new(
            phase,
            format!("{rate} req/s p99"),
            "µs",
            med(|x| us(x.latency.p99 as f64)),
        );
        rows.push(if (*rate - 2000.0).abs() < f64::EPSILON {
            p99.added_at_most(1000.0, "added ≤ 1 ms")
        } else {
            p99
        });
        rows.push(Row::new(
            phase,
            format!("{rate} req/s achieved"),
            "req/s",
            med(|x| x.achieved_rps),
        ));
    }
    let t = &r.throughput;
    rows.push(Row::new(
        "3 max throughput",
        "64 connections",
        "req/s",
        t.map(|x| x.rps),
    ));
    let ratio = t.keel.as_ref().map(|k| k.rps / t.direct.rps.max(1e-9));
    rows.push(
        Row::keel_only("3 max throughput", "keel ÷ direct", "ratio", ratio)
            .goal("≥ 0.70", ratio.map(|x| x >= 0.70)),
    );
    rows.push(Row::new(
        "3 max throughput",
        "p99 latency",
        "µs",
        t.map(|x| us(x.latency.p99 as f64)),
    ));
    rows.push(Row::keel_only(
        "3 max throughput",
        "keel CPU per request",
        "µs",
        r.cpu.keel_us_per_req,
    ));
    if let Some(up) = r.cpu.upstream_us_per_req {
        rows.push(Row::new(
            "3 max throughput",
            "upstream CPU per request",
            "µs",
            Pair {
                direct: up,
                keel: None,
            },
        ));
    }
    let st = &r.streams;
    let med = |f: fn(&crate::phases::streams::StreamRun) -> f64| st.map(|v| median_of(v, f));
    rows.push(Row::new(
        "4 streams",
        "headers p50",
        "µs",
        med(|x| us(x.headers.p50 as f64)),
    ));
    rows.push(Row::new(
        "4 streams",
        "first event p50",
        "µs",
        med(|x| us(x.first_event.p50 as f64)),
    ));
    rows.push(Row::new(
        "4 streams",
        "first event p99",
        "µs",
        med(|x| us(x.first_event.p99 as f64)),
    ));
    rows.push(Row::new(
        "4 streams",
        "mean inter-event gap",
        "µs",
        med(|x| us(x.mean_gap_ns)),
    ));
    if let Some(fd) = &r.front_door {
        front_door_rows(&mut rows, fd, r.streams.keel.as_deref());
    }
    let c = &r.concurrency;
    let all_passed = c.keel.as_ref().map(|k| k.passed == k.requested);
    let n = c.direct.requested;
    rows.push(
        Row::new(
            "5 concurrency",
            format!("{n} streams passed"),
            "streams",
            c.map(|x| x.passed as f64),
        )
        .goal("all pass (no error, no stall)", all_passed),
    );
    rows.push(Row::new(
        "5 concurrency",
        "per-stream max gap p99",
        "ms",
        c.map(|x| x.max_gap.p99 as f64 / 1e6),
    ));
    rows.push(Row::new(
        "5 concurrency",
        "first event p99",
        "ms",
        c.map(|x| x.first_event.p99 as f64 / 1e6),
    ));
    rows.push(Row::new(
        "5 concurrency",
        "connect max (all at once)",
        "ms",
        c.map(|x| x.connect.max as f64 / 1e6),
    ));
    rows.push(Row::new(
        "5 concurrency",
        "burst duration",
        "s",
        c.map(|x| x.elapsed_s),
    ));
    if let Some(rss) = r.rss {
        let phase = "6 keel RSS";
        rows.push(Row::keel_only(
            phase,
            "idle",
            "MB",
            Some(rss.idle as f64 / MB),
        ));
        for (after, bytes) in &r.rss_by_phase {
            let metric = format!("after {after}");
            rows.push(Row::keel_only(
                phase,
                metric,
                "MB",
                Some(*bytes as f64 / MB),
            ));
        }
        let peak = rss.peak as f64 / MB;
        rows.push(
            Row::keel_only(phase, "peak under load", "MB", Some(peak))
                .goal("< 64 MB", Some(peak < 64.0)),
        );
        let after = rss.after as f64 / MB;
        let near = rss.after <= rss.idle + 16 * 1024 * 1024;
        rows.push(
            Row::keel_only(phase, "after load (+2 s)", "MB", Some(after))
                .goal("≤ idle + 16 MB", Some(near)),
        );
    }
    rows
}

/// Phase 4b: `/v1/messages` (keel column) against `/v1/chat/completions`
/// (direct column), both through Keel; `chat_only` is phase 4's keel side.
fn front_door_rows(rows: &mut Vec<Row>, fd: &FrontDoorRuns, chat_only: Option<&[StreamRun]>) {
    let both = |f: fn(&StreamRun) -> f64| Pair {
        direct: median_of(&fd.chat, f),
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
    rows.push(Row::new(
        FRONT_DOOR,
        "first event p99",
        "µs",
        both(|x| us(x.first_event.p99 as f64)),
    ));
    let gap = Row::new(
        FRONT_DOOR,
        "mean gap between content deltas",
        "µs",
        both(|x| us(x.delta_gap_ns)),
    );
    let under = gap.added.map(|a| a < 2.0);
    rows.push(gap.goal("added < 2 µs per event", under));
    let cpu = |runs: &[StreamRun]| -> Option<f64> {
        let v: Option<Vec<f64>> = runs.iter().map(|x| x.cpu_us_per_stream).collect();
        v.filter(|v| !v.is_empty()).map(|v| median(&v))
    };
    if let (Some(c), Some(m)) = (chat_only.and_then(cpu), cpu(&fd.messages_cpu)) {
        rows.push(Row::new(
            FRONT_DOOR,
            "keel CPU per stream (separate rounds)",
            "µs",
            Pair {
                direct: c,
                keel: Some(m),
            },
        ));
    }
}

fn cell(v: Option<f64>) -> String {
    match v {
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.2}"),
        None => "–".to_owned(),
    }
}

/// The markdown table printed on stdout.
pub fn markdown(rows: &[Row], header: &str) -> String {
    let mut out =
        format!("{header}\n\n| phase | metric | unit | direct | keel | added | goal | ok |\n");
    out.push_str("|---|---|---|---:|---:|---:|---|---|\n");
    for r in rows {
        let ok = match r.pass {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.phase,
            r.metric,
            r.unit,
            cell(r.direct),
            cell(r.keel),
            cell(r.added),
            r.goal.as_deref().unwrap_or(""),
            ok
        ));
    }
    if rows.iter().any(|r| r.phase == FRONT_DOOR) {
        out.push_str(&format!("\n{FRONT_DOOR_NOTE}\n"));
    }
    out
}

/// The JSON document written to `--out`.
pub fn json_doc(rows: &[Row], r: &Results, meta: Value) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|x| {
            json!({"phase": x.phase, "metric": x.metric, "unit": x.unit, "direct": x.direct,
                "keel": x.keel, "added": x.added, "goal": x.goal, "pass": x.pass})
        })
        .collect();
    let per_round = |v: &[crate::phases::latency::LatencyRun]| -> Value {
        json!({"p50_us": v.iter().map(|x| us(x.latency.p50 as f64)).collect::<Vec<_>>(),
               "p99_us": v.iter().map(|x| us(x.latency.p99 as f64)).collect::<Vec<_>>(),
               "errors": v.iter().map(|x| x.errors).sum::<usize>()})
    };
    let rate_rounds = |v: &[crate::phases::rate::RateRun]| -> Value {
        json!({"p50_us": v.iter().map(|x| us(x.latency.p50 as f64)).collect::<Vec<_>>(),
               "p99_us": v.iter().map(|x| us(x.latency.p99 as f64)).collect::<Vec<_>>(),
               "achieved_rps": v.iter().map(|x| x.achieved_rps).collect::<Vec<_>>(),
               "behind_schedule": v.iter().map(|x| x.behind_schedule).collect::<Vec<_>>(),
               "errors": v.iter().map(|x| x.errors).sum::<usize>()})
    };
    let stream_rounds = |v: &[StreamRun]| -> Value {
        json!({"first_event_p50_us": v.iter().map(|x| us(x.first_event.p50 as f64)).collect::<Vec<_>>(),
               "first_event_p99_us": v.iter().map(|x| us(x.first_event.p99 as f64)).collect::<Vec<_>>(),
               "mean_gap_us": v.iter().map(|x| us(x.mean_gap_ns)).collect::<Vec<_>>(),
               "delta_gap_us": v.iter().map(|x| us(x.delta_gap_ns)).collect::<Vec<_>>(),
               "cpu_us_per_stream": v.iter().map(|x| x.cpu_us_per_stream).collect::<Vec<_>>(),
               "streams": v.iter().map(|x| x.streams).collect::<Vec<_>>(),
               "events_per_stream": v.iter().map(|x| x.events_per_stream).max(),
               "deltas_per_stream": v.iter().map(|x| x.deltas_per_stream).max(),
               "errors": v.iter().map(|x| x.errors).sum::<usize>()})
    };
    let pair = |p: Pair<Value>| json!({"direct": p.direct, "keel": p.keel});
    json!({
        "meta": meta,
        "rows": rows,
        "raw": {
            "sequential": pair(r.sequential.map(|v| per_round(v))),
            "rates": r.rates.iter().map(|(rate, p)| json!({"rate": rate, "runs": pair(p.map(|v| rate_rounds(v)))})).collect::<Vec<_>>(),
            "throughput": pair(r.throughput.map(|t| json!({"rps": t.rps, "requests": t.requests, "errors": t.errors,
                "p50_us": us(t.latency.p50 as f64), "p99_us": us(t.latency.p99 as f64), "elapsed_s": t.elapsed_s}))),
            "cpu_us_per_request": {"keel": r.cpu.keel_us_per_req, "upstream": r.cpu.upstream_us_per_req},
            "streams": pair(r.streams.map(|v| stream_rounds(v))),
            "front_door": r.front_door.as_ref().map(|fd| json!({
                "chat_completions": stream_rounds(&fd.chat),
                "messages": stream_rounds(&fd.messages),
                "messages_only": stream_rounds(&fd.messages_cpu)})),
            "concurrency": pair(r.concurrency.map(|c| json!({"requested": c.requested, "connected": c.connected,
                "passed": c.passed, "stalled": c.stalled, "errors": c.errors,
                "max_gap_p50_ms": c.max_gap.p50 as f64 / 1e6, "max_gap_max_ms": c.max_gap.max as f64 / 1e6,
                "first_event_max_ms": c.first_event.max as f64 / 1e6,
                "connect_p99_ms": c.connect.p99 as f64 / 1e6, "connect_max_ms": c.connect.max as f64 / 1e6, "elapsed_s": c.elapsed_s}))),
            "rss_bytes": r.rss.map(|x| json!({"idle": x.idle, "peak": x.peak, "after": x.after})),
            "rss_bytes_after_phase": r.rss_by_phase.iter().map(|(phase, rss)| json!({"after": phase, "rss": rss})).collect::<Vec<_>>(),
        }
    })
}
