//! `keel serve`.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;
use keel_gateway::config::{load, Overrides};

/// Flags of `keel serve`; each has a `KEEL_*` equivalent.
#[derive(Args)]
pub struct ServeArgs {
    /// Config file (default: ./keel.toml if it exists).
    #[arg(long, env = "KEEL_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1].
    #[arg(long, env = "KEEL_HOST")]
    host: Option<IpAddr>,
    /// Port to listen on [default: 4000].
    #[arg(long, env = "KEEL_PORT")]
    port: Option<u16>,
    /// Where the embedded store and the generated master key live [default: ./keel-data].
    #[arg(long, env = "KEEL_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://… [default: SQLite in the data dir].
    #[arg(long, env = "KEEL_DATABASE_URL")]
    database_url: Option<String>,
    /// batched (default) or sync.
    #[arg(long, env = "KEEL_DURABILITY")]
    durability: Option<String>,
    /// Log format: text or json.
    #[arg(long, env = "KEEL_LOG_FORMAT", default_value = "text")]
    log_format: String,
}

/// Loads the config and runs the gateway until SIGTERM.
pub fn run(args: ServeArgs) -> Result<(), String> {
    init_logging(&args.log_format);
    let overrides = Overrides {
        host: args.host,
        port: args.port,
        data_dir: args.data_dir,
        database_url: args.database_url,
        durability: args.durability,
    };
    let file = super::config_path(args.config);
    let config = load(file.as_deref(), overrides, &|name| std::env::var(name).ok())
        .map_err(|e| e.to_string())?;
    super::runtime()?
        .block_on(keel_gateway::server::run(config))
        .map_err(|e| e.to_string())
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEEL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
