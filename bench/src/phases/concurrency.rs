//! Phase 5: many streams at once. All connections are opened first, then
//! every stream starts at the same moment; a stream passes when it ends with
//! `[DONE]`, without error, and no gap between its events exceeds the stall
//! threshold.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::client::{Conn, StreamTiming, Target};
use crate::stats::Percentiles;

/// Result of one burst of concurrent streams.
#[derive(Debug, Clone, Default)]
pub struct ConcurrencyRun {
    pub requested: usize,
    pub connected: usize,
    /// Ended with `[DONE]`, no error, no gap above the threshold.
    pub passed: usize,
    /// Finished but had a gap above the threshold.
    pub stalled: usize,
    pub errors: usize,
    /// Per-stream longest gap between events.
    pub max_gap: Percentiles,
    /// Per-stream send to first event.
    pub first_event: Percentiles,
    /// Per-connection TCP connect time, all connecting at once before the
    /// burst (a short accept queue shows here as ~1 s SYN retries).
    pub connect: Percentiles,
    /// Start of the burst to the end of the last stream.
    pub elapsed_s: f64,
}

enum Outcome {
    NoConnection,
    Failed,
    Finished(StreamTiming),
}

/// A stream's outcome and how long its connection took to open.
struct Report {
    outcome: Outcome,
    connect_ns: u64,
}

/// Runs `n` simultaneous streams; each must finish within `timeout`.
pub async fn burst(
    target: &Target,
    body: &Bytes,
    n: usize,
    stall: Duration,
    timeout: Duration,
) -> ConcurrencyRun {
    let barrier = Arc::new(Barrier::new(n + 1));
    let mut workers = JoinSet::new();
    for _ in 0..n {
        let (target, body, barrier) = (target.clone(), body.clone(), Arc::clone(&barrier));
        workers.spawn(async move {
            let t = Instant::now();
            let conn = Conn::open(&target).await;
            let connect_ns = t.elapsed().as_nanos() as u64;
            barrier.wait().await;
            let outcome = match (conn, target.request("POST", &target.path, body)) {
                (Err(_), _) => Outcome::NoConnection,
                (Ok(_), Err(_)) => Outcome::Failed,
                (Ok(mut conn), Ok(req)) => {
                    match tokio::time::timeout(timeout, conn.stream(req)).await {
                        Ok(Ok(t)) if t.done => Outcome::Finished(t),
                        _ => Outcome::Failed,
                    }
                }
            };
            Report {
                outcome,
                connect_ns,
            }
        });
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut run = ConcurrencyRun {
        requested: n,
        ..ConcurrencyRun::default()
    };
    let (mut gaps, mut firsts, mut connects) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(done) = workers.join_next().await {
        let outcome = match done {
            Ok(report) => {
                connects.push(report.connect_ns);
                Ok(report.outcome)
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(Outcome::Finished(t)) => {
                run.connected += 1;
                gaps.push(t.max_gap_ns);
                firsts.extend(t.first_event_ns());
                if t.max_gap_ns > stall.as_nanos() as u64 {
                    run.stalled += 1;
                } else {
                    run.passed += 1;
                }
            }
            Ok(Outcome::Failed) => {
                run.connected += 1;
                run.errors += 1;
            }
            Ok(Outcome::NoConnection) | Err(_) => run.errors += 1,
        }
    }
    run.elapsed_s = started.elapsed().as_secs_f64();
    run.max_gap = Percentiles::of(&mut gaps);
    run.first_event = Percentiles::of(&mut firsts);
    run.connect = Percentiles::of(&mut connects);
    run
}
