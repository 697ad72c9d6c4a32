//! Command-line options of `keel-bench`.

use std::time::Duration;

/// Usage text shown on bad arguments.
pub const USAGE: &str = "\
usage: keel-bench --direct URL [--proxy URL] [--keel URL] [options]
  --direct URL          fake upstream base URL, e.g. http://127.0.0.1:9000/v1
  --proxy URL           bare proxy (keel-null-proxy) base URL in front of it
  --proxy-pid PID       the proxy's pid, for CPU time and RSS
  --keel URL            Keel base URL, e.g. http://127.0.0.1:9100/v1
  --keel-key KEY        bearer key for Keel (default bench-key)
  --keel-pid PID        Keel's pid, for CPU time and RSS
  --upstream-pid PID    the fake upstream's pid, for its CPU time and RSS
  --direct-only         measure the upstream alone, skip proxy and Keel
  --quick               one round, short runs (a smoke test, noisy numbers)
  --rounds N            rounds per phase, median reported (default 3;
                        5 with --governance)
  --duration S          seconds per fixed-rate run (default 3)
  --throughput-secs S   seconds per max-throughput round (default 3)
  --streams N           concurrent streams in phase 5 (default 512)
  --stall-ms N          gap counted as a stall in phase 5 (default 500)
  --rates A,B           fixed rates in req/s (default 500,2000)
  --client-threads N    load generator threads (default 1)
  --no-idle-poll        let idle CPUs halt (default: hold /dev/cpu_dma_latency
                        at 0 so wake-ups do not add tens of µs at random)
  --soak-secs S         after the phases, soak Keel for S seconds (default 0: off)
  --soak-rates U,S      soak load: unary and streamed calls per second
                        (default 400,40)
  --out PATH            JSON results (default bench/results/latest.json,
                        with --governance bench/results/governance.json)
governance mode (instead of the phases; see bench/README.md):
  --governance          c=1 and max-throughput rounds on direct, Keel with
                        --keel-key (no limits) and Keel with governed keys
  --governed-key KEY    a key with limits on --keel (counters in memory)
  --keel-redis URL      a Keel with its counters in Redis, base URL
  --keel-redis-key KEY  a key with limits on that Keel
  --keel-redis-pid PID  that Keel's pid, for its CPU time
  --redis HOST:PORT     the Redis it uses, for one round trip's latency and
                        its script calls per request
  --redis-pid PID       that Redis's pid, for its CPU time";

/// Parsed options (see [`USAGE`]).
#[derive(Debug, Clone)]
pub struct Args {
    /// The fake upstream's base URL.
    pub direct: String,
    /// The bare proxy's base URL, when it is measured.
    pub proxy: Option<String>,
    /// The bare proxy's pid, for its CPU time and RSS.
    pub proxy_pid: Option<u32>,
    /// Keel's base URL, when it is measured.
    pub keel: Option<String>,
    /// Keel's API key.
    pub keel_key: String,
    /// Keel's pid, for its CPU time and RSS.
    pub keel_pid: Option<u32>,
    /// The upstream's pid, for its CPU time and RSS.
    pub upstream_pid: Option<u32>,
    /// Measure the upstream alone.
    pub direct_only: bool,
    /// One short round per phase.
    pub quick: bool,
    /// Rounds per phase; the report shows medians.
    pub rounds: usize,
    /// Length of a fixed-rate round.
    pub rate_duration: Duration,
    /// Length of a max-throughput round.
    pub throughput_duration: Duration,
    /// Concurrent streams in phase 5.
    pub streams: usize,
    /// A gap between events longer than this is a stall (phase 5).
    pub stall: Duration,
    /// Fixed rates of phase 2, requests per second.
    pub rates: Vec<f64>,
    /// Load generator threads.
    pub client_threads: usize,
    /// Hold a zero wake-up latency request during the run.
    pub idle_poll: bool,
    /// Length of the soak; zero for none.
    pub soak: Duration,
    /// Soak load: unary calls per second.
    pub soak_unary_rps: f64,
    /// Soak load: streamed calls per second.
    pub soak_stream_rps: f64,
    /// Where the JSON results go.
    pub out: String,
    /// Measure the cost of governed keys instead of running the phases.
    pub governance: bool,
    /// A key with limits on `keel` (counters in memory).
    pub governed_key: Option<String>,
    /// A Keel whose counters are in Redis, with a key with limits on it.
    pub keel_redis: Option<String>,
    pub keel_redis_key: Option<String>,
    pub keel_redis_pid: Option<u32>,
    /// The Redis behind `keel_redis` (`HOST:PORT`) and its pid.
    pub redis: Option<String>,
    pub redis_pid: Option<u32>,
}

impl Args {
    /// Parses `std::env::args`.
    pub fn parse() -> Result<Args, String> {
        Self::parse_from(std::env::args().skip(1))
    }

    fn parse_from(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut a = Args {
            direct: String::new(),
            proxy: None,
            proxy_pid: None,
            keel: None,
            keel_key: "bench-key".to_owned(),
            keel_pid: None,
            upstream_pid: None,
            direct_only: false,
            quick: false,
            rounds: 3,
            rate_duration: Duration::from_secs(3),
            throughput_duration: Duration::from_secs(3),
            streams: 512,
            stall: Duration::from_millis(500),
            rates: vec![500.0, 2000.0],
            client_threads: 1,
            idle_poll: true,
            soak: Duration::ZERO,
            soak_unary_rps: 400.0,
            soak_stream_rps: 40.0,
            out: "bench/results/latest.json".to_owned(),
            governance: false,
            governed_key: None,
            keel_redis: None,
            keel_redis_key: None,
            keel_redis_pid: None,
            redis: None,
            redis_pid: None,
        };
        let (mut rounds, mut rate_s, mut tput_s, mut out) = (None, None, None, None);
        while let Some(flag) = it.next() {
            let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
            let num = |v: String| {
                v.parse::<f64>()
                    .map_err(|_| format!("{flag}: not a number: {v}"))
            };
            match flag.as_str() {
                "--direct" => a.direct = value()?,
                "--proxy" => a.proxy = Some(value()?),
                "--proxy-pid" => a.proxy_pid = Some(num(value()?)? as u32),
                "--keel" => a.keel = Some(value()?),
                "--keel-key" => a.keel_key = value()?,
                "--keel-pid" => a.keel_pid = Some(num(value()?)? as u32),
                "--upstream-pid" => a.upstream_pid = Some(num(value()?)? as u32),
                "--direct-only" => a.direct_only = true,
                "--quick" => a.quick = true,
                "--rounds" => rounds = Some(num(value()?)?.max(1.0) as usize),
                "--duration" => rate_s = Some(num(value()?)?),
                "--throughput-secs" => tput_s = Some(num(value()?)?),
                "--streams" => a.streams = num(value()?)?.max(1.0) as usize,
                "--stall-ms" => a.stall = Duration::from_millis(num(value()?)? as u64),
                "--rates" => a.rates = list(value()?, num)?,
                "--client-threads" => a.client_threads = num(value()?)?.max(1.0) as usize,
                "--soak-secs" => a.soak = Duration::from_secs_f64(num(value()?)?.max(0.0)),
                "--soak-rates" => {
                    let rates = list(value()?, num)?;
                    let [unary, stream] = rates[..] else {
                        return Err("--soak-rates needs two numbers: unary,stream".to_owned());
                    };
                    (a.soak_unary_rps, a.soak_stream_rps) = (unary.max(0.1), stream.max(0.1));
                }
                "--out" => out = Some(value()?),
                "--no-idle-poll" => a.idle_poll = false,
                "--governance" => a.governance = true,
                "--governed-key" => a.governed_key = Some(value()?),
                "--keel-redis" => a.keel_redis = Some(value()?),
                "--keel-redis-key" => a.keel_redis_key = Some(value()?),
                "--keel-redis-pid" => a.keel_redis_pid = Some(num(value()?)? as u32),
                "--redis" => a.redis = Some(value()?),
                "--redis-pid" => a.redis_pid = Some(num(value()?)? as u32),
                "-h" | "--help" => return Err(String::new()),
                other => return Err(format!("unknown argument {other}")),
            }
        }
        if a.direct.is_empty() {
            return Err("--direct is required".to_owned());
        }
        if a.governance && (a.keel.is_none() || a.governed_key.is_none()) {
            return Err("--governance needs --keel and --governed-key".to_owned());
        }
        if a.keel_redis.is_some() != a.keel_redis_key.is_some() {
            return Err("--keel-redis and --keel-redis-key go together".to_owned());
        }
        if a.quick {
            a.rounds = 1;
            a.rate_duration = Duration::from_secs(1);
            a.throughput_duration = Duration::from_secs(2);
        }
        if a.governance && !a.quick {
            // The differences it looks for are a few µs of CPU per request,
            // about what one round differs from the next.
            a.rounds = 5;
        }
        a.rounds = rounds.unwrap_or(a.rounds);
        if let Some(out) = out {
            a.out = out;
        } else if a.governance {
            a.out = "bench/results/governance.json".to_owned();
        }
        a.rate_duration = rate_s.map_or(a.rate_duration, Duration::from_secs_f64);
        a.throughput_duration = tput_s.map_or(a.throughput_duration, Duration::from_secs_f64);
        Ok(a)
    }
}

/// A comma-separated list of numbers.
fn list(v: String, num: impl Fn(String) -> Result<f64, String>) -> Result<Vec<f64>, String> {
    v.split(',').map(|r| num(r.trim().to_owned())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Args, String> {
        Args::parse_from(s.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn quick_and_overrides() {
        let a = parse("--direct http://x/v1 --quick --duration 2 --rates 100,200").unwrap();
        assert_eq!(a.rounds, 1);
        assert_eq!(a.rate_duration, Duration::from_secs(2));
        assert_eq!(a.rates, vec![100.0, 200.0]);
        assert!(parse("--keel http://k").is_err());
        assert_eq!(a.soak, Duration::ZERO);
    }

    #[test]
    fn soak() {
        let a = parse("--direct http://x/v1 --soak-secs 90 --soak-rates 100,10").unwrap();
        assert_eq!(a.soak, Duration::from_secs(90));
        assert_eq!((a.soak_unary_rps, a.soak_stream_rps), (100.0, 10.0));
        assert!(parse("--direct http://x/v1 --soak-rates 100").is_err());
    }

    #[test]
    fn governance() {
        let a =
            parse("--direct http://x/v1 --keel http://k/v1 --governance --governed-key g").unwrap();
        assert!(a.governance);
        assert_eq!(a.rounds, 5);
        assert_eq!(a.governed_key.as_deref(), Some("g"));
        assert!(parse("--direct http://x/v1 --governance").is_err());
        assert!(parse("--direct http://x/v1 --keel-redis http://r/v1").is_err());
    }
}
