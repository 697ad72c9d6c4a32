//! SQLite: the embedded default. WAL so readers (`keel logs`) never block the
//! writer; `synchronous` follows the durability setting (see docs/decisions).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite};

use crate::durability::Durability;
use crate::error::StoreError;

/// Records in one SQLite file.
pub struct SqliteStore {
    pool: Pool<Sqlite>,
}

impl SqliteStore {
    /// Opens (creating) `path` and brings its schema up to date.
    pub async fn open(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Connect(sqlx::Error::Io(e)))?;
        }
        let synchronous = match durability {
            // NORMAL in WAL mode: a crash loses at most the last commits, never corrupts.
            Durability::Batched => SqliteSynchronous::Normal,
            // FULL: a committed batch survives power loss; `sync` mode promises that.
            Durability::Sync => SqliteSynchronous::Full,
        };
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(StoreError::Connect)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(StoreError::Connect)?;
        Self::migrate(&pool).await?;
        Ok(SqliteStore { pool })
    }
}

impl_directory!(SqliteStore, Sqlite);
impl_store!(SqliteStore, Sqlite, crate::migrate::SQLITE, "sqlite");
