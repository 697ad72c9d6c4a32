//! The [`Store`] trait and how a `database_url` picks a backend.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use crate::backends::{postgres::PgStore, sqlite::SqliteStore};
use crate::durability::Durability;
use crate::error::StoreError;
use crate::record::Invocation;

/// A boxed future, so `Store` can be used as `Arc<dyn Store>`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Filters for listing records; every field narrows the result.
#[derive(Debug, Clone, Default)]
pub struct LogFilter {
    pub model: Option<String>,
    /// `ok`, `error` (any non-2xx), or an exact HTTP status.
    pub status: Option<String>,
    pub key_id: Option<String>,
    pub trace_id: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: i64,
}

/// Where invocation records live. Implementations must make `insert_batch`
/// atomic: a batch is either entirely stored or not at all.
pub trait Store: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Stores a batch of records in one transaction.
    fn insert_batch<'a>(&'a self, batch: &'a [Invocation]) -> StoreFuture<'a, ()>;
    /// Lists records, newest first, without bodies.
    fn list<'a>(&'a self, filter: &'a LogFilter) -> StoreFuture<'a, Vec<Invocation>>;
    /// One record with its bodies; `id` may be a unique prefix.
    fn get<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Invocation>>;
    /// Counts all records (used by health and tests).
    fn count(&self) -> StoreFuture<'_, i64>;
    /// Checks the database answers.
    fn ping(&self) -> StoreFuture<'_, ()>;
    /// Closes the pool after the writer has flushed.
    fn close(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// Opens (creating if needed) and migrates the store named by `database_url`:
/// `sqlite://PATH` (relative paths are under `data_dir`) or `postgres://…`.
pub async fn open(
    database_url: Option<&str>,
    data_dir: &Path,
    durability: Durability,
) -> Result<Arc<dyn Store>, StoreError> {
    match database_url {
        None => {
            let path = data_dir.join("keel.db");
            Ok(Arc::new(SqliteStore::open(&path, durability).await?))
        }
        Some(url) if url.starts_with("sqlite:") => {
            let rest = url
                .trim_start_matches("sqlite://")
                .trim_start_matches("sqlite:");
            let path = Path::new(rest);
            let path = if path.is_absolute() {
                path.to_path_buf()
            } else {
                data_dir.join(path)
            };
            Ok(Arc::new(SqliteStore::open(&path, durability).await?))
        }
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Arc::new(PgStore::open(url).await?))
        }
        Some(url) => Err(StoreError::UnsupportedUrl(url.to_owned())),
    }
}
