//! The soak's summary: Keel's RSS trend after the warm-up, the calls, and
//! the records Keel wrote meanwhile.

use serde_json::{json, Value};

use super::MB;
use crate::phases::rate::RateRun;
use crate::phases::soak::SoakRun;

/// RSS growth over the soak's second half at most this (bytes) meets the goal.
const GROWTH_LIMIT: f64 = MB;

/// Whether the RSS growth over the second half meets the goal.
fn met(run: &SoakRun) -> Option<bool> {
    run.trend().map(|t| t.second_half <= GROWTH_LIMIT)
}

/// The soak as a markdown table.
pub fn markdown(run: &SoakRun) -> String {
    let mut out = match run.settings {
        Some(s) => format!(
            "## Soak (keel, {:.0} s: {} unary + {} streamed calls/s, open loop)\n\n",
            s.duration.as_secs_f64(),
            s.unary_rps,
            s.stream_rps
        ),
        None => "## Soak\n\n".to_owned(),
    };
    out.push_str("| metric | value | goal | met |\n|---|---|---|---|\n");
    let mut line = |metric: String, value: String, goal: &str, met: Option<bool>| {
        let met = met.map_or("", |m| if m { "met" } else { "**not met**" });
        out.push_str(&format!("| {metric} | {value} | {goal} | {met} |\n"));
    };
    match run.trend() {
        Some(t) => {
            line(
                format!(
                    "keel RSS after warm-up ({:.0} s) / middle / end",
                    t.warm_up_s
                ),
                format!(
                    "{:.1} / {:.1} / {:.1} MB",
                    t.start as f64 / MB,
                    t.middle as f64 / MB,
                    t.end as f64 / MB
                ),
                "",
                None,
            );
            line(
                "keel RSS growth over the second half (least squares)".to_owned(),
                format!(
                    "{:+.2} MB ({:+.2} MB/min)",
                    t.second_half / MB,
                    t.per_minute / MB
                ),
                "≤ 1 MB (no growth after warm-up)",
                met(run),
            );
        }
        None => line("keel RSS".to_owned(), "not sampled".to_owned(), "", None),
    }
    for (kind, r, unit) in [
        ("unary", &run.unary, "µs"),
        ("streamed", &run.streams, "ms"),
    ] {
        line(
            format!("{kind} calls sent / answered (200) / failed"),
            format!("{} / {} / {}", r.sent, r.latency.count, r.errors),
            "",
            None,
        );
        let scale = if unit == "µs" { 1e3 } else { 1e6 };
        line(
            format!("{kind} latency p50 / p99 / max (to the last byte)"),
            format!(
                "{:.0} / {:.0} / {:.0} {unit}",
                r.latency.p50 as f64 / scale,
                r.latency.p99 as f64 / scale,
                r.latency.max as f64 / scale
            ),
            "",
            None,
        );
        line(
            format!("{kind} calls sent late (connection busy)"),
            late(r),
            "",
            None,
        );
    }
    let records = run
        .records
        .map_or("– (/metrics did not answer)".to_owned(), |c| {
            format!(
                "{} written, {} lost ({} written in the whole run)",
                c.written, c.lost, c.written_total
            )
        });
    line(
        "keel records during the soak (/metrics)".to_owned(),
        records,
        "",
        None,
    );
    out
}

fn late(r: &RateRun) -> String {
    format!("{} of {}", r.behind_schedule, r.sent)
}

/// The soak in the JSON document.
pub fn json(run: &SoakRun) -> Value {
    let calls = |r: &RateRun| {
        json!({"sent": r.sent, "answered": r.latency.count, "failed": r.errors,
            "behind_schedule": r.behind_schedule, "p50_us": r.latency.p50 as f64 / 1e3,
            "p99_us": r.latency.p99 as f64 / 1e3, "max_us": r.latency.max as f64 / 1e3})
    };
    let trend = run.trend();
    json!({
        "duration_s": run.settings.map(|s| s.duration.as_secs_f64()),
        "unary_rps": run.settings.map(|s| s.unary_rps),
        "stream_rps": run.settings.map(|s| s.stream_rps),
        "unary": calls(&run.unary),
        "streams": calls(&run.streams),
        "rss": trend.map(|t| json!({"warm_up_s": t.warm_up_s, "start": t.start, "middle": t.middle,
            "end": t.end, "second_half_growth": t.second_half, "growth_per_minute": t.per_minute})),
        "rss_goal": "growth over the second half ≤ 1 MB",
        "rss_goal_met": met(run),
        "rss_samples": run.rss.iter().map(|(t, b)| json!([t, b])).collect::<Vec<_>>(),
        "records": run.records.map(|c| json!({"written": c.written, "lost": c.lost,
            "written_total": c.written_total})),
    })
}
