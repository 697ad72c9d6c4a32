//! CPU cost of the policy stage, in-process: finding a virtual key by its
//! secret, then checking and reserving a call against a key with an RPM and
//! a TPM limit, a daily USD budget and a run budget, then settling it. Once
//! with the counters in memory, once in Redis (127.0.0.1:6379, when it
//! answers), where the figure includes one round trip to Redis.
//!
//! `keel-policy-bench [iterations]` (default 200000).

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

use keel_policy::ledger::Ask;
use keel_policy::{Clock, Directory, Estimate, Held, Ledger, RedisLedger, WhenDown};
use keel_store::governance::{self as g, ApiKey, Limits, Period};

fn main() {
    let iterations: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let secret = keel_policy::secret::generate();
    let limits = Limits {
        rpm: Some(u64::MAX / 4),
        tpm: Some(u64::MAX / 4),
        budget_usd: Some(1e9),
        budget_period: Some(Period::Daily),
        run_budget_usd: Some(1e9),
        ..Limits::default()
    };
    let key = ApiKey {
        id: "k1".into(),
        name: "bench".into(),
        prefix: secret.prefix.clone(),
        secret_sha256: secret.sha256.clone(),
        previous_sha256: None,
        previous_valid_until_ms: None,
        team_id: None,
        user_id: None,
        agent: None,
        admin: false,
        models: vec!["bench-*".into()],
        limits,
        tags: Default::default(),
        metadata: serde_json::Value::Null,
        expires_at_ms: None,
        revoked_at_ms: None,
        created_at_ms: 0,
        updated_at_ms: 0,
    };
    let directory = Directory::default();
    directory.install(g::Directory {
        version: 1,
        keys: vec![key],
        ..Default::default()
    });
    let clock = Clock::system();
    let ledger = Ledger::new(clock.clone(), vec![50, 80, 100]);
    let estimate = Estimate {
        usd: 0.001,
        tokens: 600,
    };
    let used = Estimate {
        usd: 0.0004,
        tokens: 200,
    };

    println!("## Policy stage cost (in-process, {iterations} calls)\n");
    println!("| counters | µs of CPU per call | wall µs per call |");
    println!("|---|---:|---:|");
    let (cpu, wall) = measure(iterations, || {
        let snapshot = directory.snapshot();
        let entry = snapshot
            .authenticate(black_box(&secret.secret), clock.now_ms())
            .unwrap();
        assert!(entry.principal.models.allows("bench-model"));
        let ask = Ask {
            principal: &entry.principal,
            model: None,
            run: Some("trace-1"),
            estimate,
        };
        let held = ledger.reserve(&ask).unwrap();
        black_box(held.settle(used, clock.now_ms()));
    });
    println!("| in memory (identify + reserve + settle) | {cpu:.2} | {wall:.2} |");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let prefix = format!("keel-bench-{}", std::process::id());
        let redis = match RedisLedger::connect(
            "redis://127.0.0.1:6379",
            &prefix,
            WhenDown::FailClosed,
            ledger.clone(),
            vec![50, 80, 100],
            Box::new(|_| {}),
        )
        .await
        {
            Ok(redis) => redis,
            Err(e) => {
                println!("| Redis | not measured: {e} | |");
                return;
            }
        };
        let n = (iterations / 20).max(1000);
        let cpu_start = cpu_time();
        let start = Instant::now();
        for _ in 0..n {
            let snapshot = directory.snapshot();
            let entry = snapshot
                .authenticate(&secret.secret, clock.now_ms())
                .unwrap();
            let ask = Ask {
                principal: &entry.principal,
                model: None,
                run: Some("trace-1"),
                estimate,
            };
            let held = redis.reserve(&ask).await.unwrap();
            assert!(matches!(held, Held::Redis(_)));
            held.settle(used, clock.now_ms());
        }
        redis.drain().await;
        let cpu = (cpu_time() - cpu_start) / f64::from(n) * 1e6;
        let wall = start.elapsed().as_secs_f64() / f64::from(n) * 1e6;
        println!(
            "| Redis (reserve round trip + settle, this process's CPU) | {cpu:.2} | {wall:.2} |"
        );
    });
}

/// Runs `f` `n` times; CPU and wall time per call in µs.
fn measure(n: u32, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..n / 10 {
        f();
    }
    let cpu_start = cpu_time();
    let start = Instant::now();
    for _ in 0..n {
        f();
    }
    let cpu = (cpu_time() - cpu_start) / f64::from(n) * 1e6;
    (cpu, start.elapsed().as_secs_f64() / f64::from(n) * 1e6)
}

/// This process's user + system CPU time in seconds (from /proc).
fn cpu_time() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}
