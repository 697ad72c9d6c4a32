//! `keel-bench`: measures what Keel adds on top of calling the upstream
//! directly, next to what a bare pass-through proxy adds, in one run, on the
//! same machine; optionally soaks Keel for minutes. See bench/README.md.

mod args;
mod client;
mod meta;
mod phases;
mod procfs;
mod redis;
mod report;
mod results;
mod rounds;
mod run;
mod stats;

use std::io::Write;
use std::process::ExitCode;

use crate::args::{Args, USAGE};
use crate::results::{GovernanceResults, Results};
use crate::run::BUSY_MACHINE_PERCENT;

fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = if args.client_threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.client_threads)
            .enable_all()
            .build()
    };
    let outcome = match runtime {
        Ok(rt) if args.governance => rt
            .block_on(run::governance::run(&args))
            .and_then(|g| governance_output(&args, &g)),
        Ok(rt) => rt.block_on(run::run(&args)).and_then(|r| output(&args, &r)),
        Err(e) => Err(format!("runtime: {e}")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keel-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn output(args: &Args, r: &Results) -> Result<(), String> {
    let date = meta::utc_now();
    let rows = report::rows(r);
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut header = format!("## Keel overhead benchmark ({date}, {cores} cores)");
    header.push_str(
        "\n\ndirect = the fake upstream; proxy = keel-null-proxy (bare hyper pass-through) \
         in front of it; keel = Keel in front of it; added = through it − direct.",
    );
    let cond = Conditions {
        idle_poll: r.idle_poll,
        background_cpu_percent: r.background_cpu_percent,
        other_cpu: r.other_cpu,
    };
    header.push_str(&cond.describe("During the run (soak excluded)"));
    let goals = report::goals(r);
    let doc = report::json_doc(&rows, &goals, r, cond.meta(args, &date));
    write_json(&args.out, &doc)?;
    let mut stdout = std::io::stdout().lock();
    let mut text = report::markdown(&rows, &header);
    if !goals.is_empty() {
        text.push_str(&format!("\n{}", report::goals_markdown(&goals)));
    }
    if let Some(soak) = &r.soak {
        text.push_str(&format!("\n{}", report::soak_markdown(soak)));
    }
    writeln!(stdout, "{text}").map_err(|e| e.to_string())?;
    writeln!(stdout, "JSON: {}", args.out).map_err(|e| e.to_string())
}

/// The machine's state during a run, shown under every report's title.
struct Conditions {
    idle_poll: bool,
    background_cpu_percent: Option<f64>,
    other_cpu: Option<(f64, f64)>,
}

impl Conditions {
    /// Idle polling and other processes' CPU use, as lines of the header;
    /// `during` introduces the CPU use during the run.
    fn describe(&self, during: &str) -> String {
        let mut out = String::from(if self.idle_poll {
            "\n\nIdle CPUs polled (/dev/cpu_dma_latency held at 0)."
        } else {
            "\n\nIdle CPUs halted normally (wake-up latency included)."
        });
        if let Some(pct) = self.background_cpu_percent {
            out.push_str(&format!(
                "\nOther processes used {pct:.0}% of the CPUs just before the run."
            ));
            if pct > BUSY_MACHINE_PERCENT {
                out.push_str(" **The machine was busy: treat these numbers as noisy.**");
            }
        }
        if let Some((cpu_s, wall_s)) = self.other_cpu {
            out.push_str(&format!(
                "\n{during} other processes used {cpu_s:.1} CPU-seconds in {wall_s:.0} s ({:.0}% of one core).",
                cpu_s * 100.0 / wall_s.max(1e-9)
            ));
        }
        out
    }

    /// The run's date, machine and settings with these conditions.
    fn meta(&self, args: &Args, date: &str) -> serde_json::Value {
        let mut meta = meta::describe(args, date);
        meta["background_cpu_percent"] = serde_json::json!(self.background_cpu_percent);
        meta["idle_poll"] = serde_json::json!(self.idle_poll);
        meta["other_processes_cpu_s"] = serde_json::json!(self.other_cpu.map(|(cpu, _)| cpu));
        meta["run_wall_s"] = serde_json::json!(self.other_cpu.map(|(_, wall)| wall));
        meta
    }
}

/// Writes `doc` to `path`, creating its directory.
fn write_json(path: &str, doc: &serde_json::Value) -> Result<(), String> {
    if let Some(dir) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(doc).map_err(|e| e.to_string())?;
    std::fs::write(path, text + "\n").map_err(|e| format!("{path}: {e}"))
}

/// The governance comparison's report: markdown on stdout, JSON to `--out`.
fn governance_output(args: &Args, g: &GovernanceResults) -> Result<(), String> {
    let date = meta::utc_now();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cond = Conditions {
        idle_poll: g.idle_poll,
        background_cpu_percent: g.background_cpu_percent,
        other_cpu: g.other_cpu,
    };
    let mut header = format!("## Governance overhead ({date}, {cores} cores)");
    header.push_str(&format!(
        "\n\nThe same call directly, through Keel with the master key (no limits) and with a \
         key with RPM, TPM and a USD budget, counters in memory or in Redis; median of {} \
         rounds, interleaved.",
        args.rounds
    ));
    header.push_str(&cond.describe("During the run"));
    let mut meta = cond.meta(args, &date);
    meta["settings"]["governance"] = serde_json::json!(true);
    write_json(&args.out, &report::governance_json(g, meta))?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{}", report::governance_markdown(g, &header)).map_err(|e| e.to_string())?;
    writeln!(stdout, "JSON: {}", args.out).map_err(|e| e.to_string())
}
