//! Everything one run measured, before it is turned into report rows.

use crate::phases::concurrency::ConcurrencyRun;
use crate::phases::latency::LatencyRun;
use crate::phases::rate::RateRun;
use crate::phases::streams::StreamRun;
use crate::phases::throughput::ThroughputRun;

/// A measurement of the upstream alone and, unless `--direct-only`, through Keel.
#[derive(Debug, Clone, Default)]
pub struct Pair<T> {
    pub direct: T,
    pub keel: Option<T>,
}

impl<T> Pair<T> {
    /// Applies `f` to both sides.
    pub fn map<U>(&self, f: impl Fn(&T) -> U) -> Pair<U> {
        Pair {
            direct: f(&self.direct),
            keel: self.keel.as_ref().map(f),
        }
    }
}

/// Keel's resident memory at three moments, in bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rss {
    pub idle: u64,
    pub peak: u64,
    pub after: u64,
}

/// Keel's (and the upstream's) CPU time over the throughput phase.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuCost {
    /// Keel CPU microseconds per request served through it.
    pub keel_us_per_req: Option<f64>,
    /// Upstream CPU microseconds per request, from the direct run.
    pub upstream_us_per_req: Option<f64>,
}

/// Phase 4b, one entry per round, run in phase 4's rounds.
#[derive(Debug, Clone, Default)]
pub struct FrontDoorRuns {
    /// `/v1/chat/completions` through Keel, mixed with `messages`.
    pub chat: Vec<StreamRun>,
    /// `/v1/messages` through Keel, on the same connections at the same time.
    pub messages: Vec<StreamRun>,
    /// `/v1/messages` alone, for Keel's CPU per stream (phase 4's keel side
    /// gives it for chat completions).
    pub messages_cpu: Vec<StreamRun>,
}

/// All phases of one run.
#[derive(Debug, Clone, Default)]
pub struct Results {
    /// Phase 1, one entry per round.
    pub sequential: Pair<Vec<LatencyRun>>,
    /// Phase 2: per rate, one entry per round.
    pub rates: Vec<(f64, Pair<Vec<RateRun>>)>,
    /// Phase 3.
    pub throughput: Pair<ThroughputRun>,
    pub cpu: CpuCost,
    /// Phase 4, one entry per round.
    pub streams: Pair<Vec<StreamRun>>,
    /// Phase 4b, when Keel serves `/v1/messages`.
    pub front_door: Option<FrontDoorRuns>,
    /// Phase 5.
    pub concurrency: Pair<ConcurrencyRun>,
    /// Phase 6, when Keel's pid is known.
    pub rss: Option<Rss>,
    /// Keel's RSS in bytes at the end of each phase, to see which one grows it.
    pub rss_by_phase: Vec<(String, u64)>,
    /// Whether idle CPUs were kept polling during the run.
    pub idle_poll: bool,
    /// CPU use of other processes just before the run, % of all cores.
    pub background_cpu_percent: Option<f64>,
    /// CPU seconds used by other processes during the run, and the run's
    /// wall time in seconds.
    pub other_cpu: Option<(f64, f64)>,
}
