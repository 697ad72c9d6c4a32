use serde_json::{json, Value};

use crate::harness::*;

/// Sends `body`, checks status and the OpenAI error shape, returns (id, error).
async fn expect_error(gw: &Gateway, body: &str, status: u16) -> (String, Value) {
    let resp = gw.post("/v1/chat/completions", body).await;
    assert_eq!(resp.status().as_u16(), status, "{body}");
    let id = invocation_id(&resp);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
    assert!(v["error"]["type"].is_string(), "{v}");
    (id, v)
}

#[tokio::test]
async fn bad_requests_get_400_404_413_and_one_record_each() {
    let gw = gateway_with(|c| c.max_body_bytes = 4096).await;
    let cases: Vec<(String, u16, &str)> = vec![
        (r#"{"model":"fake-chat","messages":[}"#.into(), 400, "invalid_request"),
        (r#"{"messages":[{"role":"user","content":"x"}]}"#.into(), 400, "invalid_request"),
        (r#"{"model":"fake-chat","messages":[]}"#.into(), 400, "invalid_request"),
        (r#"{"model":"fake-chat","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#.into(), 400, "invalid_request"),
        (r#"{"model":"no-such-model","messages":[{"role":"user","content":"x"}]}"#.into(), 404, "unknown_model"),
        (format!(r#"{{"model":"fake-chat","messages":[{{"role":"user","content":"{}"}}]}}"#, "x".repeat(5000)), 413, "body_too_large"),
    ];
    let mut ids = Vec::new();
    for (body, status, class) in &cases {
        let (id, err) = expect_error(&gw, body, *status).await;
        if *status == 404 {
            assert_eq!(err["error"]["code"], "model_not_found");
        }
        ids.push((id, *status, *class));
    }
    let (records, upstream) = gw.stop().await;
    assert!(
        posts(&upstream).is_empty(),
        "nothing bad reaches the upstream"
    );
    assert_eq!(records.len(), cases.len());
    for (id, status, class) in ids {
        let r = record(&records, &id);
        assert_eq!(r.status, status);
        assert_eq!(r.outcome.as_str(), "client_error");
        assert_eq!(r.error_class.as_deref(), Some(class));
        assert_eq!(r.token_source, "none");
    }
}

#[tokio::test]
async fn missing_or_wrong_key_is_401_and_recorded() {
    let gw = gateway().await;
    let no_key = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .body(json!({"model": "fake-chat", "messages": user("hi")}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status(), 401);
    let wrong = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth("nope")
        .body(json!({"model": "fake-chat", "messages": user("hi")}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let id = invocation_id(&wrong);
    let v: Value = wrong.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_api_key");
    let models = gw
        .client
        .get(format!("{}/v1/models", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 401);
    let (records, _) = gw.stop().await;
    let r = record(&records, &id);
    assert_eq!((r.status, r.key_id.as_deref()), (401, None));
    assert!(
        r.request_body.is_none(),
        "an unauthenticated body is not read"
    );
}

#[tokio::test]
async fn upstream_failures_map_to_the_right_status() {
    let gw = gateway().await;
    let body = |model: &str| json!({"model": model, "messages": user("hi")}).to_string();

    let resp = gw.post("/v1/chat/completions", &body("fault-429")).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7", "retry-after preserved");
    let id_429 = invocation_id(&resp);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v["error"]["code"], "rate_limit_exceeded",
        "the upstream's error body passes through"
    );

    let (id_500, v) = expect_error(&gw, &body("fault-500"), 500).await;
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("The server had an error"));
    let (id_400, _) = expect_error(&gw, &body("fault-400"), 400).await;
    let (id_malformed, _) = expect_error(&gw, &body("fault-malformed"), 502).await;
    let (id_cut, _) = expect_error(&gw, &body("fault-cut"), 502).await;
    let (id_dead, v) = expect_error(&gw, &body("dead-model"), 502).await;
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("could not reach provider 'dead'"));
    let (id_hang, _) = expect_error(&gw, &body("fault-hang"), 504).await;

    let (records, _) = gw.stop().await;
    for (id, status, class) in [
        (id_429, 429, "upstream_status"),
        (id_500, 500, "upstream_status"),
        (id_400, 400, "upstream_status"),
        (id_malformed, 502, "upstream_malformed"),
        (id_cut, 502, "stream_cut"),
        (id_dead, 502, "upstream_connect"),
        (id_hang, 504, "upstream_timeout"),
    ] {
        let r = record(&records, &id);
        assert_eq!(
            (r.status, r.error_class.as_deref()),
            (status, Some(class)),
            "{id}"
        );
        // A cut answer was generated (and billed) upstream: Keel estimates it.
        let billed = if class == "stream_cut" {
            "estimated"
        } else {
            "none"
        };
        assert_eq!(
            r.token_source, billed,
            "{class}: error statuses bill nothing"
        );
    }
}

#[tokio::test]
async fn a_client_that_leaves_before_the_answer_still_gets_one_record() {
    let gw = gateway().await;
    let gave_up = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(KEY)
        .timeout(std::time::Duration::from_millis(200))
        .body(json!({"model": "fault-hang", "messages": user("anyone there?")}).to_string())
        .send()
        .await;
    assert!(gave_up.is_err(), "the client gave up first");
    // Shutting down waits for the call, which ends at the upstream timeout.
    let (records, _) = gw.stop().await;
    assert_eq!(
        records.len(),
        1,
        "exactly one record for the abandoned call"
    );
    let r = &records[0];
    assert_eq!(r.status, 499);
    assert_eq!(r.outcome.as_str(), "client_disconnected");
    assert_eq!(r.error_class.as_deref(), Some("upstream_timeout"));
    assert_eq!(r.requested_model.as_deref(), Some("fault-hang"));
}

#[tokio::test]
async fn duplicate_keys_and_redirects_are_refused() {
    let gw = gateway().await;
    let (_, err) = expect_error(
        &gw,
        r#"{"model":"fake-chat","messages":[{"role":"user","content":"x"}],"model":"fault-500"}"#,
        400,
    )
    .await;
    assert_eq!(err["error"]["param"], "model");
    let (records, upstream) = gw.stop().await;
    assert!(posts(&upstream).is_empty());
    assert_eq!(records[0].error_class.as_deref(), Some("invalid_request"));
}
