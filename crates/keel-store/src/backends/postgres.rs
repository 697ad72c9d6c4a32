//! PostgreSQL: the store when several Keel nodes share one database.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{Pool, Postgres};

use crate::error::StoreError;

/// Records in a PostgreSQL database (the URL may set `options=-c search_path=…`).
pub struct PgStore {
    pool: Pool<Postgres>,
}

impl PgStore {
    /// Connects to `url` and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(StoreError::Connect)?;
        Self::migrate(&pool).await?;
        Ok(PgStore { pool })
    }
}

impl_store!(PgStore, Postgres, crate::migrate::POSTGRES, "postgres");
