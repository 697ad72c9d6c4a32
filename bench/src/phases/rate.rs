//! Phase 2: open-loop load at a fixed rate. Every request has a scheduled
//! send time; when a connection is still busy at that time the latency is
//! measured from the schedule, so a slow server cannot hide its queueing
//! (no coordinated omission). When the connection was idle, latency is
//! measured from the actual send, so the load generator's own timer jitter
//! is not charged to the server. The calls are plain requests or, for the
//! soak, whole streams.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use tokio::task::JoinSet;

use crate::client::{Conn, Target};
use crate::stats::Percentiles;

/// What each scheduled call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// A request whose whole answer is read; latency to its last byte.
    Unary,
    /// A streamed request; it counts as answered when it ends with the
    /// stream's end marker, and its latency runs to the last event.
    Stream,
}

/// Result of one fixed-rate run.
#[derive(Debug, Clone, Default)]
pub struct RateRun {
    /// Calls scheduled (and attempted).
    pub sent: usize,
    /// Latency of the calls answered with status 200 (and, for streams,
    /// complete).
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

/// Offers `rate` calls per second for `duration`, spread over `conns`
/// connections (connection `c` sends calls `c`, `c + conns`, …).
pub async fn open_loop(
    call: Call,
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
        let plan = Plan {
            call,
            rate,
            start_at,
            first: c,
            step: conns,
            total,
        };
        workers.spawn(async move { worker(target, body, plan).await });
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
        sent: total,
        achieved_rps: samples.len() as f64 / elapsed,
        latency: Percentiles::of(&mut samples),
        errors,
        behind_schedule: behind,
    }
}

/// One connection's share of the schedule.
#[derive(Debug, Clone, Copy)]
struct Plan {
    call: Call,
    rate: f64,
    start_at: Instant,
    /// This connection sends calls `first`, `first + step`, … below `total`.
    first: usize,
    step: usize,
    total: usize,
}

async fn worker(target: Target, body: Bytes, plan: Plan) -> Worker {
    let mut w = Worker {
        samples: Vec::with_capacity(plan.total / plan.step + 1),
        ..Worker::default()
    };
    let mut conn = Conn::open(&target).await.ok();
    let mut k = plan.first;
    while k < plan.total {
        let scheduled = plan.start_at + Duration::from_secs_f64(k as f64 / plan.rate);
        k += plan.step;
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
        match answered(c, plan.call, req).await {
            Ok(true) => w.samples.push(start.elapsed().as_nanos() as u64),
            Ok(false) => w.errors += 1,
            Err(_) => {
                w.errors += 1;
                conn = None;
            }
        }
    }
    w
}

/// Makes one call; whether it was answered in full with status 200.
async fn answered(
    conn: &mut Conn,
    call: Call,
    req: http::Request<http_body_util::Full<Bytes>>,
) -> Result<bool, crate::client::BoxError> {
    match call {
        Call::Unary => Ok(conn.call(req).await? == StatusCode::OK),
        // `stream` fails on any status but 200.
        Call::Stream => Ok(conn.stream(req).await?.done),
    }
}
