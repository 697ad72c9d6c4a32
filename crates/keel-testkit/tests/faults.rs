//! The fault models, the stream counters, and shutdown on drop.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{chunks, client, post, send, sse_events};
use http::Request;
use http_body_util::{BodyExt, Full};
use keel_testkit::{FakeUpstream, CUT_REPLY, DELAY_HEADER, LONG_STREAM_WORDS, MALFORMED_BODY};
use serde_json::{json, Value};

fn chat(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "hello"}]})
}

fn url(upstream: &FakeUpstream) -> String {
    format!("{}/chat/completions", upstream.base_url())
}

#[tokio::test]
async fn error_statuses_in_openai_shape() {
    let upstream = FakeUpstream::start().await;
    let reply = post(&url(&upstream), &chat("fault-429", false)).await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.headers["retry-after"], "7");
    assert_eq!(
        reply.json(),
        json!({"error": {"message": "Rate limit reached for requests", "type": "requests",
            "param": null, "code": "rate_limit_exceeded"}})
    );

    let reply = post(&url(&upstream), &chat("fault-500", true)).await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json()["error"]["type"], "server_error");
    assert_eq!(reply.json()["error"]["code"], Value::Null);

    let reply = post(&url(&upstream), &chat("fault-400", false)).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["param"], "messages");
    assert_eq!(reply.json()["error"]["type"], "invalid_request_error");

    let embed = json!({"model": "fault-500", "input": "x"});
    let reply = post(&format!("{}/embeddings", upstream.base_url()), &embed).await;
    assert_eq!(reply.status, 500);
}

#[tokio::test]
async fn malformed_garbage_and_no_usage() {
    let upstream = FakeUpstream::start().await;
    let reply = post(&url(&upstream), &chat("fault-malformed", false)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, MALFORMED_BODY.as_bytes());

    let events = post(&url(&upstream), &chat("fault-garbage-stream", true))
        .await
        .events();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert!(events[0].starts_with("{not json"));

    let v = post(&url(&upstream), &chat("fault-no-usage", false))
        .await
        .json();
    assert!(v.get("usage").is_none());
    let chunks = chunks(
        &post(&url(&upstream), &chat("fault-no-usage", true))
            .await
            .events(),
    );
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));
    assert!(chunks
        .iter()
        .all(|c| !c["choices"].as_array().unwrap().is_empty()));
}

#[tokio::test]
async fn cut_drops_the_connection_mid_body() {
    let upstream = FakeUpstream::start().await;
    let err = send(
        "POST",
        &url(&upstream),
        Some(&chat("fault-cut", false).to_string()),
        &[],
    )
    .await
    .err();
    assert!(err.is_some(), "a short body must be an error");

    // Streamed: the role chunk and three content chunks arrive, then the body fails.
    let req = Request::post(url(&upstream))
        .body(Full::new(Bytes::from(chat("fault-cut", true).to_string())))
        .unwrap();
    let resp = client().request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut got = Vec::new();
    let failed = loop {
        match body.frame().await {
            Some(Ok(frame)) => got.extend_from_slice(frame.data_ref().map_or(&[][..], |d| &d[..])),
            Some(Err(_)) => break true,
            None => break false,
        }
    };
    assert!(failed, "stream ends in an error, not a clean end");
    let events = sse_events(&got);
    assert_eq!(events.len(), 4);
    let text: String = events[1..]
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e).unwrap()["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(CUT_REPLY.starts_with(&text));
    assert_eq!(upstream.streams_aborted(), 1);
}

#[tokio::test]
async fn hang_never_answers() {
    let upstream = FakeUpstream::start().await;
    let (target, body) = (url(&upstream), chat("fault-hang", false));
    let pending = post(&target, &body);
    assert!(tokio::time::timeout(Duration::from_millis(200), pending)
        .await
        .is_err());
    assert_eq!(upstream.requests().len(), 1);
}

#[tokio::test]
async fn slow_stream_is_paced() {
    let upstream = FakeUpstream::start().await;
    let started = std::time::Instant::now();
    let events = post(&url(&upstream), &chat("fault-slow-stream", true))
        .await
        .events();
    // role, 2 words, finish, usage, [DONE]: 5 gaps of 20 ms.
    assert_eq!(events.len(), 6);
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn long_stream_counts_completion_and_abandonment() {
    let upstream = FakeUpstream::start().await;
    let body = chat("fault-long-stream", true).to_string();
    let fast = [(DELAY_HEADER, "0")];
    let reply = send("POST", &url(&upstream), Some(&body), &fast)
        .await
        .unwrap();
    let chunks = chunks(&reply.events());
    // role + words + finish + usage
    assert_eq!(chunks.len(), LONG_STREAM_WORDS + 3);
    assert_eq!(
        chunks.last().unwrap()["usage"]["completion_tokens"],
        LONG_STREAM_WORDS
    );
    assert!(
        upstream
            .wait_streams_completed(1, Duration::from_secs(5))
            .await
    );

    // A reader that leaves early: the stream is counted as aborted, not completed.
    let req = Request::post(url(&upstream))
        .header(DELAY_HEADER, "1")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = client().request(req).await.unwrap();
    let mut stream = resp.into_body();
    let _first = stream.frame().await;
    drop(stream);
    assert!(
        upstream
            .wait_streams_finished(2, Duration::from_secs(10))
            .await
    );
    assert_eq!(upstream.streams_completed(), 1);
    assert_eq!(upstream.streams_aborted(), 1);
    assert_eq!(upstream.streams_started(), 2);
}

#[tokio::test]
async fn dropping_stops_the_server() {
    let upstream = FakeUpstream::start().await;
    let addr = upstream.addr();
    let hanging = tokio::net::TcpStream::connect(addr).await.unwrap();
    drop(upstream);
    // Abort is processed on the runtime's next turns.
    let mut refused = false;
    for _ in 0..100 {
        tokio::task::yield_now().await;
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
    }
    assert!(refused, "listener closed after drop");
    drop(hanging);
}

#[test]
fn upstream_handle_is_shareable() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<FakeUpstream>();
}
