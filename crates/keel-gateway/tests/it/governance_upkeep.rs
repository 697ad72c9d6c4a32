//! Governance over time and across processes: budget alerts reaching a
//! webhook, spend surviving a restart, budget periods rolling over, and a
//! revocation reaching another node sharing the database.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keel_store::timefmt::{format_ms, now_ms};
use serde_json::{json, Value};

use crate::governance::secret;
use crate::harness::{gateway_on, gateway_with, Gateway, KEY};

const DAY_MS: i64 = 86_400_000;

/// The writer flushes often so that waiting for each call's record (and so
/// its settled spend) stays quick over many sequential calls.
const FLUSH: Duration = Duration::from_millis(5);

/// An HTTP endpoint in the test that keeps every JSON body POSTed to it.
struct Receiver {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    async fn start() -> Receiver {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let app = axum::Router::new()
            .route(
                "/alerts",
                axum::routing::post(
                    |axum::extract::State(kept): axum::extract::State<Arc<Mutex<Vec<Value>>>>,
                     body: bytes::Bytes| async move {
                        // A body that is not JSON is kept as text, for the
                        // assertion to show it.
                        let value = serde_json::from_slice(&body).unwrap_or_else(|_| {
                            Value::String(String::from_utf8_lossy(&body).into_owned())
                        });
                        kept.lock().unwrap().push(value);
                        "ok"
                    },
                ),
            )
            .with_state(bodies.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/alerts", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Receiver { url, bodies, task }
    }

    fn received(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }

    /// Everything received once at least `n` bodies have arrived (polled,
    /// for up to five seconds).
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{n} alerts expected, {} arrived: {got:#?}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What one `chat_as` call of `fake-chat` costs, from a probe key's record.
async fn cost_of_a_call(gw: &Gateway) -> f64 {
    let probe = gw
        .create(
            "/keys",
            json!({"name": format!("probe-{}", uuid::Uuid::now_v7())}),
        )
        .await;
    let resp = gw.chat_as(&secret(&probe), "fake-chat", None).await;
    assert_eq!(resp.status(), 200);
    let cost = gw.records_of(probe["id"].as_str().unwrap(), 1).await[0]["cost_usd"]
        .as_f64()
        .unwrap();
    assert!(cost > 0.0);
    cost
}

/// Calls with `key` one at a time, each call's record stored (so its spend
/// settled) before the next, until one is refused. Returns how many were
/// answered and the refusal's body.
async fn spend_until_refused(gw: &Gateway, key: &Value) -> (usize, Value) {
    let (sk, id) = (secret(key), key["id"].as_str().unwrap());
    let mut answered = 0;
    loop {
        let resp = gw.chat_as(&sk, "fake-chat", None).await;
        if resp.status() == 429 {
            return (answered, resp.json().await.unwrap());
        }
        assert_eq!(resp.status(), 200);
        answered += 1;
        assert!(answered <= 500, "the budget never ran out");
        gw.records_of(id, answered).await;
    }
}

/// The `GET /budgets` row of `scope`.
async fn budget_row(gw: &Gateway, scope: &str) -> Value {
    let (status, budgets) = gw.admin(KEY, "GET", "/budgets", json!(null)).await;
    assert_eq!(status, 200, "{budgets}");
    budgets["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["scope"] == scope)
        .unwrap_or_else(|| panic!("no budget {scope}: {budgets}"))
        .clone()
}

#[tokio::test]
async fn a_budget_alerts_its_webhook_once_at_each_threshold() {
    let hook = Receiver::start().await;
    let url = hook.url.clone();
    let gw = gateway_with(move |c| {
        c.writer.flush_interval = FLUSH;
        c.governance.alert_thresholds = vec![50, 80, 100];
        c.governance.alert_webhook_url = Some(url);
    })
    .await;
    let cost = cost_of_a_call(&gw).await;
    // A call's worst case is far above its cost; at a hundred calls' worth
    // the last call admitted still takes spend past 80%.
    let limit = cost * 100.0;
    let key = gw
        .create(
            "/keys",
            json!({"name": "alerted", "budget_usd": limit, "budget_period": "monthly"}),
        )
        .await;
    let scope = format!("key:{}", key["id"].as_str().unwrap());
    let (answered, refusal) = spend_until_refused(&gw, &key).await;
    assert_eq!(refusal["error"]["code"], "budget_exceeded", "{refusal}");

    let alerts = hook.wait_for(3).await;
    let thresholds: Vec<&Value> = alerts.iter().map(|a| &a["threshold_percent"]).collect();
    assert_eq!(thresholds, [50, 80, 100], "{alerts:#?}");
    let month_start = format!("{}-01T00:00:00Z", &format_ms(now_ms())[..7]);
    let spent_in_all = budget_row(&gw, &scope).await["spent_usd"].as_f64().unwrap();
    for alert in &alerts {
        let threshold = alert["threshold_percent"].as_f64().unwrap();
        assert_eq!(alert["type"], "budget.threshold", "{alert}");
        assert_eq!(alert["scope"], scope.as_str(), "{alert}");
        assert_eq!(alert["period"], "monthly", "{alert}");
        assert_eq!(alert["period_start"], month_start.as_str(), "{alert}");
        let alert_limit = alert["limit_usd"].as_f64().unwrap();
        assert!((alert_limit - limit).abs() < 1e-12, "{alert}");
        let spent = alert["spent_usd"].as_f64().unwrap();
        if threshold < 100.0 {
            // Sent by the call that crossed it: spend is at or past the
            // threshold by less than one call.
            let at = limit * threshold / 100.0;
            assert!(
                spent >= at - 1e-9 && spent < at + cost + 1e-9,
                "spent {spent} at the {threshold}% threshold of {limit}: {alert}"
            );
        } else {
            // The budget is used up: what it reports is all that was spent.
            assert!(
                (spent - spent_in_all).abs() < 1e-9 && spent <= limit + 1e-12,
                "spent {spent} of {limit}, {spent_in_all} in all: {alert}"
            );
        }
    }

    // Refused calls spend nothing and alert nothing more.
    for _ in 0..3 {
        let resp = gw.chat_as(&secret(&key), "fake-chat", None).await;
        assert_eq!(resp.status(), 429);
    }
    gw.records_of(key["id"].as_str().unwrap(), answered + 4)
        .await;
    // Absence is only seen over time: watch for a while, polling.
    let quiet_until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < quiet_until {
        assert_eq!(hook.received().len(), 3, "{:#?}", hook.received());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    gw.stop().await;
}

#[tokio::test]
async fn a_slack_webhook_gets_only_text() {
    let hook = Receiver::start().await;
    let url = hook.url.clone();
    let gw = gateway_with(move |c| {
        c.writer.flush_interval = FLUSH;
        c.governance.alert_thresholds = vec![1];
        c.governance.alert_webhook_url = Some(url);
        c.governance.alert_webhook_slack = true;
    })
    .await;
    let cost = cost_of_a_call(&gw).await;
    let key = gw
        .create(
            "/keys",
            json!({"name": "chatty", "budget_usd": cost * 50.0}),
        )
        .await;
    assert_eq!(
        gw.chat_as(&secret(&key), "fake-chat", None).await.status(),
        200
    );
    let alerts = hook.wait_for(1).await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let body = alerts[0].as_object().unwrap();
    assert_eq!(
        body.keys().collect::<Vec<_>>(),
        ["text"],
        "{:#?}",
        alerts[0]
    );
    let text = body["text"].as_str().unwrap();
    let scope = format!("key:{}", key["id"].as_str().unwrap());
    assert!(
        text.contains(&scope) && text.contains("1%") && text.contains("total"),
        "{text}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn spend_survives_a_restart() {
    let gw = gateway_with(|c| c.writer.flush_interval = FLUSH).await;
    let cost = cost_of_a_call(&gw).await;
    let capped = gw
        .create(
            "/keys",
            json!({"name": "capped", "budget_usd": cost * 20.0}),
        )
        .await;
    let free = gw.create("/keys", json!({"name": "free"})).await;
    let scope = format!("key:{}", capped["id"].as_str().unwrap());
    let (answered, refusal) = spend_until_refused(&gw, &capped).await;
    assert!(answered >= 1, "{refusal}");
    assert_eq!(refusal["error"]["code"], "budget_exceeded", "{refusal}");
    let before = budget_row(&gw, &scope).await;
    let spent = before["spent_usd"].as_f64().unwrap();
    assert!(spent > 0.0, "{before}");

    let (data_dir, _) = gw.halt().await;
    let gw = gateway_on(data_dir, |c| c.writer.flush_interval = FLUSH).await;
    let refused = gw.chat_as(&secret(&capped), "fake-chat", None).await;
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "budget_exceeded", "{body}");
    let after = budget_row(&gw, &scope).await;
    assert!(
        (after["spent_usd"].as_f64().unwrap() - spent).abs() < 1e-9,
        "before {before}, after {after}"
    );
    assert_eq!(
        gw.chat_as(&secret(&free), "fake-chat", None).await.status(),
        200
    );
    gw.stop().await;
}

#[tokio::test]
async fn a_daily_budget_is_answered_again_the_next_day() {
    let start = now_ms();
    let clock = keel_policy::Clock::manual(start);
    let moved = clock.clone();
    let gw = gateway_with(move |c| {
        c.writer.flush_interval = FLUSH;
        c.governance.clock = moved;
    })
    .await;
    let cost = cost_of_a_call(&gw).await;
    let key = gw
        .create(
            "/keys",
            json!({"name": "daily", "budget_usd": cost * 20.0, "budget_period": "daily"}),
        )
        .await;
    let scope = format!("key:{}", key["id"].as_str().unwrap());
    let midnight = (start.div_euclid(DAY_MS) + 1) * DAY_MS;
    let (_, refusal) = spend_until_refused(&gw, &key).await;
    assert_eq!(refusal["error"]["code"], "budget_exceeded", "{refusal}");
    let message = refusal["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("resets at {}", format_ms(midnight))),
        "{message}"
    );
    let today = budget_row(&gw, &scope).await;
    assert_eq!(today["resets_at"], format_ms(midnight), "{today}");
    assert_eq!(
        gw.chat_as(&secret(&key), "fake-chat", None).await.status(),
        429,
        "still refused the same day"
    );

    clock.advance(DAY_MS);
    let tomorrow = budget_row(&gw, &scope).await;
    assert_eq!(
        tomorrow["resets_at"],
        format_ms(midnight + DAY_MS),
        "{tomorrow}"
    );
    assert_eq!(tomorrow["spent_usd"], 0.0, "a new period: {tomorrow}");
    let resp = gw.chat_as(&secret(&key), "fake-chat", None).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    gw.stop().await;
}

/// The shared database the two nodes use.
const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A throwaway PostgreSQL schema for nodes that share one database.
struct Schema {
    name: String,
    admin: sqlx::PgPool,
}

impl Schema {
    async fn create() -> Schema {
        let name = format!("keel_gw_test_{}", uuid::Uuid::now_v7().simple());
        let admin = sqlx::PgPool::connect(PG_URL)
            .await
            .expect("PostgreSQL at 127.0.0.1:5432 (db test)");
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&admin)
            .await
            .unwrap();
        Schema { name, admin }
    }

    fn url(&self) -> String {
        format!("{PG_URL}?options=-c%20search_path%3D{}", self.name)
    }

    async fn remove(self) {
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
            .execute(&self.admin)
            .await
            .unwrap();
        self.admin.close().await;
    }
}

#[tokio::test]
async fn a_key_revoked_on_one_node_is_refused_by_another_within_a_second() {
    let schema = Schema::create().await;
    let url = schema.url();
    let shared = url.clone();
    let a = gateway_with(move |c| c.database_url = Some(shared)).await;
    let b = gateway_with(move |c| c.database_url = Some(url)).await;
    let key = a.create("/keys", json!({"name": "roaming"})).await;
    let sk = secret(&key);

    // B learns of the new key by its own refresh.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let status = b.chat_as(&sk, "fake-chat", None).await.status();
        if status == 200 {
            break;
        }
        assert_eq!(status, 401);
        assert!(Instant::now() < deadline, "node B never accepted the key");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Timed from before the revocation is sent, so the admin call counts.
    let revoked_at = Instant::now();
    let (status, revoked) = a
        .admin(KEY, "POST", "/keys/roaming/revoke", json!({}))
        .await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!(a.chat_as(&sk, "fake-chat", None).await.status(), 401);
    let refused = loop {
        let resp = b.chat_as(&sk, "fake-chat", None).await;
        if resp.status() == 401 {
            break resp;
        }
        assert_eq!(resp.status(), 200);
        assert!(
            revoked_at.elapsed() < Duration::from_secs(3),
            "node B still answers the revoked key"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = revoked_at.elapsed();
    eprintln!("revocation reached node B in {took:?}");
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked"),
        "{body}"
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");
    a.stop().await;
    b.stop().await;
    schema.remove().await;
}

#[tokio::test]
async fn two_nodes_on_one_database_and_redis_never_spend_past_a_budget() {
    let schema = Schema::create().await;
    let prefix = format!("keel-gw-test-{}", uuid::Uuid::now_v7().simple());
    let node = |url: String, prefix: String| {
        gateway_with(move |c| {
            c.database_url = Some(url);
            c.governance.redis_url = Some("redis://127.0.0.1:6379".into());
            c.governance.redis_key_prefix = prefix;
        })
    };
    let a = node(schema.url(), prefix.clone()).await;
    let b = node(schema.url(), prefix).await;
    // One call's real cost, from its record.
    let probe = a.create("/keys", json!({"name": "probe"})).await;
    assert_eq!(
        a.chat_as(&secret(&probe), "fake-chat", None).await.status(),
        200
    );
    let cost = a.records_of(probe["id"].as_str().unwrap(), 1).await[0]["cost_usd"]
        .as_f64()
        .unwrap();
    let limit = cost * 50.5;
    let key = a
        .create("/keys", json!({"name": "shared-cap", "budget_usd": limit}))
        .await;
    let (sk, id) = (secret(&key), key["id"].as_str().unwrap().to_owned());
    // Node B learns of the key by its refresh.
    for _ in 0..200 {
        if b.chat_as("sk-keel-nope", "fake-chat", None).await.status() == 401
            && b.admin(KEY, "GET", "/keys/shared-cap", json!(null)).await.0 == 200
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let calls = (0..200).map(|i| {
        let node = if i % 2 == 0 { &a } else { &b };
        node.chat_as(&sk, "fake-chat", None)
    });
    let statuses: Vec<u16> = futures_util::future::join_all(calls)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(ok + refused, 200, "{statuses:?}");
    assert!(refused >= 140, "{refused} refused");
    // Both nodes write to the one database: every record is there.
    let records = a.records_of(&id, 200).await;
    let spent: f64 = records.iter().filter_map(|r| r["cost_usd"].as_f64()).sum();
    assert!(spent <= limit + 1e-12, "spent {spent} over {limit}");
    // Redis holds nothing for calls that are over.
    let mut standing = Value::Null;
    for _ in 0..200 {
        let (_, budgets) = b.admin(KEY, "GET", "/budgets", json!(null)).await;
        standing = budgets["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "shared-cap")
            .cloned()
            .unwrap();
        if standing["reserved_usd"] == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(standing["reserved_usd"], 0.0, "{standing}");
    assert!(
        (standing["spent_usd"].as_f64().unwrap() - spent).abs() < 1e-9,
        "{standing}"
    );
    a.stop().await;
    b.stop().await;
    schema.remove().await;
}
