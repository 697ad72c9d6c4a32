//! The [`Store`] trait and how a `database_url` picks a backend.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use crate::backends::{postgres::PgStore, sqlite::SqliteStore};
use crate::durability::Durability;
use crate::error::StoreError;
use crate::governance::{AuditEntry, DailySpend, Directory, DirectoryWrite, SpendGroup, SpendRow};
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
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    pub trace_id: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: i64,
}

/// Teams, users, keys and budgets, their audit, and spend. Read whole at
/// start and on change; never on the request path.
pub trait DirectoryStore: Send + Sync + 'static {
    /// The directory's version: any admin write bumps it.
    fn directory_version(&self) -> StoreFuture<'_, i64>;
    /// Every team, user, key and model budget, with their version.
    fn load_directory(&self) -> StoreFuture<'_, Directory>;
    /// Writes one row and its audit entry in one transaction; a taken name
    /// or email is [`StoreError::Conflict`].
    fn write_directory<'a>(
        &'a self,
        write: &'a DirectoryWrite,
        audit: &'a AuditEntry,
    ) -> StoreFuture<'a, ()>;
    /// Admin audit entries, newest first.
    fn admin_audit(
        &self,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        limit: i64,
    ) -> StoreFuture<'_, Vec<AuditEntry>>;
    /// Spend from the records, grouped; `until_ms` is exclusive; `team`
    /// narrows to one team's calls.
    fn spend<'a>(
        &'a self,
        by: SpendGroup,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        team: Option<&'a str>,
    ) -> StoreFuture<'a, Vec<SpendRow>>;
    /// The writer's daily rollups from `day` (days since the epoch) on.
    fn daily_spend_since(&self, day: i64) -> StoreFuture<'_, Vec<DailySpend>>;
    /// Marks a budget threshold as announced for its period; false if it
    /// already was (by this node or another).
    fn claim_alert<'a>(
        &'a self,
        scope: &'a str,
        period_start_ms: i64,
        threshold: i64,
    ) -> StoreFuture<'a, bool>;
}

/// Where invocation records live. Implementations must make `insert_batch`
/// atomic: a batch is either entirely stored or not at all.
pub trait Store: DirectoryStore + Send + Sync + 'static {
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
