//! Phase 3: closed-loop maximum throughput: every connection sends its next
//! request as soon as the previous answer is read.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use tokio::task::JoinSet;

use crate::client::{Conn, Target};
use crate::procfs::CpuMeter;
use crate::stats::Percentiles;

/// Result of one saturation run.
#[derive(Debug, Clone, Default)]
pub struct ThroughputRun {
    /// Successful requests per second.
    pub rps: f64,
    /// Successful requests.
    pub requests: usize,
    /// Failed requests (and reconnects).
    pub errors: usize,
    /// Send to last byte of the successful requests.
    pub latency: Percentiles,
    /// Length of the run in seconds.
    pub elapsed_s: f64,
    /// CPU time of the target's process per request served, in µs (see
    /// [`metered`]).
    pub cpu_us_per_req: Option<f64>,
}

/// [`saturate`], also measuring the CPU time of the process answering
/// (`target.pid`: the upstream, the proxy or Keel) per request.
pub async fn metered(
    target: &Target,
    body: &Bytes,
    conns: usize,
    duration: Duration,
) -> ThroughputRun {
    let meter = target.pid.map(CpuMeter::start);
    let mut run = saturate(target, body, conns, duration).await;
    run.cpu_us_per_req = meter
        .and_then(|m| m.seconds())
        .filter(|_| run.requests > 0)
        .map(|s| s * 1e6 / run.requests as f64);
    run
}

/// Runs `conns` connections flat out for `duration`.
pub async fn saturate(
    target: &Target,
    body: &Bytes,
    conns: usize,
    duration: Duration,
) -> ThroughputRun {
    let started = Instant::now();
    let deadline = started + duration;
    let mut workers = JoinSet::new();
    for _ in 0..conns {
        let (target, body) = (target.clone(), body.clone());
        workers.spawn(async move {
            let mut samples = Vec::new();
            let mut errors = 0usize;
            let mut conn = None;
            while Instant::now() < deadline {
                if conn.is_none() {
                    conn = Conn::open(&target).await.ok();
                }
                let (Some(c), Ok(req)) = (
                    conn.as_mut(),
                    target.request("POST", &target.path, body.clone()),
                ) else {
                    errors += 1;
                    continue;
                };
                let t = Instant::now();
                match c.call(req).await {
                    Ok(StatusCode::OK) => samples.push(t.elapsed().as_nanos() as u64),
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        conn = None;
                    }
                }
            }
            (samples, errors)
        });
    }
    let mut samples = Vec::new();
    let mut errors = 0;
    while let Some(done) = workers.join_next().await {
        if let Ok((s, e)) = done {
            samples.extend(s);
            errors += e;
        } else {
            errors += 1;
        }
    }
    let elapsed_s = started.elapsed().as_secs_f64();
    ThroughputRun {
        rps: samples.len() as f64 / elapsed_s,
        requests: samples.len(),
        errors,
        latency: Percentiles::of(&mut samples),
        elapsed_s,
        cpu_us_per_req: None,
    }
}
