//! Embeddings shapes, the request log endpoints, and bench (fast) mode.

mod common;

use std::time::Duration;

use common::{chunks, post, send};
use keel_testkit::{embedding_vector, FakeUpstream, DEFAULT_DIMENSIONS, STREAM_CONTENT_CHUNKS};
use serde_json::{json, Value};

fn decode_base64(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| *c != b'=') {
        let Some(value) = ALPHABET.iter().position(|a| *a == c) else {
            return Vec::new();
        };
        bits = (bits << 6) | value as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

#[tokio::test]
async fn embeddings_floats_and_base64_agree() {
    let upstream = FakeUpstream::start().await;
    let url = format!("{}/embeddings", upstream.base_url());
    let floats = post(
        &url,
        &json!({"model": "fake-embed", "input": ["hello world", "x"]}),
    )
    .await
    .json();
    assert_eq!(floats["object"], "list");
    assert_eq!(floats["model"], "fake-embed");
    assert_eq!(
        floats["usage"],
        json!({"prompt_tokens": 3, "total_tokens": 3})
    );
    let first = &floats["data"][0];
    assert_eq!(first["object"], "embedding");
    assert_eq!(first["index"], 0);
    let values: Vec<f32> = first["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(values.len(), DEFAULT_DIMENSIONS);
    assert_eq!(values, embedding_vector("hello world", DEFAULT_DIMENSIONS));

    let b64 = post(
        &url,
        &json!({"model": "fake-embed", "input": "hello world", "encoding_format": "base64"}),
    )
    .await
    .json();
    let bytes = decode_base64(b64["data"][0]["embedding"].as_str().unwrap());
    let decoded: Vec<f32> = bytes
        .chunks(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(decoded, values);

    let tokens = post(&url, &json!({"model": "e", "input": [[1, 2, 3], [4]]}))
        .await
        .json();
    assert_eq!(tokens["data"].as_array().unwrap().len(), 2);
    assert_eq!(tokens["usage"]["prompt_tokens"], 4);
}

#[tokio::test]
async fn request_log_endpoints() {
    let upstream = FakeUpstream::start().await;
    let root = upstream.base_url().trim_end_matches("/v1").to_owned();
    post(
        &format!("{}/chat/completions", upstream.base_url()),
        &json!({"model": "m", "messages": []}),
    )
    .await;
    let log = send(
        "GET",
        &format!("{root}/__requests"),
        None,
        &[("x-probe", "1")],
    )
    .await
    .unwrap()
    .json();
    assert_eq!(log.as_array().unwrap().len(), 1, "log reads are not logged");
    assert_eq!(log[0]["path"], "/v1/chat/completions");
    assert_eq!(log[0]["headers"]["content-type"], "application/json");
    assert_eq!(log[0]["body"]["model"], "m");
    let cleared = send("DELETE", &format!("{root}/__requests"), None, &[])
        .await
        .unwrap();
    assert_eq!(cleared.status, 204);
    assert!(upstream.requests().is_empty());
}

#[tokio::test]
async fn fast_mode_fixed_answers() {
    let upstream = FakeUpstream::start_fast(Some(Duration::from_micros(100))).await;
    let url = format!("{}/chat/completions", upstream.base_url());
    let reply = send(
        "POST",
        &url,
        Some(r#"{"model":"bench-model","messages":[]}"#),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 200);
    let v = reply.json();
    assert_eq!(v["object"], "chat.completion");
    assert!(v["usage"]["total_tokens"].as_u64().unwrap() > 0);

    let body = r#"{"model":"bench-model", "stream" : true, "messages":[]}"#;
    let reply = send("POST", &url, Some(body), &[]).await.unwrap();
    let events = reply.events();
    assert_eq!(events.len(), 54);
    let chunks = chunks(&events);
    let content = chunks
        .iter()
        .filter(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        })
        .count();
    assert_eq!(content, STREAM_CONTENT_CHUNKS);
    assert_eq!(chunks.last().unwrap()["choices"], json!([]));
    assert!(chunks.last().unwrap()["usage"].is_object());
    assert!(upstream.requests().is_empty(), "fast mode keeps no log");
    let models = send("GET", &format!("{}/models", upstream.base_url()), None, &[])
        .await
        .unwrap();
    assert_eq!(models.json()["object"], Value::from("list"));
}
