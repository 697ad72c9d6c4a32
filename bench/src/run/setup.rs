//! Before the phases: the targets, the idle-polling hold, a look at the
//! machine's background load, and a warm-up that checks every target answers.

use std::time::Duration;

use bytes::Bytes;

use super::BUSY_MACHINE_PERCENT;
use crate::args::Args;
use crate::client::Target;
use crate::phases::{latency, streams};
use crate::procfs;
use crate::results::Sides;
use crate::rounds;

/// The targets to measure: the upstream, and unless `--direct-only` the
/// proxy and Keel where given.
pub fn targets(args: &Args) -> Result<Sides<Target>, String> {
    let direct = Target::parse("direct", &args.direct, None)?.with_pid(args.upstream_pid);
    let proxy = match (&args.proxy, args.direct_only) {
        (Some(url), false) => Some(Target::parse("proxy", url, None)?.with_pid(args.proxy_pid)),
        _ => None,
    };
    let keel = match (&args.keel, args.direct_only) {
        (Some(url), false) => {
            let auth = Some(format!("Bearer {}", args.keel_key));
            Some(Target::parse("keel", url, auth)?.with_pid(args.keel_pid))
        }
        _ => None,
    };
    Ok(Sides {
        direct,
        proxy,
        keel,
    })
}

/// Holds `/dev/cpu_dma_latency` at 0 when asked to; warns when it cannot.
pub fn hold_idle_poll(wanted: bool) -> Option<procfs::IdlePoll> {
    if !wanted {
        return None;
    }
    match procfs::IdlePoll::request() {
        Ok(hold) => Some(hold),
        Err(e) => {
            eprintln!("warning: cannot hold /dev/cpu_dma_latency at 0 ({e}); latencies include CPU wake-ups");
            None
        }
    }
}

/// CPU use of everything else over a second, warning when it is high.
pub async fn background_cpu() -> Option<f64> {
    let background = procfs::background_cpu_percent(Duration::from_secs(1)).await;
    if let Some(pct) = background.filter(|p| *p > BUSY_MACHINE_PERCENT) {
        eprintln!("warning: {pct:.0}% of the CPUs are busy before the benchmark starts; numbers will be noisy");
    }
    background
}

/// A few hundred requests and two streams per target; an error if any
/// target does not answer them all properly.
pub async fn warm_up(
    targets: &Sides<Target>,
    request: &Bytes,
    stream: &Bytes,
) -> Result<(), String> {
    for t in rounds::all(targets) {
        let warm = latency::sequential(t, request, 500, Duration::from_secs(5)).await;
        let s = streams::round(t, stream, 2, Duration::from_millis(300)).await;
        if warm.errors > 0 || warm.latency.count == 0 || s.streams == 0 || s.errors > 0 {
            return Err(format!(
                "{} ({}) is not answering properly: {} errors of {} requests, {} stream errors",
                t.label,
                t.addr,
                warm.errors,
                warm.errors + warm.latency.count,
                s.errors
            ));
        }
    }
    Ok(())
}

/// Keel's Anthropic endpoint for phase 4b, when it streams messages.
pub async fn front_door(keel: Option<&Target>, args: &Args, messages: &Bytes) -> Option<Target> {
    let m = keel?.messages("keel messages", &args.keel_key);
    let s = streams::round(&m, messages, 2, Duration::from_millis(300)).await;
    if s.streams == 0 || s.errors > 0 || s.deltas_per_stream == 0 {
        eprintln!(
            "warning: {}{} does not stream Anthropic messages ({} of {} streams failed); skipping phase 4b",
            m.addr,
            m.path,
            s.errors,
            s.errors + s.streams
        );
        return None;
    }
    Some(m)
}
