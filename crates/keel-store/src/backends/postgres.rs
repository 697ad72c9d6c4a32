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

impl_directory!(PgStore, Postgres);
impl_store!(PgStore, Postgres, crate::migrate::POSTGRES, "postgres");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Invocation;
    use crate::Store;

    const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

    /// Batches of every size up to 70 rows leave at most one INSERT prepared
    /// per backend (the full-chunk one), not one per size, on the server.
    #[tokio::test]
    async fn batch_sizes_do_not_pile_up_prepared_statements() {
        let schema = format!("keel_test_stmts_{}", uuid::Uuid::now_v7().simple());
        let admin = sqlx::PgPool::connect(PG_URL).await.unwrap();
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .unwrap();
        let url = format!("{PG_URL}?options=-c%20search_path%3D{schema}");
        let store = PgStore::open(&url).await.unwrap();
        let mut at = 0;
        for size in 1..=70 {
            let batch: Vec<Invocation> = (0..size)
                .map(|n| Invocation::new(uuid::Uuid::now_v7(), at + n, "chat.completions"))
                .collect();
            at += size;
            store.insert_batch(&batch).await.unwrap();
        }
        let mut inserts = 0;
        let mut held = Vec::new();
        for _ in 0..store.pool.size() {
            let mut conn = store.pool.acquire().await.unwrap();
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_prepared_statements WHERE statement LIKE 'INSERT INTO invocations%'",
            )
            .persistent(false)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
            inserts += n;
            held.push(conn);
        }
        assert!(
            (1..=held.len() as i64).contains(&inserts),
            "{inserts} INSERT statements prepared on {} connections",
            held.len()
        );
        drop(held);
        store.close().await;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
    }
}
