//! Store tests, run against SQLite and PostgreSQL alike.

#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod backends;
mod governance;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;

use keel_store::{Durability, Invocation, Outcome, Store};
use uuid::Uuid;

/// A store on a fresh SQLite file or a fresh PostgreSQL schema, dropped after.
pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub dir: PathBuf,
    pub pg_schema: Option<String>,
}

pub const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

impl TestStore {
    pub async fn sqlite(durability: Durability) -> TestStore {
        let dir = std::env::temp_dir().join(format!("keel-store-test-{}", Uuid::now_v7()));
        let store = keel_store::open(None, &dir, durability).await.unwrap();
        TestStore {
            store,
            dir,
            pg_schema: None,
        }
    }

    pub async fn postgres() -> TestStore {
        let schema = format!("keel_test_{}", Uuid::now_v7().simple());
        let admin = sqlx::PgPool::connect(PG_URL)
            .await
            .expect("PostgreSQL at 127.0.0.1:5432 (db test)");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .unwrap();
        admin.close().await;
        let url = pg_url_with_schema(&schema);
        let dir = std::env::temp_dir();
        let store = keel_store::open(Some(&url), &dir, Durability::Batched)
            .await
            .unwrap();
        TestStore {
            store,
            dir,
            pg_schema: Some(schema),
        }
    }

    pub async fn both() -> Vec<TestStore> {
        vec![
            TestStore::sqlite(Durability::Batched).await,
            TestStore::postgres().await,
        ]
    }

    pub async fn cleanup(self) {
        self.store.close().await;
        match self.pg_schema {
            Some(schema) => {
                let admin = sqlx::PgPool::connect(PG_URL).await.unwrap();
                sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(&admin)
                    .await
                    .unwrap();
                admin.close().await;
            }
            None => {
                let _ = std::fs::remove_dir_all(&self.dir);
            }
        }
    }
}

pub fn pg_url_with_schema(schema: &str) -> String {
    format!("{PG_URL}?options=-c%20search_path%3D{schema}")
}

/// A filled-in record, `n` making it distinct.
pub fn sample(n: i64) -> Invocation {
    let mut r = Invocation::new(Uuid::now_v7(), 1_700_000_000_000 + n, "chat.completions");
    r.trace_id = Some(format!("trace-{}", n % 2));
    r.key_id = Some(if n % 2 == 0 { "k1" } else { "master" }.into());
    r.key_name = (n % 2 == 0).then(|| "ci-bot".into());
    r.team_id = (n % 2 == 0).then(|| "t1".into());
    r.user_id = (n % 2 == 0).then(|| "u1".into());
    r.agent = (n % 2 == 0).then(|| "planner".into());
    r.tags = (n % 2 == 0).then(|| r#"{"env":"prod"}"#.into());
    r.requested_model = Some(if n % 2 == 0 {
        "gpt-4o".into()
    } else {
        "fake/m".into()
    });
    r.resolved_model = Some("gpt-4o".into());
    r.provider = Some("openai".into());
    r.model_version = Some("gpt-4o-2024-08-06".into());
    r.stream = n % 3 == 0;
    r.status = if n % 4 == 3 { 502 } else { 200 };
    r.outcome = if r.status == 200 {
        Outcome::Ok
    } else {
        Outcome::UpstreamError
    };
    r.input_tokens = 10 + n;
    r.output_tokens = 5;
    r.cached_tokens = 2;
    r.token_source = "provider".into();
    r.cost_usd = Some(0.000125);
    r.latency_ms = 12.5;
    r.ttft_ms = Some(3.25);
    r.attempts = 1;
    r.request_body =
        Some(r#"{"model":"gpt-4o","messages":[{"role":"user","content":"ünïcode ✓"}]}"#.into());
    r.response_body = Some(r#"{"id":"x"}"#.into());
    r.raw_usage = Some(r#"{"prompt_tokens":10}"#.into());
    r
}
