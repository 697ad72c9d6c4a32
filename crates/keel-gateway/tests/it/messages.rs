//! The Anthropic Messages front door in front of an OpenAI-compatible provider.

use serde_json::{json, Value};

use crate::harness::*;

async fn messages(gw: &Gateway, body: Value) -> reqwest::Response {
    gw.client
        .post(format!("{}/v1/messages", gw.url))
        .header("x-api-key", KEY)
        .header("anthropic-version", "2023-06-01")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_message_round_trips_through_an_openai_provider() {
    let gw = gateway().await;
    let resp = messages(
        &gw,
        json!({"model": "fake-chat", "max_tokens": 64, "system": "be brief",
        "messages": [{"role": "user", "content": "hello there"}]}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let id = invocation_id(&resp);
    let msg: Value = resp.json().await.unwrap();
    assert_eq!(msg["type"], "message");
    assert_eq!(msg["role"], "assistant");
    assert_eq!(msg["content"][0]["type"], "text");
    assert_eq!(msg["content"][0]["text"], "Echo: hello there");
    assert_eq!(msg["stop_reason"], "end_turn");
    assert!(msg["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let (records, upstream) = gw.stop().await;
    let sent = &posts(&upstream)[0].body;
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "be brief"})
    );
    assert_eq!(sent["max_tokens"], 64);
    let r = record(&records, &id);
    assert_eq!(r.endpoint, "messages");
    assert_eq!(r.token_source, "provider");
    assert_eq!(
        r.output_tokens as u64,
        msg["usage"]["output_tokens"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn a_streamed_message_has_the_anthropic_event_sequence() {
    let gw = gateway().await;
    let resp = messages(
        &gw,
        json!({"model": "fake-chat", "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "one two three"}]}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let id = invocation_id(&resp);
    let text = resp.text().await.unwrap();
    let kinds: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(kinds.first(), Some(&"message_start"));
    assert_eq!(
        &kinds[kinds.len() - 2..],
        &["message_delta", "message_stop"]
    );
    assert!(kinds.contains(&"content_block_delta"));
    let deltas: String = sse_data(&text)
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| v["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(deltas, "Echo: one two three");
    assert!(!text.contains("[DONE]"), "OpenAI's sentinel does not leak");
    let (records, _) = gw.stop().await;
    let r = record(&records, &id);
    assert!(r.stream);
    assert_eq!(
        r.token_source, "provider",
        "usage came from the provider's usage chunk"
    );
}

#[tokio::test]
async fn errors_come_back_in_the_anthropic_shape() {
    let gw = gateway().await;
    for (body, key, status, kind) in [
        (
            json!({"model": "fake-chat", "messages": [{"role": "user", "content": "x"}]}),
            KEY,
            400,
            "invalid_request_error",
        ),
        (
            json!({"model": "nope", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}),
            KEY,
            404,
            "not_found_error",
        ),
        (
            json!({"model": "fake-chat", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}),
            "wrong",
            401,
            "authentication_error",
        ),
        (
            json!({"model": "fault-429", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}),
            KEY,
            429,
            "rate_limit_error",
        ),
        (
            json!({"model": "fault-500", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}),
            KEY,
            500,
            "api_error",
        ),
        (
            json!({"model": "fault-cut", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}),
            KEY,
            502,
            "api_error",
        ),
    ] {
        let resp = gw
            .client
            .post(format!("{}/v1/messages", gw.url))
            .header("x-api-key", key)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{body}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["type"], "error", "{v}");
        assert_eq!(v["error"]["type"], kind, "{v}");
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    let (records, _) = gw.stop().await;
    assert_eq!(records.len(), 6);
    assert!(records.iter().all(|r| r.endpoint == "messages"));
}
