//! The governance comparison (`--governance`): a table per variant, the two
//! goals (the policy stage's CPU with counters in memory; Redis adding one
//! round trip) and the JSON document with every round.

use serde_json::{json, Value};

use super::json::{latency_rounds, throughput_rounds};
use super::markdown::{cell, signed};
use super::rows::median_some;
use crate::phases::latency::LatencyRun;
use crate::phases::throughput::ThroughputRun;
use crate::results::{Cost, GovernanceResults, Variant, VariantRuns};
use crate::stats::{median_of, us};

/// The policy stage's CPU per call with counters in memory, at most (µs).
const POLICY_CPU_US: f64 = 5.0;
/// Redis's extra c=1 latency, less than this many of its round trips (a
/// PING's plus Redis's own time per script): two calls in a row on the
/// request path would take at least two.
const REDIS_ROUND_TRIPS: f64 = 2.0;

/// One variant's medians over its rounds.
#[derive(Debug, Clone, Copy)]
struct Summary {
    variant: Variant,
    /// c=1 latency, µs.
    p50: f64,
    p99: f64,
    /// The target process's CPU per request at c=1, µs.
    cpu_c1: Option<f64>,
    /// Requests per second at 64 connections.
    rps: f64,
    /// The target process's CPU per request at 64 connections, µs.
    cpu: Option<f64>,
    /// Redis's CPU per request, its scripts per request and its own time
    /// per script (µs), 64 connections.
    redis_cpu: Option<f64>,
    redis_scripts: Option<f64>,
    redis_us_per_script: Option<f64>,
    /// Redis's own time per script at c=1, µs.
    redis_us_per_script_c1: Option<f64>,
}

fn summary(v: &VariantRuns) -> Summary {
    let seq = &v.sequential;
    let tput = &v.throughput;
    Summary {
        variant: v.variant,
        p50: median_of(seq, |(x, _)| us(x.latency.p50 as f64)),
        p99: median_of(seq, |(x, _)| us(x.latency.p99 as f64)),
        cpu_c1: median_some(seq, |(_, c)| c.cpu_us),
        rps: median_of(tput, |(x, _)| x.rps),
        cpu: median_some(tput, |(_, c)| c.cpu_us),
        redis_cpu: median_some(tput, |(_, c)| c.redis_cpu_us),
        redis_scripts: median_some(tput, |(_, c)| c.redis_scripts),
        redis_us_per_script: median_some(tput, |(_, c)| c.redis_us_per_script),
        redis_us_per_script_c1: median_some(seq, |(_, c)| c.redis_us_per_script),
    }
}

/// What each variant is compared with: a governed key with the plain key on
/// the same Keel, the Keel with Redis counters with the first Keel.
fn baseline(v: Variant) -> Option<Variant> {
    match v {
        Variant::Direct | Variant::Plain => None,
        Variant::Governed | Variant::RedisPlain => Some(Variant::Plain),
        Variant::RedisGoverned => Some(Variant::RedisPlain),
    }
}

/// Every variant's summary.
struct Summaries(Vec<Summary>);

impl Summaries {
    fn of(g: &GovernanceResults) -> Summaries {
        Summaries(g.variants.iter().map(summary).collect())
    }

    fn get(&self, v: Variant) -> Option<&Summary> {
        self.0.iter().find(|s| s.variant == v)
    }

    /// `f` of `v` minus `f` of `base`.
    fn diff(&self, v: Variant, base: Variant, f: fn(&Summary) -> Option<f64>) -> Option<f64> {
        Some(f(self.get(v)?)? - f(self.get(base)?)?)
    }
}

/// The results as markdown under `header`: the variants, then the goals.
pub fn markdown(g: &GovernanceResults, header: &str) -> String {
    let s = Summaries::of(g);
    let redis =
        s.0.iter()
            .any(|x| x.redis_cpu.is_some() || x.redis_scripts.is_some());
    let mut out = format!(
        "{header}\n\n| variant | c=1 p50 µs | c=1 p99 µs | added p50 µs | added p99 µs \
         | CPU/req c=1 µs | req/s, 64 conns | ÷ baseline | CPU/req µs | CPU vs baseline µs |{}\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|{}\n",
        if redis {
            " Redis CPU/req µs | Redis scripts/req | Redis µs/script |"
        } else {
            ""
        },
        if redis { "---:|---:|---:|" } else { "" },
    );
    let direct = s.get(Variant::Direct);
    for x in &s.0 {
        let base = baseline(x.variant).and_then(|b| s.get(b));
        let added = |f: fn(&Summary) -> f64| {
            direct
                .filter(|_| x.variant != Variant::Direct)
                .map(|d| f(x) - f(d))
        };
        let mut cells = vec![
            x.variant.label().to_owned(),
            cell(Some(x.p50)),
            cell(Some(x.p99)),
            signed(added(|y| y.p50)),
            signed(added(|y| y.p99)),
            cell(x.cpu_c1),
            cell(Some(x.rps)),
            base.map_or(String::new(), |b| format!("{:.3}", x.rps / b.rps.max(1e-9))),
            cell(x.cpu),
            base.map_or(String::new(), |b| {
                signed(x.cpu.zip(b.cpu).map(|(c, b)| c - b))
            }),
        ];
        if redis {
            cells.push(cell(x.redis_cpu));
            cells.push(
                x.redis_scripts
                    .map_or("–".to_owned(), |n| format!("{n:.2}")),
            );
            // Scripts of others, when this variant ran none of its own.
            let ours = x.redis_scripts.is_some_and(|n| n >= 0.01);
            cells.push(cell(x.redis_us_per_script.filter(|_| ours)));
        }
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push_str(
        "\nadded = the variant − direct. CPU is the process answering (direct: the \
         upstream), per request answered, metered until it is idle after the round \
         (records and settles it defers count for their round). Baseline: a governed key \
         against the plain key on the same Keel; the Keel with Redis counters against the \
         first Keel with the same plain key (a control: the two processes should cost the \
         same). Redis columns are from the 64-connection rounds: CPU from /proc, scripts \
         (EVAL, EVALSHA: each a round trip) and Redis's own time per script from INFO \
         commandstats; Redis may serve others too, which the direct and plain-key rows \
         would show.\n",
    );
    out.push_str(&goals_markdown(&s, g));
    out
}

/// The goals table.
fn goals_markdown(s: &Summaries, g: &GovernanceResults) -> String {
    let mut out = String::from(
        "\n## Goals (governance)\n\n| goal | figure | goal | met |\n|---|---|---|---|\n",
    );
    let mut line = |name: String, figure: String, goal: &str, met: Option<bool>| {
        let met = met.map_or(if goal.is_empty() { "" } else { "n/a" }, |m| {
            if m {
                "met"
            } else {
                "**not met**"
            }
        });
        out.push_str(&format!("| {name} | {figure} | {goal} | {met} |\n"));
    };
    let us_fig = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{} µs", signed(Some(v))));
    let rounds = |f: fn(&VariantRuns) -> Vec<Option<f64>>| {
        round_range(g, Variant::Governed, Variant::Plain, f).map_or(String::new(), |(lo, hi)| {
            format!(" (rounds {} to {})", signed(Some(lo)), signed(Some(hi)))
        })
    };
    let d = s.diff(Variant::Governed, Variant::Plain, |x| x.cpu);
    line(
        "policy stage CPU per call, counters in memory (governed − plain key, 64 connections)"
            .to_owned(),
        format!("{}{}", us_fig(d), rounds(|r| cpu_of(&r.throughput))),
        &format!("< {POLICY_CPU_US} µs"),
        d.map(|d| d < POLICY_CPU_US),
    );
    // Not judged: at c=1 each request also pays for waking Keel's threads,
    // which moves its CPU per request by more than the stage costs.
    let d = s.diff(Variant::Governed, Variant::Plain, |x| x.cpu_c1);
    line(
        "the same at c=1 (for scale: wake-ups make it noisy)".to_owned(),
        format!("{}{}", us_fig(d), rounds(|r| cpu_of(&r.sequential))),
        "",
        None,
    );
    let extra = s.diff(Variant::RedisGoverned, Variant::Governed, |x| Some(x.p50));
    if let Some(extra) = extra {
        let governed = s.get(Variant::RedisGoverned);
        let rtt = g.redis_ping.map(|p| us(p.p50 as f64));
        let run = governed.and_then(|x| x.redis_us_per_script_c1);
        let trip = rtt.zip(run).map(|(r, c)| r + c).filter(|t| *t > 0.0);
        let trips = trip.map(|t| extra / t);
        let scripts = governed.and_then(|x| x.redis_scripts);
        let fig = |v: Option<f64>| v.map_or("–".to_owned(), |v| format!("{v:.1} µs"));
        line(
            format!(
                "Redis adds one round trip (c=1 p50, Redis − memory counters, governed keys; \
                 a round trip = PING p50 {} + Redis's time per script {}; Redis scripts per \
                 call {}, one of them settled off the request path)",
                fig(rtt),
                fig(run),
                scripts.map_or("–".to_owned(), |n| format!("{n:.2}")),
            ),
            format!(
                "{}{}",
                us_fig(Some(extra)),
                trips.map_or(String::new(), |t| format!(" = {t:.2} round trips"))
            ),
            &format!("< {REDIS_ROUND_TRIPS} round trips"),
            trips.map(|t| t < REDIS_ROUND_TRIPS),
        );
        let keel = s.diff(Variant::RedisGoverned, Variant::RedisPlain, |x| x.cpu);
        let redis = s.diff(Variant::RedisGoverned, Variant::RedisPlain, |x| x.redis_cpu);
        line(
            "policy stage CPU per call, counters in Redis (governed − plain key on that Keel, \
             64 connections): Keel + Redis"
                .to_owned(),
            format!("{} + {}", us_fig(keel), us_fig(redis)),
            "",
            None,
        );
    }
    out
}

/// Each round's CPU per request of the process answering.
fn cpu_of<R>(rounds: &[(R, Cost)]) -> Vec<Option<f64>> {
    rounds.iter().map(|(_, c)| c.cpu_us).collect()
}

/// The smallest and the largest difference between `v`'s and `base`'s
/// figure (`f`) in the same round: rounds are interleaved, so round i of
/// each ran side by side.
fn round_range(
    g: &GovernanceResults,
    v: Variant,
    base: Variant,
    f: fn(&VariantRuns) -> Vec<Option<f64>>,
) -> Option<(f64, f64)> {
    let of = |x: Variant| g.variants.iter().find(|r| r.variant == x).map(f);
    let (a, b) = (of(v)?, of(base)?);
    let d: Vec<f64> = a
        .iter()
        .zip(&b)
        .filter_map(|(a, b)| Some((*a)? - (*b)?))
        .collect();
    Some((
        d.iter().copied().reduce(f64::min)?,
        d.iter().copied().reduce(f64::max)?,
    ))
}

/// The JSON document: meta, summaries, goals' figures and every round.
pub fn json(g: &GovernanceResults, meta: Value) -> Value {
    let s = Summaries::of(g);
    let costs = |v: &[Cost]| {
        let each = |f: fn(&Cost) -> Option<f64>| v.iter().map(f).collect::<Vec<_>>();
        json!({"cpu_us_per_request": each(|c| c.cpu_us),
               "redis_cpu_us_per_request": each(|c| c.redis_cpu_us),
               "redis_scripts_per_request": each(|c| c.redis_scripts),
               "redis_us_per_script": each(|c| c.redis_us_per_script)})
    };
    let variants: Vec<Value> = g
        .variants
        .iter()
        .zip(&s.0)
        .map(|(v, x)| {
            let (seq, seq_cost): (Vec<LatencyRun>, Vec<Cost>) =
                v.sequential.iter().cloned().unzip();
            let (tput, tput_cost): (Vec<ThroughputRun>, Vec<Cost>) =
                v.throughput.iter().cloned().unzip();
            json!({
                "variant": v.variant.label(),
                "c1_p50_us": x.p50, "c1_p99_us": x.p99, "c1_cpu_us_per_request": x.cpu_c1,
                "rps": x.rps, "cpu_us_per_request": x.cpu,
                "redis_cpu_us_per_request": x.redis_cpu,
                "redis_scripts_per_request": x.redis_scripts,
                "redis_us_per_script": x.redis_us_per_script,
                "redis_us_per_script_c1": x.redis_us_per_script_c1,
                "raw": {"sequential": latency_rounds(&seq),
                        "sequential_cost": costs(&seq_cost),
                        "throughput": throughput_rounds(&tput),
                        "throughput_cost": costs(&tput_cost)},
            })
        })
        .collect();
    let ping = g
        .redis_ping
        .map(|p| json!({"p50": us(p.p50 as f64), "p99": us(p.p99 as f64), "count": p.count}));
    let (governed, plain) = (Variant::Governed, Variant::Plain);
    json!({
        "meta": meta,
        "variants": variants,
        "redis_ping_us": ping,
        "goals": {
            "policy_cpu_memory_us_64_conns": s.diff(governed, plain, |x| x.cpu),
            "policy_cpu_memory_us_c1": s.diff(governed, plain, |x| x.cpu_c1),
            "policy_cpu_memory_limit_us": POLICY_CPU_US,
            "redis_extra_c1_p50_us":
                s.diff(Variant::RedisGoverned, governed, |x| Some(x.p50)),
            "redis_round_trips_limit": REDIS_ROUND_TRIPS,
        },
    })
}
