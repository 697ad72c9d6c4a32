use keel_store::{Durability, LogFilter, StoreError};

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
                supported: 1
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
