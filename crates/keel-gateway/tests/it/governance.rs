//! Virtual keys, roles, budgets and rate limits through the admin API, as
//! a user drives them: over HTTP, against the fake upstream.

use serde_json::{json, Value};

use crate::harness::{gateway, gateway_with, Gateway, KEY};

impl Gateway {
    /// An admin API call with `key`; returns status and JSON body.
    pub(crate) async fn admin(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        let url = format!("{}/admin/v1{path}", self.url);
        let req = match method {
            "GET" => self.client.get(url),
            "POST" => self.client.post(url),
            "PATCH" => self.client.patch(url),
            "PUT" => self.client.put(url),
            _ => unreachable!(),
        };
        let resp = req
            .bearer_auth(key)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub(crate) async fn create(&self, path: &str, body: Value) -> Value {
        let (status, body) = self.admin(KEY, "POST", path, body).await;
        assert_eq!(status, 201, "{path}: {body}");
        body
    }

    /// A chat call with `key`, optionally in a run (trace id).
    pub(crate) async fn chat_as(
        &self,
        key: &str,
        model: &str,
        trace: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(format!("{}/v1/chat/completions", self.url))
            .bearer_auth(key);
        if let Some(trace) = trace {
            req = req.header("x-keel-trace-id", trace);
        }
        let body = json!({"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hello"}]});
        req.json(&body).send().await.unwrap()
    }

    /// Records of `key_id`, waiting (by polling, not sleeping) until `n`
    /// are stored.
    pub(crate) async fn records_of(&self, key_id: &str, n: usize) -> Vec<Value> {
        for _ in 0..500 {
            let (_, body) = self
                .admin(
                    KEY,
                    "GET",
                    &format!("/invocations?key={key_id}&limit=10000"),
                    json!(null),
                )
                .await;
            let rows = body["data"].as_array().cloned().unwrap_or_default();
            if rows.len() >= n {
                return rows;
            }
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("{n} records of {key_id} never arrived");
    }
}

pub(crate) fn secret(key: &Value) -> String {
    key["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_key_is_refused_outside_its_models_and_once_revoked_and_is_recorded_by_name() {
    let gw = gateway().await;
    let team = gw.create("/teams", json!({"name": "search"})).await;
    let user = gw
        .create(
            "/users",
            json!({"email": "ana@example.com", "team": "search", "role": "member"}),
        )
        .await;
    let key = gw
        .create("/keys", json!({"name": "ci-bot", "team": "search", "user": "ana@example.com", "agent": "planner", "models": ["fake-*"], "tags": {"env": "prod"}}))
        .await;
    let sk = secret(&key);
    assert!(sk.starts_with("sk-keel-"));
    let (_, shown) = gw
        .admin(
            KEY,
            "GET",
            &format!("/keys/{}", key["id"].as_str().unwrap()),
            json!(null),
        )
        .await;
    assert!(
        shown.get("key").is_none() && !shown.to_string().contains(&sk[8..]),
        "the secret is shown once: {shown}"
    );

    assert_eq!(gw.chat_as(&sk, "fake-chat", None).await.status(), 200);
    let refused = gw.chat_as(&sk, "dead-model", None).await;
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_allowed");

    let models: Value = gw
        .client
        .get(format!("{}/v1/models", gw.url))
        .bearer_auth(&sk)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(
        !ids.is_empty() && ids.iter().all(|id| id.starts_with("fake-")),
        "{ids:?}"
    );

    let records = gw.records_of(key["id"].as_str().unwrap(), 2).await;
    let ok = records.iter().find(|r| r["status"] == 200).unwrap();
    assert_eq!(ok["key_name"], "ci-bot");
    assert_eq!(ok["team_id"], team["id"]);
    assert_eq!(ok["user_id"], user["id"]);
    assert_eq!(ok["agent"], "planner");
    assert_eq!(ok["tags"]["env"], "prod");

    let (status, _) = gw
        .admin(KEY, "POST", "/keys/ci-bot/revoke", json!({}))
        .await;
    assert_eq!(status, 200);
    let revoked = gw.chat_as(&sk, "fake-chat", None).await;
    assert_eq!(revoked.status(), 401);
    let body: Value = revoked.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("revoked"));

    // The audit names who did what, from where, and never the secret.
    let (_, audit) = gw.admin(KEY, "GET", "/audit", json!(null)).await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["keys.revoke", "keys.create", "users.create", "teams.create"]
    );
    assert_eq!(audit["data"][0]["actor"], "master");
    assert_eq!(audit["data"][0]["address"], "127.0.0.1");
    assert!(!audit.to_string().contains(&sk[8..]));
    gw.stop().await;
}

#[tokio::test]
async fn keys_expire_and_rotated_secrets_keep_working_for_their_grace() {
    let clock = keel_policy::Clock::manual(keel_store::timefmt::now_ms());
    let moved = clock.clone();
    let gw = gateway_with(move |c| c.governance.clock = moved).await;
    let key = gw
        .create("/keys", json!({"name": "short", "expires": "1d"}))
        .await;
    let old = secret(&key);
    let (status, rotated) = gw
        .admin(KEY, "POST", "/keys/short/rotate", json!({"grace": "1h"}))
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new = secret(&rotated);
    assert_eq!(
        gw.chat_as(&old, "fake-chat", None).await.status(),
        200,
        "within the grace"
    );
    clock.advance(2 * 3_600_000);
    assert_eq!(
        gw.chat_as(&old, "fake-chat", None).await.status(),
        401,
        "after the grace"
    );
    assert_eq!(gw.chat_as(&new, "fake-chat", None).await.status(), 200);
    clock.advance(24 * 3_600_000);
    let expired = gw.chat_as(&new, "fake-chat", None).await;
    assert_eq!(expired.status(), 401);
    let body: Value = expired.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{body}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn over_its_rpm_a_key_gets_429_with_retry_after_and_rate_limit_headers() {
    let gw = gateway().await;
    let sk = secret(&gw.create("/keys", json!({"name": "slow", "rpm": 2})).await);
    let first = gw.chat_as(&sk, "fake-chat", None).await;
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["x-ratelimit-limit-requests"], "2");
    assert_eq!(first.headers()["x-ratelimit-remaining-requests"], "1");
    assert_eq!(gw.chat_as(&sk, "fake-chat", None).await.status(), 200);
    let refused = gw.chat_as(&sk, "fake-chat", None).await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert_eq!(refused.headers()["x-ratelimit-remaining-requests"], "0");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    gw.stop().await;
}

#[tokio::test]
async fn two_hundred_concurrent_calls_never_spend_past_the_budget() {
    let gw = gateway().await;
    // One call's real cost, from its record.
    let probe = gw.create("/keys", json!({"name": "probe"})).await;
    assert_eq!(
        gw.chat_as(&secret(&probe), "fake-chat", None)
            .await
            .status(),
        200
    );
    let cost = gw.records_of(probe["id"].as_str().unwrap(), 1).await[0]["cost_usd"]
        .as_f64()
        .unwrap();
    assert!(cost > 0.0);
    let limit = cost * 50.5;
    let key = gw
        .create(
            "/keys",
            json!({"name": "capped", "budget_usd": limit, "budget_period": "monthly"}),
        )
        .await;
    let sk = secret(&key);
    let calls = (0..200).map(|_| gw.chat_as(&sk, "fake-chat", None));
    let statuses: Vec<u16> = futures_util::future::join_all(calls)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(ok + refused, 200, "{statuses:?}");
    assert!(refused >= 140, "{refused} refused");
    let records = gw.records_of(key["id"].as_str().unwrap(), 200).await;
    let spent: f64 = records.iter().filter_map(|r| r["cost_usd"].as_f64()).sum();
    assert!(spent <= limit + 1e-12, "spent {spent} over {limit}");
    // Every reservation was settled: nothing is held.
    let (_, budgets) = gw.admin(KEY, "GET", "/budgets", json!(null)).await;
    let row = budgets["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "capped")
        .unwrap()
        .clone();
    assert_eq!(row["reserved_usd"], 0.0, "{row}");
    assert!(
        (row["spent_usd"].as_f64().unwrap() - spent).abs() < 1e-9,
        "{row}"
    );
    // Called one at a time, the key goes on until the budget is spent; the
    // refusal names the budget and when it resets.
    let mut more = 0;
    let refusal = loop {
        let resp = gw.chat_as(&sk, "fake-chat", None).await;
        if resp.status() == 429 {
            break resp.json::<Value>().await.unwrap();
        }
        more += 1;
        assert!(more <= 60, "the budget never ran out");
        gw.records_of(key["id"].as_str().unwrap(), 200 + more).await;
    };
    assert_eq!(refusal["error"]["code"], "budget_exceeded");
    assert!(
        refusal["error"]["message"]
            .as_str()
            .unwrap()
            .contains("resets at"),
        "{refusal}"
    );
    let records = gw.records_of(key["id"].as_str().unwrap(), 201 + more).await;
    let spent: f64 = records.iter().filter_map(|r| r["cost_usd"].as_f64()).sum();
    assert!(spent <= limit + 1e-12, "spent {spent} over {limit}");
    // The last call's worst case (its body's bytes as input tokens, plus
    // max_tokens) is what may stay unspent.
    assert!(
        spent > limit * 0.5,
        "the budget is used, not wasted: {spent} of {limit}"
    );
    // Spend by key agrees with the records to the cent.
    let (_, by_key) = gw.admin(KEY, "GET", "/spend?by=key", json!(null)).await;
    let capped = by_key["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["group"] == key["id"])
        .unwrap()
        .clone();
    assert!((capped["cost_usd"].as_f64().unwrap() - spent).abs() < 0.005);
    gw.stop().await;
}

#[tokio::test]
async fn an_agent_run_stops_at_its_budget_and_a_new_run_goes_on() {
    let gw = gateway().await;
    let probe = gw.create("/keys", json!({"name": "probe"})).await;
    assert_eq!(
        gw.chat_as(&secret(&probe), "fake-chat", None)
            .await
            .status(),
        200
    );
    let cost = gw.records_of(probe["id"].as_str().unwrap(), 1).await[0]["cost_usd"]
        .as_f64()
        .unwrap();
    let key = gw
        .create(
            "/keys",
            json!({"name": "agent", "run_budget_usd": cost * 30.0}),
        )
        .await;
    let (sk, key_id) = (secret(&key), key["id"].as_str().unwrap().to_owned());
    let mut answered = 0;
    let mut last = None;
    for _ in 0..40 {
        let resp = gw.chat_as(&sk, "fake-chat", Some("run-one")).await;
        if resp.status() == 200 {
            answered += 1;
            // Each step's record (and so its settled cost) before the next.
            gw.records_of(&key_id, answered).await;
            continue;
        }
        last = Some(resp);
        break;
    }
    let refused = last.expect("the run was stopped");
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("run-one"),
        "{body}"
    );
    assert!((2..30).contains(&answered), "{answered}");
    assert_eq!(
        gw.chat_as(&sk, "fake-chat", Some("run-two")).await.status(),
        200
    );
    gw.stop().await;
}

#[tokio::test]
async fn roles_decide_what_each_user_may_change() {
    let gw = gateway().await;
    gw.create("/teams", json!({"name": "search"})).await;
    gw.create("/teams", json!({"name": "ads"})).await;
    for (email, role) in [
        ("lead@x.io", "admin"),
        ("dev@x.io", "member"),
        ("ro@x.io", "viewer"),
    ] {
        gw.create(
            "/users",
            json!({"email": email, "team": "search", "role": role}),
        )
        .await;
    }
    let key_of =
        |email: &str| json!({"name": format!("k-{email}"), "team": "search", "user": email});
    let lead = secret(&gw.create("/keys", key_of("lead@x.io")).await);
    let dev = secret(&gw.create("/keys", key_of("dev@x.io")).await);
    let ro = secret(&gw.create("/keys", key_of("ro@x.io")).await);

    // (caller, method, path, body, expected status)
    let cases: Vec<(&str, &str, &str, Value, u16)> = vec![
        (&lead, "POST", "/teams", json!({"name": "new"}), 403),
        (
            &lead,
            "PATCH",
            "/teams/search",
            json!({"budget_usd": 5}),
            200,
        ),
        (&lead, "PATCH", "/teams/ads", json!({"budget_usd": 5}), 403),
        (
            &lead,
            "POST",
            "/keys",
            json!({"name": "svc", "team": "search"}),
            201,
        ),
        (
            &lead,
            "POST",
            "/keys",
            json!({"name": "svc2", "team": "ads"}),
            403,
        ),
        (
            &lead,
            "POST",
            "/users",
            json!({"email": "new@x.io", "team": "search"}),
            201,
        ),
        (&lead, "GET", "/audit", json!(null), 403),
        (
            &dev,
            "POST",
            "/keys",
            json!({"name": "mine", "team": "search"}),
            201,
        ),
        (
            &dev,
            "POST",
            "/keys",
            json!({"name": "theirs", "team": "search", "user": "lead@x.io"}),
            403,
        ),
        (&dev, "PATCH", "/teams/search", json!({"rpm": 5}), 403),
        (&dev, "POST", "/keys/k-lead@x.io/revoke", json!({}), 403),
        (&dev, "GET", "/spend?by=model&team=search", json!(null), 200),
        (&dev, "GET", "/spend?by=model", json!(null), 403),
        (&ro, "GET", "/keys", json!(null), 200),
        (
            &ro,
            "POST",
            "/keys",
            json!({"name": "ro-key", "team": "search"}),
            403,
        ),
        (&ro, "PATCH", "/users/ro@x.io", json!({"name": "Ro"}), 403),
        (&ro, "GET", "/teams/search", json!(null), 200),
        (&ro, "GET", "/teams/ads", json!(null), 403),
    ];
    for (caller, method, path, body, expected) in cases {
        let (status, answer) = gw.admin(caller, method, path, body.clone()).await;
        assert_eq!(status, expected, "{method} {path} {body}: {answer}");
    }
    gw.stop().await;
}

#[tokio::test]
async fn bad_admin_input_is_a_clear_4xx_and_writes_nothing() {
    let gw = gateway().await;
    gw.create("/teams", json!({"name": "search"})).await;
    let cases = [
        ("/teams", json!({"name": "search"}), 409),
        ("/teams", json!({"name": ""}), 400),
        ("/teams", json!({"name": "x", "budget_usd": -1}), 400),
        (
            "/teams",
            json!({"name": "x", "budget_usd": 5, "budget_period": "hourly"}),
            400,
        ),
        ("/teams", json!({"name": "x", "rpm": "many"}), 400),
        ("/teams", json!({"name": "x", "colour": "red"}), 400),
        ("/users", json!({"email": "a@b.c", "team": "nope"}), 400),
        ("/users", json!({"email": "not-an-email"}), 400),
        ("/keys", json!({"name": "k", "user": "ghost@x.io"}), 400),
        ("/keys", json!({"name": "k", "expires": "yesterday"}), 400),
    ];
    for (path, body, expected) in cases {
        let (status, answer) = gw.admin(KEY, "POST", path, body.clone()).await;
        assert_eq!(status, expected, "{path} {body}: {answer}");
        assert!(answer["error"]["message"].is_string(), "{answer}");
    }
    let malformed = gw
        .client
        .post(format!("{}/admin/v1/teams", gw.url))
        .bearer_auth(KEY)
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let (_, audit) = gw.admin(KEY, "GET", "/audit", json!(null)).await;
    assert_eq!(
        audit["data"].as_array().unwrap().len(),
        1,
        "only the first team was written"
    );
    let (status, _) = gw.admin("sk-keel-nope", "GET", "/teams", json!(null)).await;
    assert_eq!(status, 401);
    gw.stop().await;
}
