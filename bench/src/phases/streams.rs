//! Phase 4: streamed completions at low concurrency: time to response
//! headers, time to the first SSE event, and the mean gap between events.
//! Phase 4b (Anthropic front door) mixes two requests on the same
//! connections: Keel's chat completions and Keel's Anthropic messages.

use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::task::JoinSet;

use crate::client::{Conn, StreamTiming, Target};
use crate::procfs::CpuMeter;
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
    /// Mean over streams of each stream's mean gap between content deltas
    /// (the upstream's content chunks, whatever the API), in ns.
    pub delta_gap_ns: f64,
    /// Content deltas per stream.
    pub deltas_per_stream: usize,
    /// CPU time of the measured process per stream, in µs (see [`metered`]).
    pub cpu_us_per_stream: Option<f64>,
}

/// [`round`], also measuring the CPU time the target's process
/// (`target.pid`) spends on it.
pub async fn metered(
    target: &Target,
    body: &Bytes,
    concurrency: usize,
    duration: Duration,
) -> StreamRun {
    let meter = target.pid.map(CpuMeter::start);
    let mut run = round(target, body, concurrency, duration).await;
    run.cpu_us_per_stream = meter
        .and_then(|m| m.seconds())
        .filter(|_| run.streams > 0)
        .map(|s| s * 1e6 / run.streams as f64);
    run
}

/// Runs streams on `concurrency` connections, each starting the next stream
/// when the previous one ends, until `duration` has passed.
pub async fn round(
    target: &Target,
    body: &Bytes,
    concurrency: usize,
    duration: Duration,
) -> StreamRun {
    let variants = [(target.clone(), body.clone())];
    mixed(&variants, concurrency, duration)
        .await
        .pop()
        .unwrap_or_default()
}

/// Like [`round`], but each connection takes the `variants` (endpoint and
/// body, all on the same server) in turn, connection `i` starting with
/// variant `i`, so every variant streams under the same conditions at the
/// same time. One result per variant.
pub async fn mixed(
    variants: &[(Target, Bytes)],
    concurrency: usize,
    duration: Duration,
) -> Vec<StreamRun> {
    let deadline = Instant::now() + duration;
    let mut workers = JoinSet::new();
    for worker in 0..concurrency {
        let variants = variants.to_vec();
        workers.spawn(async move {
            let mut timings: Vec<Vec<StreamTiming>> = variants.iter().map(|_| Vec::new()).collect();
            let mut errors = vec![0usize; variants.len()];
            let mut conn = None;
            let mut next = worker;
            while Instant::now() < deadline && !variants.is_empty() {
                let v = next % variants.len();
                let (target, body) = &variants[v];
                if conn.is_none() {
                    conn = Conn::open(target).await.ok();
                }
                let (Some(c), Ok(req)) = (
                    conn.as_mut(),
                    target.request("POST", &target.path, body.clone()),
                ) else {
                    errors[v] += 1;
                    continue;
                };
                next += 1;
                match c.stream(req).await {
                    Ok(t) if t.done && t.first_event_at.is_some() => timings[v].push(t),
                    Ok(_) => errors[v] += 1,
                    Err(_) => {
                        errors[v] += 1;
                        conn = None;
                    }
                }
            }
            (timings, errors)
        });
    }
    let mut timings: Vec<Vec<StreamTiming>> = variants.iter().map(|_| Vec::new()).collect();
    let mut errors = vec![0usize; variants.len()];
    while let Some(done) = workers.join_next().await {
        if let Ok((t, e)) = done {
            for (v, (t, e)) in t.into_iter().zip(e).enumerate() {
                timings[v].extend(t);
                errors[v] += e;
            }
        } else {
            errors.iter_mut().for_each(|e| *e += 1);
        }
    }
    timings
        .iter()
        .zip(errors)
        .map(|(t, e)| summarise(t, e))
        .collect()
}

fn summarise(timings: &[StreamTiming], errors: usize) -> StreamRun {
    let mut headers: Vec<u64> = timings.iter().map(|t| t.headers_ns()).collect();
    let mut first: Vec<u64> = timings.iter().filter_map(|t| t.first_event_ns()).collect();
    let gaps: Vec<f64> = timings.iter().filter_map(|t| t.mean_gap_ns()).collect();
    let delta_gaps: Vec<f64> = timings
        .iter()
        .filter_map(|t| t.mean_delta_gap_ns())
        .collect();
    StreamRun {
        streams: timings.len(),
        errors,
        headers: Percentiles::of(&mut headers),
        first_event: Percentiles::of(&mut first),
        mean_gap_ns: mean(&gaps),
        events_per_stream: timings.iter().map(|t| t.events).max().unwrap_or(0),
        delta_gap_ns: mean(&delta_gaps),
        deltas_per_stream: timings.iter().map(|t| t.deltas).max().unwrap_or(0),
        cpu_us_per_stream: None,
    }
}

fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        0.0
    } else {
        values.iter().sum::<f64>() / values.len() as f64
    }
}
