//! Why Keel could not start, or stopped badly. Each variant's message says
//! what to fix; `keel serve` prints it and exits non-zero.

use std::net::SocketAddr;
use std::path::PathBuf;

use keel_providers::ProviderError;
use keel_store::StoreError;

/// A failure to start or to run the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data directory cannot be created.
    #[error("cannot create the data directory {}: {source}", path.display())]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// No master key, and none could be created.
    #[error("{0}")]
    MasterKey(String),
    /// The record store cannot be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A provider cannot be built from its settings.
    #[error(transparent)]
    Provider(#[from] ProviderError),
    /// A price in the configuration cannot be used.
    #[error("{0}")]
    Prices(String),
    /// A provider's credentials could not be fetched.
    #[error("{0}")]
    Credentials(String),
    /// The listening address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The server stopped with an error.
    #[error("server error: {0}")]
    Serve(std::io::Error),
    /// A task Keel waits on at shutdown failed.
    #[error("{what} failed: {detail}")]
    Task { what: &'static str, detail: String },
}
