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
    /// Manage teams.
    Teams(commands::admin::TeamsArgs),
    /// Manage users and their roles.
    Users(commands::admin::UsersArgs),
    /// Manage virtual keys.
    Keys(commands::admin::KeysArgs),
    /// See budgets; set model budgets.
    Budgets(commands::admin::BudgetsArgs),
    /// Spend grouped by key, user, team, agent, run, model, provider, tag or day.
    Spend(commands::admin::SpendArgs),
    /// The admin audit.
    Audit(commands::admin::AuditArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(args),
        Command::Logs(args) => commands::logs::run(args),
        Command::Teams(args) => commands::admin::teams(args),
        Command::Users(args) => commands::admin::users(args),
        Command::Keys(args) => commands::admin::keys(args),
        Command::Budgets(args) => commands::admin::budgets(args),
        Command::Spend(args) => commands::admin::spend(args),
        Command::Audit(args) => commands::admin::audit(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("keel: {message}");
            ExitCode::FAILURE
        }
    }
}
