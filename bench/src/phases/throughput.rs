//! Phase 3: closed-loop maximum throughput: every connection sends its next
//! request as soon as the previous answer is read.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;
use tokio::task::JoinSet;

use crate::client::{Conn, Target};
use crate::stats::Percentiles;

/// Result of one saturation run.
#[derive(Debug, Clone, Default)]
pub struct ThroughputRun {
    pub rps: f64,
    pub requests: usize,
    pub errors: usize,
    pub latency: Percentiles,
    pub elapsed_s: f64,
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
    }
}
