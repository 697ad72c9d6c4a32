//! The `keel` binary: parses arguments and hands off to one subcommand.

mod allocator;
mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Keel: the LLM gateway and record of every model call.
#[derive(Parser)]
#[command(name = "keel", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve(commands::serve::ServeArgs),
    /// List and show invocation records.
    Logs(commands::logs::LogsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(args),
        Command::Logs(args) => commands::logs::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("keel: {message}");
            ExitCode::FAILURE
        }
    }
}
