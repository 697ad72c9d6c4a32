//! `keel-bench`: measures what Keel adds on top of calling the upstream
//! directly, in one run, on the same machine. See bench/README.md.

mod args;
mod client;
mod meta;
mod phases;
mod procfs;
mod report;
mod results;
mod stats;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;

use crate::args::{Args, USAGE};
use crate::client::Target;
use crate::phases::{concurrency, latency, rate, streams, throughput};
use crate::procfs::{cpu_seconds, rss_bytes, RssSampler};
use crate::results::{CpuCost, FrontDoorRuns, Pair, Results, Rss};

/// A realistic small chat request (~300 bytes).
const REQUEST: &str = r#"{"model":"bench-model","messages":[{"role":"system","content":"You are a helpful assistant that answers briefly."},{"role":"user","content":"Summarise the main trade-offs between latency and throughput when putting a proxy in front of a language model API."}],"max_tokens":64,"temperature":0.2}"#;

/// The same request, streamed with usage.
const STREAM: &str = r#"{"model":"bench-model","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"You are a helpful assistant that answers briefly."},{"role":"user","content":"Summarise the main trade-offs between latency and throughput when putting a proxy in front of a language model API."}],"max_tokens":64}"#;

/// The streamed request of phase 4 as an Anthropic Messages call (phase 4b):
/// same model, system prompt, question and token limit.
const MESSAGES_STREAM: &str = r#"{"model":"bench-model","max_tokens":64,"stream":true,"system":"You are a helpful assistant that answers briefly.","messages":[{"role":"user","content":"Summarise the main trade-offs between latency and throughput when putting a proxy in front of a language model API."}]}"#;

/// A streamed request for the slowly paced model (phase 5).
const SLOW_STREAM: &str = r#"{"model":"bench-slow-stream","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Write a long answer."}]}"#;

/// Sequential requests per c=1 round (bounded by `SEQUENTIAL_MAX_TIME` too).
const SEQUENTIAL_REQUESTS: usize = 3000;
const SEQUENTIAL_MAX_TIME: Duration = Duration::from_secs(3);
/// Connections for the fixed-rate phase.
const RATE_CONNECTIONS: usize = 32;
const THROUGHPUT_CONNECTIONS: usize = 64;
const STREAM_CONCURRENCY: usize = 4;
const STREAM_ROUND: Duration = Duration::from_secs(2);
/// Phase 4b's messages-only round, for Keel's CPU per stream.
const FRONT_DOOR_CPU_ROUND: Duration = Duration::from_secs(1);
const BURST_TIMEOUT: Duration = Duration::from_secs(60);
const SETTLE_AFTER_LOAD: Duration = Duration::from_secs(2);
/// Background CPU use (all cores, %) above which the run is flagged as noisy.
const BUSY_MACHINE_PERCENT: f64 = 15.0;

fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = if args.client_threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.client_threads)
            .enable_all()
            .build()
    };
    let outcome = match runtime {
        Ok(rt) => rt.block_on(run(&args)),
        Err(e) => Err(format!("runtime: {e}")),
    };
    match outcome.and_then(|r| output(&args, &r)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keel-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn output(args: &Args, r: &Results) -> Result<(), String> {
    let date = meta::utc_now();
    let rows = report::rows(r);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut header = format!("## Keel overhead benchmark ({date}, {cores} cores)");
    header.push_str(if r.idle_poll {
        "\n\nIdle CPUs polled (/dev/cpu_dma_latency held at 0)."
    } else {
        "\n\nIdle CPUs halted normally (wake-up latency included)."
    });
    if let Some(pct) = r.background_cpu_percent {
        header.push_str(&format!(
            "\nOther processes used {pct:.0}% of the CPUs just before the run."
        ));
        if pct > BUSY_MACHINE_PERCENT {
            header.push_str(" **The machine was busy: treat these numbers as noisy.**");
        }
    }
    if let Some((cpu_s, wall_s)) = r.other_cpu {
        header.push_str(&format!(
            "\nDuring the run other processes used {cpu_s:.1} CPU-seconds in {wall_s:.0} s ({:.0}% of one core).",
            cpu_s * 100.0 / wall_s.max(1e-9)
        ));
    }
    let mut meta = meta::describe(args, &date);
    meta["background_cpu_percent"] = serde_json::json!(r.background_cpu_percent);
    meta["idle_poll"] = serde_json::json!(r.idle_poll);
    meta["other_processes_cpu_s"] = serde_json::json!(r.other_cpu.map(|(cpu, _)| cpu));
    meta["run_wall_s"] = serde_json::json!(r.other_cpu.map(|(_, wall)| wall));
    let doc = report::json_doc(&rows, r, meta);
    if let Some(dir) = std::path::Path::new(&args.out).parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    std::fs::write(&args.out, text + "\n").map_err(|e| format!("{}: {e}", args.out))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", report::markdown(&rows, &header)).map_err(|e| e.to_string())?;
    writeln!(stdout, "JSON: {}", args.out).map_err(|e| e.to_string())
}

/// Runs `f` on both targets for `rounds` rounds, alternating which goes first.
async fn each_round<T, F, Fut>(
    direct: &Target,
    keel: Option<&Target>,
    rounds: usize,
    f: F,
) -> Pair<Vec<T>>
where
    F: FnMut(Target) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let targets: Vec<Target> = std::iter::once(direct).chain(keel).cloned().collect();
    let mut runs = each_round_of(&targets, rounds, f).await.into_iter();
    Pair {
        direct: runs.next().unwrap_or_default(),
        keel: runs.next(),
    }
}

/// Runs `f` on every item for `rounds` rounds, in the given order in even
/// rounds and in reverse in odd ones; one list of results per item.
async fn each_round_of<I, T, F, Fut>(items: &[I], rounds: usize, mut f: F) -> Vec<Vec<T>>
where
    I: Clone,
    F: FnMut(I) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut out: Vec<Vec<T>> = items.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..items.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            out[i].push(f(items[i].clone()).await);
        }
    }
    out
}

/// Variant `i` of each round's stream runs.
fn variant(rounds: &[Vec<streams::StreamRun>], i: usize) -> Vec<streams::StreamRun> {
    rounds.iter().filter_map(|v| v.get(i).cloned()).collect()
}

/// The stream runs of phases 4 and 4b, interleaved in each round.
#[derive(Debug, Clone, Copy)]
enum StreamJob {
    Direct,
    Keel,
    /// Phase 4b: chat completions and messages through Keel, mixed.
    FrontDoor,
    /// Phase 4b: messages only, for Keel's CPU per stream.
    FrontDoorCpu,
}

async fn run(args: &Args) -> Result<Results, String> {
    let direct = Target::parse("direct", &args.direct, None)?;
    let keel = match (&args.keel, args.direct_only) {
        (Some(url), false) => Some(Target::parse(
            "keel",
            url,
            Some(format!("Bearer {}", args.keel_key)),
        )?),
        _ => None,
    };
    let keel_pid = args.keel_pid.filter(|_| keel.is_some());
    let (request, stream, messages, slow) = (
        Bytes::from_static(REQUEST.as_bytes()),
        Bytes::from_static(STREAM.as_bytes()),
        Bytes::from_static(MESSAGES_STREAM.as_bytes()),
        Bytes::from_static(SLOW_STREAM.as_bytes()),
    );
    let idle_poll = if args.idle_poll {
        match procfs::IdlePoll::request() {
            Ok(hold) => Some(hold),
            Err(e) => {
                eprintln!("warning: cannot hold /dev/cpu_dma_latency at 0 ({e}); latencies include CPU wake-ups");
                None
            }
        }
    } else {
        None
    };
    let background = procfs::background_cpu_percent(Duration::from_secs(1)).await;
    if let Some(pct) = background.filter(|p| *p > BUSY_MACHINE_PERCENT) {
        eprintln!("warning: {pct:.0}% of the CPUs are busy before the benchmark starts; numbers will be noisy");
    }
    let pids = [Some(std::process::id()), keel_pid, args.upstream_pid];
    let ledger = procfs::CpuLedger::start(pids.into_iter().flatten().collect());
    let run_started = std::time::Instant::now();
    let idle_rss = keel_pid.and_then(rss_bytes);
    let sampler = keel_pid.map(|pid| RssSampler::start(pid, Duration::from_millis(50)));
    let targets: Vec<&Target> = std::iter::once(&direct).chain(keel.as_ref()).collect();

    eprintln!("warm-up");
    for t in &targets {
        let warm = latency::sequential(t, &request, 500, Duration::from_secs(5)).await;
        let s = streams::round(t, &stream, 2, Duration::from_millis(300)).await;
        if warm.errors > 0 || warm.latency.count == 0 || s.streams == 0 || s.errors > 0 {
            return Err(format!(
                "{} ({}) is not answering properly: {} errors of {} requests, {} stream errors",
                t.label,
                t.addr,
                warm.errors,
                warm.errors + warm.latency.count,
                s.errors
            ));
        }
    }
    // Phase 4b needs Keel's Anthropic endpoint; a stand-in proxy has none.
    let mut front_door = keel
        .as_ref()
        .map(|k| k.messages("keel messages", &args.keel_key));
    if let Some(m) = &front_door {
        let s = streams::round(m, &messages, 2, Duration::from_millis(300)).await;
        if s.streams == 0 || s.errors > 0 || s.deltas_per_stream == 0 {
            eprintln!(
                "warning: {}{} does not stream Anthropic messages ({} of {} streams failed); skipping phase 4b",
                m.addr,
                m.path,
                s.errors,
                s.errors + s.streams
            );
            front_door = None;
        }
    }
    let keel = keel.as_ref();
    let mut r = Results {
        idle_poll: idle_poll.is_some(),
        background_cpu_percent: background,
        ..Results::default()
    };

    let mark = |r: &mut Results, after: &str| {
        if let Some(rss) = keel_pid.and_then(rss_bytes) {
            r.rss_by_phase.push((after.to_owned(), rss));
        }
    };
    mark(&mut r, "warm-up");
    eprintln!("phase 1: c=1 sequential");
    r.sequential = each_round(&direct, keel, args.rounds, |t| {
        let body = request.clone();
        async move { latency::sequential(&t, &body, SEQUENTIAL_REQUESTS, SEQUENTIAL_MAX_TIME).await }
    })
    .await;
    mark(&mut r, "c=1");

    for &rps in &args.rates {
        eprintln!("phase 2: {rps} req/s");
        let runs =
            each_round(&direct, keel, args.rounds, |t| {
                let body = request.clone();
                async move {
                    rate::open_loop(&t, &body, rps, args.rate_duration, RATE_CONNECTIONS).await
                }
            })
            .await;
        r.rates.push((rps, runs));
        mark(&mut r, &format!("{rps} req/s"));
    }

    eprintln!("phase 3: max throughput");
    let upstream_cpu = args.upstream_pid.and_then(cpu_seconds);
    let d = throughput::saturate(
        &direct,
        &request,
        THROUGHPUT_CONNECTIONS,
        args.throughput_duration,
    )
    .await;
    let upstream_cpu_after = args.upstream_pid.and_then(cpu_seconds);
    r.cpu = CpuCost {
        upstream_us_per_req: upstream_cpu
            .zip(upstream_cpu_after)
            .map(|(a, b)| (b - a) * 1e6 / d.requests.max(1) as f64),
        keel_us_per_req: None,
    };
    r.throughput = Pair {
        direct: d,
        keel: None,
    };
    if let Some(k) = keel {
        let before = keel_pid.and_then(cpu_seconds);
        let run = throughput::saturate(
            k,
            &request,
            THROUGHPUT_CONNECTIONS,
            args.throughput_duration,
        )
        .await;
        let after = keel_pid.and_then(cpu_seconds);
        r.cpu.keel_us_per_req = before
            .zip(after)
            .map(|(a, b)| (b - a) * 1e6 / run.requests.max(1) as f64);
        r.throughput.keel = Some(run);
    }

    mark(&mut r, "max throughput");
    if front_door.is_some() {
        eprintln!("phase 4: streams, with 4b: Anthropic front door (interleaved rounds)");
    } else {
        eprintln!("phase 4: streams");
    }
    // Each round runs these in order (reversed every other round), so 4b's
    // rounds sit next to phase 4's keel round.
    let mut jobs = vec![StreamJob::Direct];
    jobs.extend(keel.map(|_| StreamJob::Keel));
    if front_door.is_some() {
        jobs.extend([StreamJob::FrontDoor, StreamJob::FrontDoorCpu]);
    }
    let mut runs = each_round_of(&jobs, args.rounds, |job| {
        let (direct, keel, front_door) = (&direct, keel, front_door.as_ref());
        let (stream, messages) = (&stream, &messages);
        async move {
            let (c, d) = (STREAM_CONCURRENCY, STREAM_ROUND);
            match (job, keel, front_door) {
                (StreamJob::Keel, Some(k), _) => {
                    vec![streams::metered(k, stream, c, d, keel_pid).await]
                }
                (StreamJob::FrontDoor, Some(k), Some(m)) => {
                    let variants = [(k.clone(), stream.clone()), (m.clone(), messages.clone())];
                    streams::mixed(&variants, c, d).await
                }
                (StreamJob::FrontDoorCpu, _, Some(m)) => {
                    vec![streams::metered(m, messages, c, FRONT_DOOR_CPU_ROUND, keel_pid).await]
                }
                (StreamJob::Direct, _, _) => vec![streams::round(direct, stream, c, d).await],
                _ => Vec::new(),
            }
        }
    })
    .await
    .into_iter();
    r.streams = Pair {
        direct: runs.next().map(|v| variant(&v, 0)).unwrap_or_default(),
        keel: keel.and_then(|_| runs.next()).map(|v| variant(&v, 0)),
    };
    if let (Some(mixed), Some(cpu)) = (runs.next(), runs.next()) {
        r.front_door = Some(FrontDoorRuns {
            chat: variant(&mixed, 0),
            messages: variant(&mixed, 1),
            messages_cpu: variant(&cpu, 0),
        });
    }

    mark(&mut r, "streams");
    eprintln!("phase 5: {} concurrent streams", args.streams);
    let burst = |t: Target| {
        let body = slow.clone();
        async move { concurrency::burst(&t, &body, args.streams, args.stall, BURST_TIMEOUT).await }
    };
    r.concurrency = Pair {
        direct: burst(direct.clone()).await,
        keel: match keel {
            Some(k) => Some(burst(k.clone()).await),
            None => None,
        },
    };

    mark(&mut r, "concurrent streams");
    if let (Some(pid), Some(sampler), Some(idle)) = (keel_pid, sampler, idle_rss) {
        eprintln!("phase 6: RSS after load (waiting {SETTLE_AFTER_LOAD:?})");
        tokio::time::sleep(SETTLE_AFTER_LOAD).await;
        r.rss = Some(Rss {
            idle,
            peak: sampler.peak(),
            after: rss_bytes(pid).unwrap_or(0),
        });
    }
    drop(idle_poll);
    r.other_cpu = ledger
        .and_then(|l| l.other_cpu_seconds())
        .map(|s| (s, run_started.elapsed().as_secs_f64()));
    Ok(r)
}
