//! Store errors: each says what an operator can do about it.

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database_url '{0}': use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("database schema version {found} is newer than this keel supports ({supported}); upgrade keel or point it at another database")]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("migration {version} ({name}) failed, the schema was left at the previous version: {source}")]
    Migration {
        version: i64,
        name: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// The shared counters (Redis) could not be reached at start.
    #[error("cannot use the Redis counters: {0}")]
    Counters(String),
    /// A write broke a uniqueness rule (a team name or email taken).
    #[error("{0}")]
    Conflict(String),
}

impl StoreError {
    /// Classifies a failed write: a unique violation is the caller's
    /// conflict, anything else a failed query.
    pub fn from_write(e: sqlx::Error) -> StoreError {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(db.message().to_owned())
            }
            _ => StoreError::Query(e),
        }
    }
}
