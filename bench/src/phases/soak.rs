//! The soak (off by default): open-loop load on Keel for minutes, unary and
//! streamed calls at fixed rates (phase 2's scheduler), while Keel's RSS is
//! sampled every second, to see whether memory creeps up under steady load.
//! Keel's `/metrics` before and after gives the records it wrote meanwhile.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::client::{Conn, Target};
use crate::phases::rate::{self, Call, RateRun};
use crate::procfs::rss_bytes;

/// Connections carrying the unary calls.
const UNARY_CONNECTIONS: usize = 32;
/// Connections carrying the streams (a stream lasts ~0.1 s).
const STREAM_CONNECTIONS: usize = 16;
/// How often Keel's RSS is read.
const RSS_EVERY: Duration = Duration::from_secs(1);
/// Time for Keel's writer to store the last records (it flushes every 100 ms).
const RECORD_FLUSH: Duration = Duration::from_secs(1);
/// The warm-up is this long, or [`WARM_UP_SHARE`] of the soak if shorter.
const WARM_UP: Duration = Duration::from_secs(30);
const WARM_UP_SHARE: f64 = 0.1;

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct SoakSettings {
    /// Length of the load (the warm-up included).
    pub duration: Duration,
    /// Unary calls per second.
    pub unary_rps: f64,
    /// Streamed calls per second.
    pub stream_rps: f64,
}

/// Keel's record counters (`/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Records {
    /// `keel_records_written_total` gained during the soak.
    pub written: u64,
    /// `keel_records_lost_total` gained during the soak.
    pub lost: u64,
    /// `keel_records_written_total` at the end: every record of the run.
    pub written_total: u64,
}

/// Result of a soak.
#[derive(Debug, Clone, Default)]
pub struct SoakRun {
    /// What was run.
    pub settings: Option<SoakSettings>,
    /// The unary calls.
    pub unary: RateRun,
    /// The streamed calls.
    pub streams: RateRun,
    /// Seconds since the start and Keel's RSS in bytes, every second.
    pub rss: Vec<(f64, u64)>,
    /// From `/metrics`, when Keel answered it before and after.
    pub records: Option<Records>,
}

/// Keel's RSS over the soak.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RssTrend {
    /// Seconds of warm-up before `start`.
    pub warm_up_s: f64,
    /// RSS in bytes after the warm-up.
    pub start: u64,
    /// RSS in bytes halfway through.
    pub middle: u64,
    /// RSS in bytes at the end.
    pub end: u64,
    /// Least-squares slope of the second half's samples, bytes per minute.
    pub per_minute: f64,
    /// That slope over the second half's length, in bytes.
    pub second_half: f64,
}

/// Runs the soak against `keel` (whose `pid` must be known for the RSS).
pub async fn run(keel: &Target, unary: &Bytes, stream: &Bytes, s: SoakSettings) -> SoakRun {
    let before = records(keel).await;
    let (unary, streams, rss) = tokio::join!(
        rate::open_loop(
            Call::Unary,
            keel,
            unary,
            s.unary_rps,
            s.duration,
            UNARY_CONNECTIONS
        ),
        rate::open_loop(
            Call::Stream,
            keel,
            stream,
            s.stream_rps,
            s.duration,
            STREAM_CONNECTIONS
        ),
        sample_rss(keel.pid, s.duration),
    );
    tokio::time::sleep(RECORD_FLUSH).await;
    let after = records(keel).await;
    SoakRun {
        settings: Some(s),
        unary,
        streams,
        rss,
        records: before.zip(after).map(|(b, a)| Records {
            written: a.written_total.saturating_sub(b.written_total),
            lost: a.lost.saturating_sub(b.lost),
            written_total: a.written_total,
        }),
    }
}

impl SoakRun {
    /// RSS after the warm-up, halfway and at the end, and the growth over
    /// the second half; `None` without samples.
    pub fn trend(&self) -> Option<RssTrend> {
        let total = self.rss.last()?.0;
        let warm_up_s = WARM_UP.as_secs_f64().min(total * WARM_UP_SHARE);
        let half = total / 2.0;
        let second: Vec<(f64, u64)> = self.rss.iter().copied().filter(|s| s.0 >= half).collect();
        let per_second = slope(&second).unwrap_or(0.0);
        Some(RssTrend {
            warm_up_s,
            start: at(&self.rss, warm_up_s)?,
            middle: at(&self.rss, half)?,
            end: self.rss.last()?.1,
            per_minute: per_second * 60.0,
            second_half: per_second * (total - half),
        })
    }
}

/// The first sample taken at or after `t` seconds (the last one if none).
fn at(samples: &[(f64, u64)], t: f64) -> Option<u64> {
    samples
        .iter()
        .find(|s| s.0 >= t)
        .or(samples.last())
        .map(|s| s.1)
}

/// Least-squares slope of RSS against time, bytes per second.
fn slope(samples: &[(f64, u64)]) -> Option<f64> {
    if samples.len() < 2 {
        return None;
    }
    let n = samples.len() as f64;
    let mean_t = samples.iter().map(|s| s.0).sum::<f64>() / n;
    let mean_y = samples.iter().map(|s| s.1 as f64).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (t, y) in samples {
        num += (t - mean_t) * (*y as f64 - mean_y);
        den += (t - mean_t) * (t - mean_t);
    }
    (den > 0.0).then(|| num / den)
}

/// Keel's RSS every [`RSS_EVERY`] from now until `duration` has passed,
/// with a progress line on stderr every minute.
async fn sample_rss(pid: Option<u32>, duration: Duration) -> Vec<(f64, u64)> {
    let Some(pid) = pid else {
        return Vec::new();
    };
    let started = Instant::now();
    let mut tick = tokio::time::interval(RSS_EVERY);
    let mut samples = Vec::new();
    let ticks = (duration.as_secs_f64() / RSS_EVERY.as_secs_f64()).ceil() as u64;
    for i in 0..=ticks {
        tick.tick().await;
        let Some(rss) = rss_bytes(pid) else { break };
        let t = started.elapsed().as_secs_f64();
        samples.push((t, rss));
        if i > 0 && i % 60 == 0 {
            eprintln!(
                "soak: {:.0} s, keel RSS {:.1} MB",
                t,
                rss as f64 / 1048576.0
            );
        }
    }
    samples
}

/// Keel's record counters now (only `written_total` and `lost` are set),
/// or `None` if `/metrics` does not answer.
async fn records(keel: &Target) -> Option<Records> {
    let mut conn = Conn::open(keel).await.ok()?;
    let req = keel.request("GET", "/metrics", Bytes::new()).ok()?;
    let (status, body) = conn.fetch(req).await.ok()?;
    if !status.is_success() {
        return None;
    }
    let text = String::from_utf8_lossy(&body);
    Some(Records {
        written: 0,
        // A counter not yet incremented is not rendered at all.
        lost: counter(&text, "keel_records_lost_total").unwrap_or(0),
        written_total: counter(&text, "keel_records_written_total").unwrap_or(0),
    })
}

/// The sum of a Prometheus counter's series in `text`.
fn counter(text: &str, name: &str) -> Option<u64> {
    let mut sum = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let value = match rest.strip_prefix('{') {
            Some(labelled) => labelled.split_once('}').map_or("", |(_, v)| v),
            None if rest.starts_with(' ') => rest,
            None => continue,
        };
        if let Some(v) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        {
            *sum.get_or_insert(0.0) += v;
        }
    }
    sum.map(|s: f64| s as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_counters() {
        let text = "# TYPE keel_records_written_total counter\n\
            keel_records_written_total 1234\n\
            keel_records_written_total_other 7\n\
            keel_requests_total{status=\"200\"} 5\n\
            keel_requests_total{status=\"502\"} 2\n";
        assert_eq!(counter(text, "keel_records_written_total"), Some(1234));
        assert_eq!(counter(text, "keel_requests_total"), Some(7));
        assert_eq!(counter(text, "keel_records_lost_total"), None);
    }

    #[test]
    fn trend_of_flat_and_growing_memory() {
        let mut run = SoakRun {
            rss: (0..=60).map(|t| (t as f64, 40 << 20)).collect(),
            ..SoakRun::default()
        };
        let flat = run.trend().unwrap();
        assert_eq!(
            (flat.warm_up_s, flat.start, flat.end),
            (6.0, 40 << 20, 40 << 20)
        );
        assert!(flat.second_half.abs() < 1.0);
        // 1 MB per minute from the start.
        run.rss = (0..=60)
            .map(|t| (t as f64, (40 << 20) + t * (1 << 20) / 60))
            .collect();
        let growing = run.trend().unwrap();
        assert!((growing.per_minute - 1048576.0).abs() < 1000.0);
        assert!((growing.second_half - 524288.0).abs() < 1000.0);
        assert_eq!(growing.middle, (40 << 20) + 30 * (1 << 20) / 60);
    }
}
