//! `keel-fake-upstream`: runs the fake OpenAI upstream (which also answers
//! Anthropic's Messages API) as a process, for end-to-end tests in other
//! languages and for the overhead benchmark.
//!
//! Usage: `keel-fake-upstream [--port N] [--fast] [--chunk-delay-us N]
//! [--slow-chunk-delay-us N] [--threads N]`. Prints the base URL on one line
//! once listening, then serves until killed. The same port also serves the
//! fake Bedrock runtime at its root (`POST /model/{id}/converse`; see
//! `keel_testkit::bedrock` for its credentials).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use keel_testkit::{FakeUpstream, Options};

const USAGE: &str = "usage: keel-fake-upstream [--port N] [--fast] [--chunk-delay-us N] \
                     [--slow-chunk-delay-us N] [--threads N]";

/// Parsed command line.
struct Args {
    options: Options,
    threads: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut options = Options::default();
    let mut threads = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<u64, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a number\n{USAGE}"))
        };
        match arg.as_str() {
            "--port" => {
                options.port = u16::try_from(number("--port")?).map_err(|e| e.to_string())?
            }
            "--fast" => options.fast = true,
            "--chunk-delay-us" => {
                options.chunk_delay = Some(Duration::from_micros(number("--chunk-delay-us")?))
            }
            "--slow-chunk-delay-us" => {
                options.slow_chunk_delay =
                    Some(Duration::from_micros(number("--slow-chunk-delay-us")?))
            }
            "--threads" => threads = Some(number("--threads")?.max(1) as usize),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(Args { options, threads })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.threads {
        builder.worker_threads(threads);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keel-fake-upstream: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args.options))
}

async fn run(options: Options) -> ExitCode {
    let upstream = match FakeUpstream::bind(options).await {
        Ok(upstream) => upstream,
        Err(e) => {
            eprintln!("keel-fake-upstream: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{}", upstream.base_url())
        .and_then(|()| out.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(out);
    // Runs until killed; Ctrl-C ends it cleanly too.
    let _ = tokio::signal::ctrl_c().await;
    drop(upstream);
    ExitCode::SUCCESS
}
