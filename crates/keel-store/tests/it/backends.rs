use std::path::Path;
use std::sync::Arc;

use keel_store::{Attempt, Durability, Invocation, LogFilter, Outcome, Store, StoreError};
use uuid::Uuid;

use crate::{pg_url_with_schema, sample, TestStore, PG_URL};

#[tokio::test]
async fn stores_and_reads_back_records_exactly() {
    for t in TestStore::both().await {
        let records: Vec<_> = (0..8).map(sample).collect();
        t.store.insert_batch(&records).await.unwrap();
        assert_eq!(t.store.count().await.unwrap(), 8, "{}", t.store.backend());
        for r in &records {
            let got = t.store.get(&r.id.to_string()).await.unwrap().unwrap();
            assert_eq!(
                &got,
                r,
                "{}: a record reads back as written",
                t.store.backend()
            );
        }
        t.cleanup().await;
    }
}

#[tokio::test]
async fn lists_newest_first_with_filters() {
    for t in TestStore::both().await {
        let records: Vec<_> = (0..8).map(sample).collect();
        t.store.insert_batch(&records).await.unwrap();
        let all = t
            .store
            .list(&LogFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(all.len(), 8);
        assert_eq!(all[0].id, records[7].id, "newest first");
        assert!(
            all.iter().all(|r| r.request_body.is_none()),
            "listings leave bodies out"
        );

        let by_model = LogFilter {
            model: Some("fake/m".into()),
            limit: 100,
            ..Default::default()
        };
        assert_eq!(t.store.list(&by_model).await.unwrap().len(), 4);
        let errors = LogFilter {
            status: Some("error".into()),
            limit: 100,
            ..Default::default()
        };
        assert_eq!(t.store.list(&errors).await.unwrap().len(), 2);
        let by_status = LogFilter {
            status: Some("502".into()),
            limit: 100,
            ..Default::default()
        };
        assert_eq!(t.store.list(&by_status).await.unwrap().len(), 2);
        let by_trace = LogFilter {
            trace_id: Some("trace-1".into()),
            limit: 100,
            ..Default::default()
        };
        assert_eq!(t.store.list(&by_trace).await.unwrap().len(), 4);
        let window = LogFilter {
            since_ms: Some(1_700_000_000_002),
            until_ms: Some(1_700_000_000_004),
            limit: 100,
            ..Default::default()
        };
        assert_eq!(t.store.list(&window).await.unwrap().len(), 3);
        let limited = LogFilter {
            limit: 2,
            ..Default::default()
        };
        assert_eq!(t.store.list(&limited).await.unwrap().len(), 2);
        let prefix = &records[3].id.to_string()[..30];
        assert_eq!(
            t.store.get(prefix).await.unwrap().unwrap().id,
            records[3].id,
            "unique prefix"
        );
        assert!(t.store.get("no-such-id").await.unwrap().is_none());
        t.cleanup().await;
    }
}

#[tokio::test]
async fn a_duplicate_in_a_batch_stores_none_of_it() {
    for t in TestStore::both().await {
        let r = sample(1);
        assert!(t
            .store
            .insert_batch(&[r.clone(), sample(2), r])
            .await
            .is_err());
        assert_eq!(
            t.store.count().await.unwrap(),
            0,
            "{}: batches are atomic",
            t.store.backend()
        );
        t.cleanup().await;
    }
}

#[tokio::test]
async fn reopening_keeps_the_schema_and_data() {
    let t = TestStore::sqlite(Durability::Batched).await;
    t.store.insert_batch(&[sample(1)]).await.unwrap();
    t.store.close().await;
    let again = keel_store::open(None, &t.dir, Durability::Batched)
        .await
        .unwrap();
    assert_eq!(again.count().await.unwrap(), 1);
    again.close().await;
    t.cleanup().await;
}

#[tokio::test]
async fn refuses_a_schema_newer_than_the_binary() {
    let t = TestStore::sqlite(Durability::Batched).await;
    t.store.close().await;
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", t.dir.join("keel.db").display()))
        .await
        .unwrap();
    sqlx::query("INSERT INTO keel_schema_migrations VALUES (99, 'future', 0)")
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    let err = keel_store::open(None, &t.dir, Durability::Batched)
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 99,
                supported: 3
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("newer than this keel supports"));
    t.cleanup().await;

    let t = TestStore::postgres().await;
    let schema = t.pg_schema.clone().unwrap();
    let admin = sqlx::PgPool::connect(PG_URL).await.unwrap();
    sqlx::query(&format!(
        "INSERT INTO {schema}.keel_schema_migrations VALUES (7, 'future', 0)"
    ))
    .execute(&admin)
    .await
    .unwrap();
    admin.close().await;
    let err = keel_store::open(
        Some(&pg_url_with_schema(&schema)),
        &t.dir,
        Durability::Batched,
    )
    .await
    .err()
    .unwrap();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 7, .. }),
        "{err}"
    );
    t.cleanup().await;
}

#[tokio::test]
async fn a_failed_migration_names_itself_and_applies_nothing() {
    // A table in the way of migration 1 makes it fail half-way.
    let t = TestStore::postgres().await;
    let schema = format!("keel_test_blocked_{}", uuid::Uuid::now_v7().simple());
    let admin = sqlx::PgPool::connect(PG_URL).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE TABLE {schema}.invocations (x int)"))
        .execute(&admin)
        .await
        .unwrap();
    let err = keel_store::open(
        Some(&pg_url_with_schema(&schema)),
        &t.dir,
        Durability::Batched,
    )
    .await
    .err()
    .unwrap();
    assert!(
        matches!(err, StoreError::Migration { version: 1, .. }),
        "{err}"
    );
    let applied: i64 = sqlx::query_scalar(&format!(
        "SELECT COUNT(*) FROM {schema}.keel_schema_migrations"
    ))
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(applied, 0, "the failed step is not marked applied");
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    t.cleanup().await;
}

#[tokio::test]
async fn rejects_an_unknown_database_url() {
    let err = keel_store::open(
        Some("mysql://x"),
        std::path::Path::new("/tmp"),
        Durability::Batched,
    )
    .await
    .err()
    .unwrap();
    assert!(err.to_string().contains("unsupported database_url"));
}

/// A call that could not connect to its first candidate and was answered by
/// the second.
fn retried(n: i64) -> Invocation {
    let mut r = sample(n);
    r.attempts = 2;
    r.attempt_list = vec![
        Attempt {
            provider: "primary".into(),
            model: "gpt-4o".into(),
            status: None,
            error_class: Some("upstream_connect".into()),
            // A 17-digit latency, which serde_json's default float parser reads
            // back one unit in the last place off.
            latency_ms: 20094.430344342214,
        },
        Attempt {
            provider: "openai".into(),
            model: "gpt-4o-2024-08-06".into(),
            status: Some(200),
            error_class: None,
            latency_ms: 12.75,
        },
    ];
    r
}

/// The attempts of `retried` as `keel logs show --json` prints them.
const RETRIED_JSON: &str = r#""attempt_list":[{"provider":"primary","model":"gpt-4o","status":null,"error_class":"upstream_connect","latency_ms":20094.430344342214},{"provider":"openai","model":"gpt-4o-2024-08-06","status":200,"error_class":null,"latency_ms":12.75}]"#;

/// How `keel logs show --json` prints a record without attempts.
const NO_ATTEMPTS_JSON: &str = r#""attempt_list":[]"#;

#[tokio::test]
async fn every_attempt_reads_back_as_written() {
    for t in TestStore::both().await {
        let backend = t.store.backend();
        let with = retried(1);
        let without = sample(2);
        assert!(without.attempt_list.is_empty());
        t.store
            .insert_batch(&[with.clone(), without.clone()])
            .await
            .unwrap();

        let got = t.store.get(&with.id.to_string()).await.unwrap().unwrap();
        assert_eq!(got, with, "{backend}: both attempts, in order");
        let shown = got.to_json(true);
        assert!(shown.contains(RETRIED_JSON), "{backend}: {shown}");
        let got = t.store.get(&without.id.to_string()).await.unwrap().unwrap();
        assert_eq!(got, without, "{backend}: no attempts");
        let shown = got.to_json(true);
        assert!(shown.contains(NO_ATTEMPTS_JSON), "{backend}: {shown}");

        let listed = t
            .store
            .list(&LogFilter {
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(listed.len(), 2, "{backend}");
        assert_eq!(listed[0].attempt_list, without.attempt_list, "{backend}");
        assert_eq!(
            listed[1].attempt_list, with.attempt_list,
            "{backend}: listings keep the attempts"
        );
        t.cleanup().await;
    }
}

/// A record as the schema-1 binary wrote it (no attempt list).
const V1_RECORD: &str = "INSERT INTO invocations (id, created_at_ms, endpoint, stream, status, \
    outcome, input_tokens, output_tokens, cached_tokens, reasoning_tokens, token_source, \
    latency_ms, attempts) VALUES ('0192a2b3-0000-7000-8000-000000000001', 1700000000000, \
    'chat.completions', FALSE, 502, 'upstream_error', 3, 0, 0, 0, 'none', 8.5, 1)";

/// What [`V1_RECORD`] reads back as.
fn v1_record() -> Invocation {
    let id = Uuid::parse_str("0192a2b3-0000-7000-8000-000000000001").unwrap();
    let mut r = Invocation::new(id, 1_700_000_000_000, "chat.completions");
    r.status = 502;
    r.outcome = Outcome::UpstreamError;
    r.input_tokens = 3;
    r.latency_ms = 8.5;
    r.attempts = 1;
    r
}

/// Brings a database to schema 1, as the binary before `attempt_list` left
/// it, with one record in it.
async fn at_schema_1<DB: sqlx::Database>(pool: &sqlx::Pool<DB>, migration_1: &str)
where
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
{
    sqlx::raw_sql(
        "CREATE TABLE keel_schema_migrations (version BIGINT PRIMARY KEY NOT NULL, \
         name TEXT NOT NULL, applied_at_ms BIGINT NOT NULL); \
         INSERT INTO keel_schema_migrations VALUES (1, 'invocations', 0)",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::raw_sql(migration_1).execute(pool).await.unwrap();
    sqlx::raw_sql(V1_RECORD).execute(pool).await.unwrap();
}

/// Checks a store opened on a schema-1 database: the old record reads back
/// with no attempts, and a new one keeps its attempts.
async fn check_migrated(store: &Arc<dyn Store>) {
    let backend = store.backend();
    let old = store
        .get("0192a2b3-0000-7000-8000-000000000001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(old, v1_record(), "{backend}: the old record is intact");
    let shown = old.to_json(true);
    assert!(shown.contains(NO_ATTEMPTS_JSON), "{backend}: {shown}");
    let new = retried(5);
    store
        .insert_batch(std::slice::from_ref(&new))
        .await
        .unwrap();
    let got = store.get(&new.id.to_string()).await.unwrap().unwrap();
    assert_eq!(got, new, "{backend}: the migrated table keeps attempts");
    assert_eq!(store.count().await.unwrap(), 2, "{backend}");
}

#[tokio::test]
async fn a_schema_1_sqlite_database_migrates_to_the_latest() {
    let dir = std::env::temp_dir().join(format!("keel-store-test-{}", Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.join("keel.db").display());
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    at_schema_1(&db, keel_store::migrate::SQLITE[0].sql).await;
    db.close().await;

    let store = keel_store::open(None, &dir, Durability::Batched)
        .await
        .unwrap();
    check_migrated(&store).await;
    store.close().await;
    assert_eq!(
        schema_version_sqlite(&dir).await,
        keel_store::migrate::latest(keel_store::migrate::SQLITE)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

async fn schema_version_sqlite(dir: &Path) -> i64 {
    let url = format!("sqlite://{}", dir.join("keel.db").display());
    let db = sqlx::SqlitePool::connect(&url).await.unwrap();
    let version = sqlx::query_scalar("SELECT MAX(version) FROM keel_schema_migrations")
        .fetch_one(&db)
        .await
        .unwrap();
    db.close().await;
    version
}

#[tokio::test]
async fn a_schema_1_postgres_database_migrates_to_the_latest() {
    let schema = format!("keel_test_v1_{}", Uuid::now_v7().simple());
    let admin = sqlx::PgPool::connect(PG_URL).await.unwrap();
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&admin)
        .await
        .unwrap();
    let url = pg_url_with_schema(&schema);
    let db = sqlx::PgPool::connect(&url).await.unwrap();
    at_schema_1(&db, keel_store::migrate::POSTGRES[0].sql).await;
    db.close().await;

    let store = keel_store::open(Some(&url), Path::new("/tmp"), Durability::Batched)
        .await
        .unwrap();
    check_migrated(&store).await;
    store.close().await;
    let version: i64 = sqlx::query_scalar(&format!(
        "SELECT MAX(version) FROM {schema}.keel_schema_migrations"
    ))
    .fetch_one(&admin)
    .await
    .unwrap();
    assert_eq!(
        version,
        keel_store::migrate::latest(keel_store::migrate::POSTGRES)
    );
    sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
}
