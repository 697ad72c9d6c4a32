use serde_json::Value;

use crate::harness::*;

#[tokio::test]
async fn models_health_and_metrics() {
    let gw = gateway().await;
    let models: Value = gw
        .client
        .get(format!("{}/v1/models", gw.url))
        .bearer_auth(KEY)
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
    assert!(ids.contains(&"fake-chat"), "discovered: {ids:?}");
    assert!(ids.contains(&"dead-model"), "configured: {ids:?}");

    let live = gw
        .client
        .get(format!("{}/health/live", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let ready: Value = gw
        .client
        .get(format!("{}/health/ready", gw.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["store"]["ok"], true);

    let _ = gw
        .chat(serde_json::json!({"model": "fake-chat", "messages": user("hi")}))
        .await;
    let nf = gw
        .client
        .get(format!("{}/v1/nothing", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(nf.status(), 404);
    let nf: Value = nf.json().await.unwrap();
    assert_eq!(nf["error"]["type"], "invalid_request_error");
    let wrong_method = gw
        .client
        .get(format!("{}/v1/chat/completions", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);

    // The writer updates per-call metrics when it builds the record.
    let (records, _) = gw.stop().await;
    assert_eq!(records.len(), 1);
    let text = keel_gateway::metrics::Metrics::install().render();
    assert!(text.contains("keel_requests_total"), "{text}");
    assert!(text.contains("keel_tokens_total"));
    assert!(text.contains("keel_request_duration_seconds"));
}

#[tokio::test]
async fn readiness_fails_without_models() {
    let gw = gateway_with(|c| c.providers.clear()).await;
    let ready = gw
        .client
        .get(format!("{}/health/ready", gw.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let _ = gw.stop().await;
}
