//! One run: the targets from the options, a warm-up, the phases with the
//! targets interleaved, and the optional soak, gathered into [`Results`].

pub mod governance;
mod phases;
mod setup;

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::args::Args;
use crate::client::Target;
use crate::phases::soak::{self, SoakSettings};
use crate::procfs::{self, rss_bytes, RssSampler};
use crate::results::{Results, Rss};
use crate::rounds;

/// A realistic small chat request (~300 bytes).
const REQUEST: &str = r#"{"model":"bench-model","messages":[{"role":"system","content":"You are a helpful assistant that answers briefly."},{"role":"user","content":"Summarise the main trade-offs between latency and throughput when putting a proxy in front of a language model API."}],"max_tokens":64,"temperature":0.2}"#;

/// The same request, streamed with usage.
const STREAM: &str = r#"{"model":"bench-model","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"You are a helpful assistant that answers briefly."},{"role":"user","content":"Summarise the main trade-offs between latency and throughput when putting a proxy in front of a language model API."}],"max_tokens":64}"#;

/// The streamed request of phase 4 as an Anthropic Messages call (phase 4b):
/// same model, system prompt, question and token limit.
const MESSAGES_STREAM: &str = r#"{"model":"bench-model","max_tokens":64,"stream":true,"system":"You are a helpful assistant that answers briefly.","messages":[{"role":"user","content":"Summarise the main trade-offs between latency and throughput when putting a proxy in front of a language model API."}]}"#;

/// A streamed request for the slowly paced model (phase 5).
const SLOW_STREAM: &str = r#"{"model":"bench-slow-stream","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Write a long answer."}]}"#;

/// How often the servers' RSS is sampled for the peaks.
const RSS_EVERY: Duration = Duration::from_millis(50);
/// Wait after the last phase before the "after load" RSS.
const SETTLE_AFTER_LOAD: Duration = Duration::from_secs(2);
/// Background CPU use (all cores, %) above which the run is flagged as noisy.
pub const BUSY_MACHINE_PERCENT: f64 = 15.0;

/// The request bodies of the phases.
struct Bodies {
    request: Bytes,
    stream: Bytes,
    messages: Bytes,
    slow: Bytes,
}

impl Bodies {
    fn new() -> Bodies {
        Bodies {
            request: Bytes::from_static(REQUEST.as_bytes()),
            stream: Bytes::from_static(STREAM.as_bytes()),
            messages: Bytes::from_static(MESSAGES_STREAM.as_bytes()),
            slow: Bytes::from_static(SLOW_STREAM.as_bytes()),
        }
    }
}

/// Runs every phase on every target, then the soak if asked for.
pub async fn run(args: &Args) -> Result<Results, String> {
    let targets = setup::targets(args)?;
    let bodies = Bodies::new();
    let idle_poll = setup::hold_idle_poll(args.idle_poll);
    let background = setup::background_cpu().await;
    let mut pids = vec![std::process::id()];
    pids.extend(rounds::all(&targets).iter().filter_map(|t| t.pid));
    let ledger = procfs::CpuLedger::start(pids);
    let run_started = Instant::now();
    let watches = targets.map(RssWatch::start);

    eprintln!("warm-up");
    setup::warm_up(&targets, &bodies.request, &bodies.stream).await?;
    let front_door = setup::front_door(targets.keel.as_ref(), args, &bodies.messages).await;
    let mut r = Results {
        idle_poll: idle_poll.is_some(),
        background_cpu_percent: background,
        ..Results::default()
    };
    let burst_peaks = phases::all(args, &targets, front_door.as_ref(), &bodies, &mut r).await;

    if watches.keel.is_some() || watches.proxy.is_some() {
        eprintln!("phase 6: RSS after load (waiting {SETTLE_AFTER_LOAD:?})");
        tokio::time::sleep(SETTLE_AFTER_LOAD).await;
    }
    r.rss = watches
        .zip(burst_peaks)
        .map(|(w, peak)| w.as_ref().and_then(|w| w.finish(*peak)));
    drop(idle_poll);
    r.other_cpu = ledger
        .and_then(|l| l.other_cpu_seconds())
        .map(|s| (s, run_started.elapsed().as_secs_f64()));
    if !args.soak.is_zero() {
        r.soak = soak_keel(args, targets.keel.as_ref(), &bodies).await;
    }
    Ok(r)
}

/// A server's RSS from the start of the run: idle, then sampled for the peak.
struct RssWatch {
    pid: u32,
    idle: u64,
    sampler: RssSampler,
}

impl RssWatch {
    /// Starts watching the target's process, when its pid is known.
    fn start(target: &Target) -> Option<RssWatch> {
        let pid = target.pid?;
        Some(RssWatch {
            pid,
            idle: rss_bytes(pid)?,
            sampler: RssSampler::start(pid, RSS_EVERY),
        })
    }

    /// The RSS figures, with the peak of phase 5's burst.
    fn finish(&self, burst_peak: Option<u64>) -> Option<Rss> {
        Some(Rss {
            idle: self.idle,
            peak: self.sampler.peak(),
            burst_peak: burst_peak.unwrap_or(0),
            after: rss_bytes(self.pid)?,
        })
    }
}

/// The soak on Keel, when Keel and its pid are known.
async fn soak_keel(args: &Args, keel: Option<&Target>, bodies: &Bodies) -> Option<soak::SoakRun> {
    let Some(keel) = keel.filter(|k| k.pid.is_some()) else {
        eprintln!("warning: the soak needs Keel and its pid (--keel, --keel-pid); skipped");
        return None;
    };
    let settings = SoakSettings {
        duration: args.soak,
        unary_rps: args.soak_unary_rps,
        stream_rps: args.soak_stream_rps,
    };
    eprintln!(
        "soak: {:.0} s on keel, {} unary + {} streamed calls/s",
        args.soak.as_secs_f64(),
        settings.unary_rps,
        settings.stream_rps
    );
    Some(soak::run(keel, &bodies.request, &bodies.stream, settings).await)
}
