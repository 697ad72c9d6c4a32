//! `--governance`: what a key with limits (RPM, TPM, a USD budget) costs on
//! top of a key without, with Keel's counters in memory and in Redis. Phase 1
//! (c=1) then phase 3 (64 connections) on every variant, rounds interleaved
//! as in the main run.

use std::future::Future;
use std::time::{Duration, Instant};

use super::phases::{SEQUENTIAL_MAX_TIME, SEQUENTIAL_REQUESTS, THROUGHPUT_CONNECTIONS};
use super::{setup, Bodies};
use crate::args::Args;
use crate::client::Target;
use crate::phases::{latency, throughput};
use crate::procfs::{self, CpuMeter};
use crate::redis::Redis;
use crate::results::{Cost, GovernanceResults, Variant, VariantRuns};
use crate::rounds::each_round_of;

/// PINGs for Redis's round trip.
const PINGS: usize = 2000;
/// Requests per variant in the warm-up, then a second at 64 connections:
/// a process's first rounds at 64 connections cost more CPU per request
/// while its memory grows to what that load needs.
const WARM_UP: usize = 500;
const WARM_UP_LOAD: Duration = Duration::from_secs(1);
/// A process counts as idle once it uses less than 2 ms of CPU in 100 ms.
const QUIET_WINDOW: Duration = Duration::from_millis(100);
const QUIET_CPU_S: f64 = 0.002;
/// Longest wait for a process to become idle after a round.
const QUIET_MAX: Duration = Duration::from_secs(3);

/// Where the variants' costs are read: Redis's address and pid, when known.
#[derive(Debug, Clone, Copy)]
struct RedisSide<'a> {
    addr: Option<&'a str>,
    pid: Option<u32>,
}

/// Runs the comparison.
pub async fn run(args: &Args) -> Result<GovernanceResults, String> {
    let variants = targets(args)?;
    let request = Bodies::new().request;
    let redis = RedisSide {
        addr: args.redis.as_deref(),
        pid: args.redis_pid,
    };
    let idle_poll = setup::hold_idle_poll(args.idle_poll);
    let background = setup::background_cpu().await;
    let mut pids = vec![std::process::id()];
    pids.extend(variants.iter().filter_map(|(_, t)| t.pid));
    pids.extend(redis.pid);
    pids.sort_unstable();
    pids.dedup();
    let ledger = procfs::CpuLedger::start(pids);
    let started = Instant::now();

    eprintln!("governance: warm-up");
    warm_up(&variants, &request, redis).await?;
    let redis_ping = match redis.addr {
        Some(addr) => {
            let ping = async { Redis::connect(addr).await?.ping(PINGS).await };
            Some(ping.await.map_err(|e| format!("redis at {addr}: {e}"))?)
        }
        None => None,
    };

    eprintln!("governance: phase 1, c=1 sequential");
    let sequential = each_round_of(&variants, args.rounds, |(_, t)| {
        let body = request.clone();
        async move {
            let round = latency::sequential(&t, &body, SEQUENTIAL_REQUESTS, SEQUENTIAL_MAX_TIME);
            costed(&t, redis, round, |r| r.latency.count).await
        }
    })
    .await;
    eprintln!("governance: phase 3, max throughput");
    let (body, secs) = (&request, args.throughput_duration);
    let throughput = each_round_of(&variants, args.rounds, |(_, t)| async move {
        let round = throughput::saturate(&t, body, THROUGHPUT_CONNECTIONS, secs);
        let (mut run, cost) = costed(&t, redis, round, |r| r.requests).await;
        run.cpu_us_per_req = cost.cpu_us;
        (run, cost)
    })
    .await;

    let polled = idle_poll.is_some();
    drop(idle_poll);
    let variants = variants
        .iter()
        .zip(sequential.into_iter().zip(throughput))
        .map(|((variant, _), (sequential, throughput))| VariantRuns {
            variant: *variant,
            sequential,
            throughput,
        })
        .collect();
    Ok(GovernanceResults {
        variants,
        redis_ping,
        idle_poll: polled,
        background_cpu_percent: background,
        other_cpu: ledger
            .and_then(|l| l.other_cpu_seconds())
            .map(|s| (s, started.elapsed().as_secs_f64())),
    })
}

/// The variants measured: direct, Keel with the plain key and with the
/// governed one, and the same two on the Keel with Redis counters when given.
fn targets(args: &Args) -> Result<Vec<(Variant, Target)>, String> {
    let (Some(keel), Some(governed)) = (&args.keel, &args.governed_key) else {
        return Err("--governance needs --keel and --governed-key".to_owned());
    };
    let on = |v: Variant, url: &str, key: &str, pid: Option<u32>| {
        let t = Target::parse(v.label(), url, Some(format!("Bearer {key}")))?;
        Ok::<_, String>((v, t.with_pid(pid)))
    };
    let direct = Target::parse(Variant::Direct.label(), &args.direct, None)?;
    let mut v = vec![
        (Variant::Direct, direct.with_pid(args.upstream_pid)),
        on(Variant::Plain, keel, &args.keel_key, args.keel_pid)?,
        on(Variant::Governed, keel, governed, args.keel_pid)?,
    ];
    if let (Some(url), Some(key)) = (&args.keel_redis, &args.keel_redis_key) {
        let pid = args.keel_redis_pid;
        v.push(on(Variant::RedisPlain, url, &args.keel_key, pid)?);
        v.push(on(Variant::RedisGoverned, url, key, pid)?);
    }
    Ok(v)
}

/// A few hundred requests per variant and a second at 64 connections; an
/// error if one is refused (a governed key over a limit, say). Warns when
/// Redis does not run a script per request of the Keel with Redis counters:
/// they are elsewhere.
async fn warm_up(
    variants: &[(Variant, Target)],
    request: &bytes::Bytes,
    redis: RedisSide<'_>,
) -> Result<(), String> {
    for (variant, t) in variants {
        let round = latency::sequential(t, request, WARM_UP, Duration::from_secs(5));
        let (warm, cost) = costed(t, redis, round, |r| r.latency.count).await;
        if warm.errors > 0 || warm.latency.count == 0 {
            return Err(format!(
                "{} ({}) is not answering properly: {} errors of {} requests",
                t.label,
                t.addr,
                warm.errors,
                warm.errors + warm.latency.count
            ));
        }
        let load = throughput::saturate(t, request, THROUGHPUT_CONNECTIONS, WARM_UP_LOAD);
        let (load, _) = costed(t, redis, load, |r| r.requests).await;
        if load.errors > 0 {
            return Err(format!(
                "{} ({}) failed {} requests at {THROUGHPUT_CONNECTIONS} connections",
                t.label, t.addr, load.errors
            ));
        }
        let scripts = cost.redis_scripts.unwrap_or(1.0);
        if *variant == Variant::RedisGoverned && scripts < 0.9 {
            eprintln!(
                "warning: Redis ran {scripts:.2} scripts per request of {}; its counters may not be in that Redis",
                t.label
            );
        }
    }
    Ok(())
}

/// Runs `round` on `t` and charges what it cost the target's process and
/// Redis to the requests it answered (`answered`). The meters stay on until
/// the target's process is idle again, so work it defers past the round
/// (records written in batches, budget settles sent to Redis) counts for
/// the round that caused it rather than the next.
async fn costed<R>(
    t: &Target,
    redis: RedisSide<'_>,
    round: impl Future<Output = R>,
    answered: fn(&R) -> usize,
) -> (R, Cost) {
    let cpu = t.pid.map(CpuMeter::start);
    let redis_cpu = redis.pid.map(CpuMeter::start);
    let before = script_stats(redis.addr).await;
    let out = round.await;
    if let Some(pid) = t.pid {
        quiet(pid).await;
    }
    let (calls, usec) = match (script_stats(redis.addr).await, before) {
        (Some(after), Some(before)) => (
            Some(after.0.saturating_sub(before.0) as f64),
            Some(after.1.saturating_sub(before.1) as f64),
        ),
        _ => (None, None),
    };
    let n = answered(&out) as f64;
    let per = |v: Option<f64>| v.filter(|_| n > 0.0).map(|v| v / n);
    let cost = Cost {
        cpu_us: per(cpu.and_then(|m| m.seconds()).map(|s| s * 1e6)),
        redis_cpu_us: per(redis_cpu.and_then(|m| m.seconds()).map(|s| s * 1e6)),
        redis_scripts: per(calls),
        redis_us_per_script: usec.zip(calls.filter(|c| *c > 0.0)).map(|(u, c)| u / c),
    };
    (out, cost)
}

/// Redis's script count and time so far, when it is known and answers.
async fn script_stats(addr: Option<&str>) -> Option<(u64, u64)> {
    let mut redis = Redis::connect(addr?).await.ok()?;
    redis.script_stats().await.ok()
}

/// Waits until `pid` uses almost no CPU, for at most [`QUIET_MAX`].
async fn quiet(pid: u32) {
    let deadline = Instant::now() + QUIET_MAX;
    while Instant::now() < deadline {
        let meter = CpuMeter::start(pid);
        tokio::time::sleep(QUIET_WINDOW).await;
        if meter.seconds().is_none_or(|s| s < QUIET_CPU_S) {
            return;
        }
    }
}
