//! Phases 1 to 5 on every target, interleaved round by round.

use std::time::Duration;

use super::Bodies;
use crate::args::Args;
use crate::client::Target;
use crate::phases::rate::Call;
use crate::phases::streams::{self, StreamRun};
use crate::phases::{concurrency, latency, rate, throughput};
use crate::procfs::{rss_bytes, RssSampler};
use crate::results::{FrontDoorRuns, Results, Sides};
use crate::rounds::{each_round, each_round_of};

/// Sequential requests per c=1 round (bounded by `SEQUENTIAL_MAX_TIME` too).
pub(super) const SEQUENTIAL_REQUESTS: usize = 3000;
pub(super) const SEQUENTIAL_MAX_TIME: Duration = Duration::from_secs(3);
/// Connections for the fixed-rate phase.
const RATE_CONNECTIONS: usize = 32;
pub(super) const THROUGHPUT_CONNECTIONS: usize = 64;
const STREAM_CONCURRENCY: usize = 4;
const STREAM_ROUND: Duration = Duration::from_secs(2);
/// Phase 4b's messages-only round, for Keel's CPU per stream.
const FRONT_DOOR_CPU_ROUND: Duration = Duration::from_secs(1);
const BURST_TIMEOUT: Duration = Duration::from_secs(60);
/// How often RSS is sampled during a burst, for its peak.
const BURST_RSS_EVERY: Duration = Duration::from_millis(50);

/// Runs phases 1 to 5 into `r`; returns each server's RSS peak during its
/// own burst of concurrent streams (phase 5).
pub async fn all(
    args: &Args,
    targets: &Sides<Target>,
    front_door: Option<&Target>,
    b: &Bodies,
    r: &mut Results,
) -> Sides<Option<u64>> {
    mark(r, targets, "warm-up");
    eprintln!("phase 1: c=1 sequential");
    r.sequential = each_round(targets, args.rounds, |t| {
        let body = b.request.clone();
        async move { latency::sequential(&t, &body, SEQUENTIAL_REQUESTS, SEQUENTIAL_MAX_TIME).await }
    })
    .await;
    mark(r, targets, "c=1");

    for &rps in &args.rates {
        eprintln!("phase 2: {rps} req/s");
        let (body, secs) = (&b.request, args.rate_duration);
        let runs = each_round(targets, args.rounds, |t| async move {
            rate::open_loop(Call::Unary, &t, body, rps, secs, RATE_CONNECTIONS).await
        })
        .await;
        r.rates.push((rps, runs));
        mark(r, targets, &format!("{rps} req/s"));
    }

    eprintln!("phase 3: max throughput");
    let (body, secs) = (&b.request, args.throughput_duration);
    r.throughput = each_round(targets, args.rounds, |t| async move {
        throughput::metered(&t, body, THROUGHPUT_CONNECTIONS, secs).await
    })
    .await;
    mark(r, targets, "max throughput");

    if front_door.is_some() {
        eprintln!("phase 4: streams, with 4b: Anthropic front door (interleaved rounds)");
    } else {
        eprintln!("phase 4: streams");
    }
    stream_phase(args, targets, front_door, b, r).await;
    mark(r, targets, "streams");

    eprintln!("phase 5: {} concurrent streams", args.streams);
    let peaks = burst_phase(args, targets, b, r).await;
    mark(r, targets, "concurrent streams");
    peaks
}

/// Records each server's RSS after phase `after`.
fn mark(r: &mut Results, targets: &Sides<Target>, after: &str) {
    let now = targets.map(|t| t.pid.and_then(rss_bytes));
    if now.direct.is_some() || now.proxy.is_some() || now.keel.is_some() {
        r.rss_by_phase.push((after.to_owned(), now));
    }
}

/// The stream runs of phases 4 and 4b, interleaved in each round.
#[derive(Debug, Clone)]
enum StreamJob {
    /// Phase 4 on one target, with its process's CPU per stream.
    Plain(Target),
    /// Phase 4b: chat completions and messages through Keel, mixed.
    FrontDoor { chat: Target, messages: Target },
    /// Phase 4b: messages only, for Keel's CPU per stream.
    FrontDoorCpu(Target),
}

/// Phase 4 on every target and, when Keel serves it, phase 4b. Each round
/// runs the jobs in order (direct, proxy, keel, 4b mixed, 4b CPU), reversed
/// every other round, so 4b's rounds sit next to phase 4's keel round.
async fn stream_phase(
    args: &Args,
    targets: &Sides<Target>,
    front_door: Option<&Target>,
    b: &Bodies,
    r: &mut Results,
) {
    let mut jobs: Vec<StreamJob> = crate::rounds::all(targets)
        .into_iter()
        .map(|t| StreamJob::Plain(t.clone()))
        .collect();
    let door = targets.keel.as_ref().zip(front_door);
    if let Some((keel, messages)) = door {
        jobs.push(StreamJob::FrontDoor {
            chat: keel.clone(),
            messages: messages.clone(),
        });
        jobs.push(StreamJob::FrontDoorCpu(messages.clone()));
    }
    let runs = each_round_of(&jobs, args.rounds, |job| {
        let (stream, messages) = (&b.stream, &b.messages);
        async move {
            let (c, d) = (STREAM_CONCURRENCY, STREAM_ROUND);
            match job {
                StreamJob::Plain(t) => vec![streams::metered(&t, stream, c, d).await],
                StreamJob::FrontDoor { chat, messages: m } => {
                    let variants = [(chat, stream.clone()), (m, messages.clone())];
                    streams::mixed(&variants, c, d).await
                }
                StreamJob::FrontDoorCpu(m) => {
                    vec![streams::metered(&m, messages, c, FRONT_DOOR_CPU_ROUND).await]
                }
            }
        }
    })
    .await;
    let mut runs = runs.into_iter();
    let mut next = || runs.next().map(|v| variant(&v, 0)).unwrap_or_default();
    r.streams = Sides {
        direct: next(),
        proxy: targets.proxy.as_ref().map(|_| next()),
        keel: targets.keel.as_ref().map(|_| next()),
    };
    if door.is_some() {
        let (mixed, cpu) = (
            runs.next().unwrap_or_default(),
            runs.next().unwrap_or_default(),
        );
        r.front_door = Some(FrontDoorRuns {
            chat: variant(&mixed, 0),
            messages: variant(&mixed, 1),
            messages_cpu: variant(&cpu, 0),
        });
    }
}

/// Variant `i` of each round's stream runs.
fn variant(rounds: &[Vec<StreamRun>], i: usize) -> Vec<StreamRun> {
    rounds.iter().filter_map(|v| v.get(i).cloned()).collect()
}

/// Phase 5 on each target in turn, sampling the RSS of the process
/// answering during its own burst; returns those peaks.
async fn burst_phase(
    args: &Args,
    targets: &Sides<Target>,
    b: &Bodies,
    r: &mut Results,
) -> Sides<Option<u64>> {
    let burst = |t: Target| {
        let body = b.slow.clone();
        async move {
            let sampler = t.pid.map(|pid| RssSampler::start(pid, BURST_RSS_EVERY));
            let run = concurrency::burst(&t, &body, args.streams, args.stall, BURST_TIMEOUT).await;
            (run, sampler.map(|s| s.peak()))
        }
    };
    let (direct, direct_peak) = burst(targets.direct.clone()).await;
    let proxy = match &targets.proxy {
        Some(p) => Some(burst(p.clone()).await),
        None => None,
    };
    let keel = match &targets.keel {
        Some(k) => Some(burst(k.clone()).await),
        None => None,
    };
    r.concurrency = Sides {
        direct,
        proxy: proxy.as_ref().map(|p| p.0.clone()),
        keel: keel.as_ref().map(|k| k.0.clone()),
    };
    Sides {
        direct: direct_peak,
        proxy: proxy.map(|p| p.1),
        keel: keel.map(|k| k.1),
    }
}
