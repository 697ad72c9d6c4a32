//! Everything one run measured, before it is turned into report rows.

use crate::phases::concurrency::ConcurrencyRun;
use crate::phases::latency::LatencyRun;
use crate::phases::rate::RateRun;
use crate::phases::soak::SoakRun;
use crate::phases::streams::StreamRun;
use crate::phases::throughput::ThroughputRun;
use crate::stats::Percentiles;

/// One measurement per target: the upstream alone (`direct`), the bare
/// pass-through proxy (`proxy`, when run) and Keel (`keel`, when run), all
/// in front of the same upstream.
#[derive(Debug, Clone, Default)]
pub struct Sides<T> {
    /// The upstream called directly.
    pub direct: T,
    /// `keel-null-proxy` in front of the upstream.
    pub proxy: Option<T>,
    /// Keel in front of the upstream.
    pub keel: Option<T>,
}

impl<T> Sides<T> {
    /// Applies `f` to every side that was measured.
    pub fn map<U>(&self, f: impl Fn(&T) -> U) -> Sides<U> {
        Sides {
            direct: f(&self.direct),
            proxy: self.proxy.as_ref().map(&f),
            keel: self.keel.as_ref().map(&f),
        }
    }

    /// Pairs each side with the same side of `other`.
    pub fn zip<U>(self, other: Sides<U>) -> Sides<(T, U)> {
        Sides {
            direct: (self.direct, other.direct),
            proxy: self.proxy.zip(other.proxy),
            keel: self.keel.zip(other.keel),
        }
    }
}

/// A server's resident memory at a few moments, in bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rss {
    /// Before the warm-up.
    pub idle: u64,
    /// Highest of the 50 ms samples over all phases.
    pub peak: u64,
    /// Highest of the 50 ms samples during this server's concurrent-stream
    /// burst (phase 5).
    pub burst_peak: u64,
    /// A while after the last phase.
    pub after: u64,
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
    pub sequential: Sides<Vec<LatencyRun>>,
    /// Phase 2: per rate, one entry per round.
    pub rates: Vec<(f64, Sides<Vec<RateRun>>)>,
    /// Phase 3, one entry per round, each with the server's CPU per request.
    pub throughput: Sides<Vec<ThroughputRun>>,
    /// Phase 4, one entry per round.
    pub streams: Sides<Vec<StreamRun>>,
    /// Phase 4b, when Keel serves `/v1/messages`.
    pub front_door: Option<FrontDoorRuns>,
    /// Phase 5.
    pub concurrency: Sides<ConcurrencyRun>,
    /// Phase 6: each server's RSS, when its pid is known (`direct` is the
    /// upstream's).
    pub rss: Sides<Option<Rss>>,
    /// Each server's RSS in bytes at the end of each phase, to see which
    /// phase grows it.
    pub rss_by_phase: Vec<(String, Sides<Option<u64>>)>,
    /// The soak (`--soak-secs`), on Keel only.
    pub soak: Option<SoakRun>,
    /// Whether idle CPUs were kept polling during the run.
    pub idle_poll: bool,
    /// CPU use of other processes just before the run, % of all cores.
    pub background_cpu_percent: Option<f64>,
    /// CPU seconds used by other processes during the run (soak excluded),
    /// and the run's wall time in seconds.
    pub other_cpu: Option<(f64, f64)>,
}

/// The ways a call is measured in the governance comparison (`--governance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The upstream called directly.
    Direct,
    /// Keel with the master key: no limits, so no counters touched.
    Plain,
    /// Keel with a key that has RPM, TPM and USD budget limits, counters in
    /// memory.
    Governed,
    /// The Keel with its counters in Redis, master key: a control for the
    /// differences between the two Keel processes.
    RedisPlain,
    /// The Keel with its counters in Redis, key with limits.
    RedisGoverned,
}

impl Variant {
    /// How the report names it.
    pub fn label(self) -> &'static str {
        match self {
            Variant::Direct => "direct",
            Variant::Plain => "keel, plain key",
            Variant::Governed => "keel, governed key, memory",
            Variant::RedisPlain => "keel (Redis counters), plain key",
            Variant::RedisGoverned => "keel (Redis counters), governed key",
        }
    }
}

/// What one round cost the processes behind it, per request answered.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cost {
    /// CPU time of the target's process, in µs, including the work it
    /// finished after the round (records, settles).
    pub cpu_us: Option<f64>,
    /// CPU time of Redis, in µs.
    pub redis_cpu_us: Option<f64>,
    /// Scripts Redis ran: each of Keel's counter operations is one.
    pub redis_scripts: Option<f64>,
    /// Redis's own time per script it ran, in µs (not per request).
    pub redis_us_per_script: Option<f64>,
}

/// One variant's rounds, each with what it cost.
#[derive(Debug, Clone)]
pub struct VariantRuns {
    pub variant: Variant,
    /// Phase 1 (c=1).
    pub sequential: Vec<(LatencyRun, Cost)>,
    /// Phase 3 (64 connections); `cpu_us_per_req` is the cost's `cpu_us`.
    pub throughput: Vec<(ThroughputRun, Cost)>,
}

/// The governance comparison (`--governance`).
#[derive(Debug, Clone, Default)]
pub struct GovernanceResults {
    pub variants: Vec<VariantRuns>,
    /// Round trips of a Redis PING on one connection, one at a time, in ns.
    pub redis_ping: Option<Percentiles>,
    /// Whether idle CPUs were kept polling during the run.
    pub idle_poll: bool,
    /// CPU use of other processes just before the run, % of all cores.
    pub background_cpu_percent: Option<f64>,
    /// CPU seconds used by other processes during the run, and its wall time.
    pub other_cpu: Option<(f64, f64)>,
}
