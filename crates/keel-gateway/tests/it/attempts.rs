//! The attempt loop: a plan's candidates tried in order, every try kept in
//! the record, a stream never retried once its first byte went out.

use serde_json::json;

use crate::harness::*;

/// A gateway where `pair` is served by `first` then `second`.
async fn with_alias(first: &str, second: &str) -> Gateway {
    let gw = gateway().await;
    let mut registry = gw.running.state.models().registry.clone();
    registry.add_alias("pair", &[first, second]).unwrap();
    gw.running.state.set_registry(registry);
    gw
}

#[tokio::test]
async fn a_refused_connection_moves_on_to_the_next_candidate() {
    let gw = with_alias("dead/dead-model", "fake/fake-chat").await;
    let resp = gw
        .chat(json!({"model": "pair", "messages": user("one two")}))
        .await;
    assert_eq!(resp.status(), 200);
    let id = invocation_id(&resp);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "Echo: one two");
    let (records, _) = gw.stop().await;
    let r = record(&records, &id);
    assert_eq!(r.attempts, 2);
    assert_eq!(r.status, 200);
    assert_eq!(r.provider.as_deref(), Some("fake"));
    assert_eq!(r.requested_model.as_deref(), Some("pair"));
    let tries = &r.attempt_list;
    assert_eq!(tries.len(), 2);
    assert_eq!(tries[0].provider, "dead");
    assert_eq!(tries[0].status, None);
    assert_eq!(tries[0].error_class.as_deref(), Some("upstream_connect"));
    assert_eq!(tries[1].provider, "fake");
    assert_eq!(tries[1].model, "fake-chat");
    assert_eq!(tries[1].status, Some(200));
    assert_eq!(tries[1].error_class, None);
    assert!(tries.iter().all(|t| t.latency_ms >= 0.0));
}

#[tokio::test]
async fn a_stream_moves_on_before_its_first_byte() {
    let gw = with_alias("dead/dead-model", "fake/fake-chat").await;
    let resp = gw
        .chat(json!({"model": "pair", "stream": true, "messages": user("one two")}))
        .await;
    assert_eq!(resp.status(), 200);
    let id = invocation_id(&resp);
    let chunks = openai_chunks(&resp.text().await.unwrap());
    assert_eq!(chunk_text(&chunks), "Echo: one two");
    let (records, _) = gw.stop().await;
    let r = record(&records, &id);
    assert_eq!((r.attempts, r.status), (2, 200));
    let classes: Vec<_> = r
        .attempt_list
        .iter()
        .map(|t| t.error_class.as_deref())
        .collect();
    assert_eq!(classes, [Some("upstream_connect"), None]);
}

#[tokio::test]
async fn a_stream_cut_after_its_first_byte_is_not_retried() {
    let gw = with_alias("fake/fault-cut", "fake/fake-chat").await;
    let resp = gw
        .chat(json!({"model": "pair", "stream": true, "messages": user("one two")}))
        .await;
    assert_eq!(resp.status(), 200);
    let id = invocation_id(&resp);
    let text = resp.text().await.unwrap();
    let last = sse_data(&text).pop().unwrap();
    let error: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(error["error"]["code"], "stream_cut", "{text}");
    let (records, upstream) = gw.stop().await;
    let r = record(&records, &id);
    assert_eq!(r.attempts, 1);
    assert_eq!(r.error_class.as_deref(), Some("stream_cut"));
    assert_eq!(r.attempt_list[0].model, "fault-cut");
    assert_eq!(
        posts(&upstream).len(),
        1,
        "the second candidate was never asked"
    );
}

#[tokio::test]
async fn an_upstream_error_status_is_an_answer_not_a_retry() {
    let gw = with_alias("fake/fault-500", "fake/fake-chat").await;
    let resp = gw
        .chat(json!({"model": "pair", "messages": user("one two")}))
        .await;
    assert_eq!(resp.status(), 500);
    let id = invocation_id(&resp);
    let (records, _) = gw.stop().await;
    let r = record(&records, &id);
    assert_eq!(r.attempts, 1);
    assert_eq!(r.attempt_list[0].status, Some(500));
    assert_eq!(
        r.attempt_list[0].error_class.as_deref(),
        Some("upstream_status")
    );
}
