//! Phase 2: open-loop load at a fixed rate. Every request has a scheduled
//! send time; when a connection is still busy at that time the latency is
//! measured from the schedule, so a slow server cannot hide its queueing
//! (no coordinated omission). When the connection was idle, latency is
//! measured from the actual send, so the load generator's own timer jitter
//! is not charged to the server.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use tokio::task::JoinSet;

use crate::client::{Conn, Target};
use crate::stats::Percentiles;

/// Result of one fixed-rate run.
#[derive(Debug, Clone, Default)]
pub struct RateRun {
    pub latency: Percentiles,
    /// Successful responses per second actually achieved.
    pub achieved_rps: f64,
    pub errors: usize,
    /// Requests sent after their scheduled time because the connection was busy.
    pub behind_schedule: usize,
}

/// Per-connection result.
#[derive(Default)]
struct Worker {
    samples: Vec<u64>,
    errors: usize,
    behind: usize,
}

/// Offers `rate` requests per second for `duration`, spread over `conns`
/// connections (connection `c` sends requests `c`, `c + conns`, …).
pub async fn open_loop(
    target: &Target,
    body: &Bytes,
    rate: f64,
    duration: Duration,
    conns: usize,
) -> RateRun {
    let total = (rate * duration.as_secs_f64()).round() as usize;
    let start_at = Instant::now() + Duration::from_millis(20);
    let mut workers = JoinSet::new();
    for c in 0..conns.min(total.max(1)) {
        let (target, body) = (target.clone(), body.clone());
        workers.spawn(async move { worker(target, body, rate, start_at, c, conns, total).await });
    }
    let mut samples = Vec::with_capacity(total);
    let (mut errors, mut behind) = (0, 0);
    while let Some(done) = workers.join_next().await {
        match done {
            Ok(w) => {
                samples.extend(w.samples);
                errors += w.errors;
                behind += w.behind;
            }
            Err(_) => errors += 1,
        }
    }
    let elapsed = start_at.elapsed().as_secs_f64().max(duration.as_secs_f64());
    RateRun {
        achieved_rps: samples.len() as f64 / elapsed,
        latency: Percentiles::of(&mut samples),
        errors,
        behind_schedule: behind,
    }
}

async fn worker(
    target: Target,
    body: Bytes,
    rate: f64,
    start_at: Instant,
    first: usize,
    step: usize,
    total: usize,
) -> Worker {
    let mut w = Worker {
        samples: Vec::with_capacity(total / step + 1),
        ..Worker::default()
    };
    let mut conn = Conn::open(&target).await.ok();
    let mut k = first;
    while k < total {
        let scheduled = start_at + Duration::from_secs_f64(k as f64 / rate);
        k += step;
        let start = if Instant::now() < scheduled {
            tokio::time::sleep_until(scheduled.into()).await;
            Instant::now()
        } else {
            w.behind += 1;
            scheduled
        };
        if conn.is_none() {
            conn = Conn::open(&target).await.ok();
        }
        let (Some(c), Ok(req)) = (
            conn.as_mut(),
            target.request("POST", &target.path, body.clone()),
        ) else {
            w.errors += 1;
            continue;
        };
        match c.call(req).await {
            Ok(StatusCode::OK) => w.samples.push(start.elapsed().as_nanos() as u64),
            Ok(_) => w.errors += 1,
            Err(_) => {
                w.errors += 1;
                conn = None;
            }
        }
    }
    w
}
