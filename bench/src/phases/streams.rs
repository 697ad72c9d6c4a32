//! Phase 4: streamed completions at low concurrency: time to response
//! headers, time to the first SSE event, and the mean gap between events.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::task::JoinSet;

use crate::client::{Conn, Target};
use crate::stats::Percentiles;

/// Result of one round of streams.
#[derive(Debug, Clone, Default)]
pub struct StreamRun {
    pub streams: usize,
    pub errors: usize,
    /// Send to response headers.
    pub headers: Percentiles,
    /// Send to first complete SSE event.
    pub first_event: Percentiles,
    /// Mean over streams of each stream's mean inter-event gap, in ns.
    pub mean_gap_ns: f64,
    /// Events per stream (the same for every stream when all is well).
    pub events_per_stream: usize,
}

/// Runs streams on `concurrency` connections, each starting the next stream
/// when the previous one ends, until `duration` has passed.
pub async fn round(
    target: &Target,
    body: &Bytes,
    concurrency: usize,
    duration: Duration,
) -> StreamRun {
    let deadline = Instant::now() + duration;
    let mut workers = JoinSet::new();
    for _ in 0..concurrency {
        let (target, body) = (target.clone(), body.clone());
        workers.spawn(async move {
            let mut timings = Vec::new();
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
                match c.stream(req).await {
                    Ok(t) if t.done && t.first_event_at.is_some() => timings.push(t),
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        conn = None;
                    }
                }
            }
            (timings, errors)
        });
    }
    let mut timings = Vec::new();
    let mut errors = 0;
    while let Some(done) = workers.join_next().await {
        if let Ok((t, e)) = done {
            timings.extend(t);
            errors += e;
        } else {
            errors += 1;
        }
    }
    let mut headers: Vec<u64> = timings.iter().map(|t| t.headers_ns()).collect();
    let mut first: Vec<u64> = timings.iter().filter_map(|t| t.first_event_ns()).collect();
    let gaps: Vec<f64> = timings.iter().filter_map(|t| t.mean_gap_ns()).collect();
    StreamRun {
        streams: timings.len(),
        errors,
        headers: Percentiles::of(&mut headers),
        first_event: Percentiles::of(&mut first),
        mean_gap_ns: if gaps.is_empty() {
            0.0
        } else {
            gaps.iter().sum::<f64>() / gaps.len() as f64
        },
        events_per_stream: timings.iter().map(|t| t.events).max().unwrap_or(0),
    }
}
