//! Teams, users, keys, their audit and spend, on both backends.

use std::collections::BTreeMap;

use keel_store::governance::{
    ApiKey, AuditEntry, DirectoryWrite, Limits, Period, SpendGroup, Team, TeamRole, User,
};
use keel_store::StoreError;

use crate::{sample, TestStore};

fn team(id: &str, name: &str) -> Team {
    Team {
        id: id.into(),
        name: name.into(),
        limits: Limits {
            budget_usd: Some(100.0),
            budget_period: Some(Period::Monthly),
            ..Limits::default()
        },
        metadata: serde_json::json!({"cost_center": 42}),
        created_at_ms: 1,
        updated_at_ms: 1,
    }
}

fn key(id: &str, name: &str, hash: &str) -> ApiKey {
    ApiKey {
        id: id.into(),
        name: name.into(),
        prefix: "sk-keel-abcd".into(),
        secret_sha256: hash.into(),
        previous_sha256: None,
        previous_valid_until_ms: None,
        team_id: Some("t1".into()),
        user_id: Some("u1".into()),
        agent: Some("planner".into()),
        admin: false,
        models: vec!["gpt-4o-mini".into(), "claude-*".into()],
        limits: Limits {
            rpm: Some(600),
            tpm: Some(100_000),
            run_budget_usd: Some(0.5),
            ..Limits::default()
        },
        tags: BTreeMap::from([("env".to_owned(), "prod".to_owned())]),
        metadata: serde_json::Value::Null,
        expires_at_ms: Some(99),
        revoked_at_ms: None,
        created_at_ms: 2,
        updated_at_ms: 2,
    }
}

fn audit(action: &str, target: &str, at_ms: i64) -> AuditEntry {
    AuditEntry {
        id: uuid::Uuid::now_v7().to_string(),
        at_ms,
        actor: "master".into(),
        action: action.into(),
        target_kind: "team".into(),
        target_id: target.into(),
        before: None,
        after: Some(serde_json::json!({"name": target})),
        address: Some("127.0.0.1".into()),
    }
}

#[tokio::test]
async fn directory_rows_read_back_as_written_and_bump_the_version() {
    for t in TestStore::both().await {
        let s = &t.store;
        let v0 = s.directory_version().await.unwrap();
        let user = User {
            id: "u1".into(),
            email: "ana@example.com".into(),
            name: Some("Ana".into()),
            admin: false,
            memberships: BTreeMap::from([("t1".to_owned(), TeamRole::Member)]),
            limits: Limits::default(),
            created_at_ms: 1,
            updated_at_ms: 1,
        };
        let writes = [
            DirectoryWrite::Team(team("t1", "search")),
            DirectoryWrite::User(user.clone()),
            DirectoryWrite::Key(key("k1", "ci-bot", "h1")),
        ];
        for (n, w) in writes.iter().enumerate() {
            s.write_directory(w, &audit("create", "x", n as i64))
                .await
                .unwrap();
        }
        let dir = s.load_directory().await.unwrap();
        assert_eq!(dir.version, v0 + 3, "{}", s.backend());
        assert_eq!(dir.teams, vec![team("t1", "search")]);
        assert_eq!(dir.users, vec![user]);
        assert_eq!(dir.keys, vec![key("k1", "ci-bot", "h1")]);

        // An update replaces the row; a taken name is a conflict and
        // leaves neither the row nor its audit entry.
        let mut renamed = team("t1", "search-2");
        renamed.updated_at_ms = 5;
        s.write_directory(
            &DirectoryWrite::Team(renamed.clone()),
            &audit("update", "t1", 10),
        )
        .await
        .unwrap();
        let taken = s
            .write_directory(
                &DirectoryWrite::Team(team("t2", "search-2")),
                &audit("create", "t2", 11),
            )
            .await
            .unwrap_err();
        assert!(matches!(taken, StoreError::Conflict(_)), "{taken:?}");
        let dup_key = s
            .write_directory(
                &DirectoryWrite::Key(key("k2", "other", "h1")),
                &audit("create", "k2", 12),
            )
            .await
            .unwrap_err();
        assert!(matches!(dup_key, StoreError::Conflict(_)), "{dup_key:?}");
        let dir = s.load_directory().await.unwrap();
        assert_eq!(dir.teams, vec![renamed]);
        assert_eq!(dir.keys.len(), 1);
        let entries = s.admin_audit(None, None, 100).await.unwrap();
        assert_eq!(
            entries.len(),
            4,
            "{}: failed writes leave no audit",
            s.backend()
        );
        assert_eq!(entries[0].action, "update");
        assert_eq!(entries[0].address.as_deref(), Some("127.0.0.1"));
        assert_eq!(s.admin_audit(Some(5), None, 100).await.unwrap().len(), 1);
        t.cleanup().await;
    }
}

#[tokio::test]
async fn spend_groups_agree_with_the_records_and_the_daily_rollups() {
    for t in TestStore::both().await {
        let s = &t.store;
        let records: Vec<_> = (0..10).map(sample).collect();
        s.insert_batch(&records[..4]).await.unwrap();
        s.insert_batch(&records[4..]).await.unwrap();
        let total: f64 = records.iter().filter_map(|r| r.cost_usd).sum();
        for by in [
            SpendGroup::Key,
            SpendGroup::Team,
            SpendGroup::Model,
            SpendGroup::Day,
        ] {
            let rows = s.spend(by, None, None, None).await.unwrap();
            let sum: f64 = rows.iter().map(|r| r.cost_usd).sum();
            assert!((sum - total).abs() < 1e-12, "{by:?} on {}", s.backend());
            assert_eq!(rows.iter().map(|r| r.calls).sum::<i64>(), 10);
        }
        let teams = s.spend(SpendGroup::Team, None, None, None).await.unwrap();
        let t1 = teams
            .iter()
            .find(|r| r.group.as_deref() == Some("t1"))
            .unwrap();
        assert_eq!(t1.calls, 5);
        let since = s
            .spend(SpendGroup::Key, Some(1_700_000_000_005), None, None)
            .await
            .unwrap();
        assert_eq!(since.iter().map(|r| r.calls).sum::<i64>(), 5);
        let one_team = s
            .spend(SpendGroup::Model, None, None, Some("t1"))
            .await
            .unwrap();
        assert_eq!(one_team.iter().map(|r| r.calls).sum::<i64>(), 5);

        let daily = s.daily_spend_since(0).await.unwrap();
        let key_day = daily.iter().find(|d| d.scope == "key:k1").unwrap();
        assert_eq!(
            key_day.calls,
            5,
            "{}: the master key has no budget scope",
            s.backend()
        );
        assert!((key_day.cost_usd - 5.0 * 0.000125).abs() < 1e-12);
        let tokens: i64 = records
            .iter()
            .filter(|r| r.key_id.as_deref() == Some("k1"))
            .map(|r| r.input_tokens + r.output_tokens)
            .sum();
        assert_eq!(key_day.tokens, tokens);
        assert!(daily.iter().all(|d| d.scope != "key:master"));
        assert!(s
            .daily_spend_since(key_day.day + 1)
            .await
            .unwrap()
            .is_empty());
        t.cleanup().await;
    }
}

#[tokio::test]
async fn a_budget_threshold_is_claimed_once_per_period() {
    for t in TestStore::both().await {
        let s = &t.store;
        assert!(s.claim_alert("team:t1", 1000, 80).await.unwrap());
        assert!(!s.claim_alert("team:t1", 1000, 80).await.unwrap());
        assert!(s.claim_alert("team:t1", 1000, 100).await.unwrap());
        assert!(s.claim_alert("team:t1", 2000, 80).await.unwrap());
        t.cleanup().await;
    }
}
