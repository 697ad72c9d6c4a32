//! Reads a process's CPU time and resident memory from /proc, and samples
//! the peak RSS while load runs.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

/// A PM QoS request for zero wake-up latency, held while the value lives:
/// idle CPUs poll instead of halting. On a VM with the `haltpoll` idle
/// driver, a halted vCPU takes tens of µs to wake, which otherwise dominates
/// (and randomly doubles) one-request-at-a-time latencies.
pub struct IdlePoll {
    _file: std::fs::File,
}

impl IdlePoll {
    /// Writes 0 to /dev/cpu_dma_latency (needs root); the kernel drops the
    /// request when the file is closed.
    pub fn request() -> std::io::Result<IdlePoll> {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/cpu_dma_latency")?;
        file.write_all(&0i32.to_ne_bytes())?;
        Ok(IdlePoll { _file: file })
    }
}

/// Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// utime + stime of `pid` in seconds, or `None` if unreadable.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state); utime is field 14 and stime field 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SEC)
}

/// On-CPU time of each thread of `pid` in nanoseconds, by thread id, from
/// /proc/<pid>/task/*/schedstat; `None` where schedstat is unavailable.
fn thread_cpu_ns(pid: u32) -> Option<HashMap<u32, u64>> {
    let mut threads = HashMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(entry) = entry else { continue };
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        // A thread may exit between the listing and the read.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("schedstat")) else {
            continue;
        };
        let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
        threads.insert(tid, ns);
    }
    (!threads.is_empty()).then_some(threads)
}

/// A process's CPU time over a stretch of work too short for the 10 ms
/// ticks of /proc/<pid>/stat (a round of streams costs Keel a few tens of
/// ms): per-thread schedstat, in nanoseconds. Threads that exit in between
/// take their time with them; without schedstat it falls back to the ticks.
pub struct CpuMeter {
    pid: u32,
    threads: Option<HashMap<u32, u64>>,
    ticks: Option<f64>,
}

impl CpuMeter {
    /// Starts measuring `pid`.
    pub fn start(pid: u32) -> CpuMeter {
        CpuMeter {
            pid,
            threads: thread_cpu_ns(pid),
            ticks: cpu_seconds(pid),
        }
    }

    /// CPU seconds `pid` used since [`start`](Self::start).
    pub fn seconds(&self) -> Option<f64> {
        if let (Some(before), Some(now)) = (&self.threads, thread_cpu_ns(self.pid)) {
            let ns: u64 = now
                .iter()
                .map(|(tid, ns)| ns.saturating_sub(before.get(tid).copied().unwrap_or(0)))
                .sum();
            return Some(ns as f64 / 1e9);
        }
        Some(cpu_seconds(self.pid)? - self.ticks?)
    }
}

/// VmRSS of `pid` in bytes, or `None` if unreadable.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Busy and total jiffies of all CPUs, from the `cpu` line of /proc/stat.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    let total: u64 = v.iter().take(8).sum();
    Some((total - idle, total))
}

/// Share of all CPUs busy over `window` (0–100), while this process sleeps:
/// anything else running on the machine and disturbing the measurement.
pub async fn background_cpu_percent(window: std::time::Duration) -> Option<f64> {
    let (busy0, total0) = machine_ticks()?;
    tokio::time::sleep(window).await;
    let (busy1, total1) = machine_ticks()?;
    let total = total1.saturating_sub(total0);
    (total > 0).then(|| (busy1.saturating_sub(busy0)) as f64 * 100.0 / total as f64)
}

/// Counts CPU time used on the machine by processes other than the given
/// ones (the load generator, Keel, the upstream) between `start` and
/// `other_cpu_seconds`, to show whether something disturbed a run.
pub struct CpuLedger {
    pids: Vec<u32>,
    machine_busy: u64,
    ours: f64,
}

impl CpuLedger {
    /// Starts counting; `pids` are the processes that belong to the run.
    pub fn start(pids: Vec<u32>) -> Option<CpuLedger> {
        let (machine_busy, _) = machine_ticks()?;
        let ours = pids.iter().filter_map(|p| cpu_seconds(*p)).sum();
        Some(CpuLedger {
            pids,
            machine_busy,
            ours,
        })
    }

    /// CPU seconds used by everything else since `start`.
    pub fn other_cpu_seconds(&self) -> Option<f64> {
        let (busy, _) = machine_ticks()?;
        let ours: f64 = self.pids.iter().filter_map(|p| cpu_seconds(*p)).sum();
        let machine = busy.saturating_sub(self.machine_busy) as f64 / TICKS_PER_SEC;
        Some((machine - (ours - self.ours)).max(0.0))
    }
}

/// Samples a process's RSS in the background and keeps the peak.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    _task: JoinSet<()>,
}

impl RssSampler {
    /// Starts sampling `pid` every `every`.
    pub fn start(pid: u32, every: Duration) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(0));
        let mut task = JoinSet::new();
        let shared = Arc::clone(&peak);
        task.spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Some(rss) = rss_bytes(pid) {
                    shared.fetch_max(rss, Ordering::Relaxed);
                }
            }
        });
        RssSampler { peak, _task: task }
    }

    /// Highest RSS seen so far, in bytes.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).is_some());
        assert!(rss_bytes(pid).unwrap_or(0) > 0);
        let meter = CpuMeter::start(pid);
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(5) {
            std::hint::black_box(0u64);
        }
        assert!(meter.seconds().is_some_and(|s| s > 0.0));
    }
}
