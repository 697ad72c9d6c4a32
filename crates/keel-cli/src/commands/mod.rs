//! One module per subcommand.

pub mod admin;
pub mod logs;
pub mod serve;

use std::path::PathBuf;

/// The config file to read: the one given, else `./keel.toml` if present.
pub fn config_path(given: Option<PathBuf>) -> Option<PathBuf> {
    given.or_else(|| {
        let default = PathBuf::from("keel.toml");
        default.exists().then_some(default)
    })
}

/// A multi-threaded Tokio runtime for a subcommand.
pub fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}
