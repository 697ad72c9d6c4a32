//! Phase 1: one connection, one request at a time (c=1).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::StatusCode;

use crate::client::{Conn, Target};
use crate::stats::Percentiles;

/// Result of one sequential run.
#[derive(Debug, Clone, Default)]
pub struct LatencyRun {
    pub latency: Percentiles,
    pub errors: usize,
}

/// Sends up to `max_requests` requests back to back on one keep-alive
/// connection, stopping early after `max_time`; latency is send to last
/// body byte.
pub async fn sequential(
    target: &Target,
    body: &Bytes,
    max_requests: usize,
    max_time: Duration,
) -> LatencyRun {
    let mut samples = Vec::with_capacity(max_requests);
    let mut errors = 0;
    let deadline = Instant::now() + max_time;
    let mut conn = None;
    while samples.len() + errors < max_requests && Instant::now() < deadline {
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match Conn::open(target).await {
                Ok(c) => conn.insert(c),
                Err(_) => {
                    errors += 1;
                    continue;
                }
            },
        };
        let Ok(req) = target.request("POST", &target.path, body.clone()) else {
            errors += 1;
            continue;
        };
        let start = Instant::now();
        match c.call(req).await {
            Ok(StatusCode::OK) => samples.push(start.elapsed().as_nanos() as u64),
            Ok(_) => errors += 1,
            Err(_) => {
                errors += 1;
                conn = None;
            }
        }
    }
    LatencyRun {
        latency: Percentiles::of(&mut samples),
        errors,
    }
}
