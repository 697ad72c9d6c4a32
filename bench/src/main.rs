//! `keel-bench`: measures what Keel adds on top of calling the upstream
//! directly, next to what a bare pass-through proxy adds, in one run, on the
//! same machine; optionally soaks Keel for minutes. See bench/README.md.

mod args;
mod client;
mod meta;
mod phases;
mod procfs;
mod report;
mod results;
mod rounds;
mod run;
mod stats;

use std::io::Write;
use std::process::ExitCode;

use crate::args::{Args, USAGE};
use crate::results::Results;
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
        Ok(rt) => rt.block_on(run::run(&args)),
        Err(e) => Err(format!("runtime: {e}")),
    };
    match outcome.and_then(|r| output(&args, &r)) {
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
    header.push_str(if r.idle_poll {
        "\n\nIdle CPUs polled (/dev/cpu_dma_latency held at 0)."
    } else {
        "\n\nIdle CPUs halted normally (wake-up latency included)."
    });
    if let Some(pct) = r.background_cpu_percent {
        header.push_str(&format!(
            "\nOther processes used {pct:.0}% of the CPUs just before the run."
        ));
        if pct > BUSY_MACHINE_PERCENT {
            header.push_str(" **The machine was busy: treat these numbers as noisy.**");
        }
    }
    if let Some((cpu_s, wall_s)) = r.other_cpu {
        header.push_str(&format!(
            "\nDuring the run (soak excluded) other processes used {cpu_s:.1} CPU-seconds in {wall_s:.0} s ({:.0}% of one core).",
            cpu_s * 100.0 / wall_s.max(1e-9)
        ));
    }
    let mut meta = meta::describe(args, &date);
    meta["background_cpu_percent"] = serde_json::json!(r.background_cpu_percent);
    meta["idle_poll"] = serde_json::json!(r.idle_poll);
    meta["other_processes_cpu_s"] = serde_json::json!(r.other_cpu.map(|(cpu, _)| cpu));
    meta["run_wall_s"] = serde_json::json!(r.other_cpu.map(|(_, wall)| wall));
    let goals = report::goals(r);
    let doc = report::json_doc(&rows, &goals, r, meta);
    if let Some(dir) = std::path::Path::new(&args.out).parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    std::fs::write(&args.out, text + "\n").map_err(|e| format!("{}: {e}", args.out))?;
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
