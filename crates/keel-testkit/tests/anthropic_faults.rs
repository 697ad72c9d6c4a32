//! The Anthropic fake's fault models.

// Helpers outside `#[test]` fns fail loudly too.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{anthropic_post, client, named_events, raw_named_events, ANTHROPIC_HEADERS};
use http::Request;
use http_body_util::{BodyExt, Full};
use keel_testkit::anthropic::{
    AnthropicFault, BAD_REQUEST_MESSAGE, EVENTS_BEFORE_FAULT, GARBAGE_DATA, OVERLOADED_EVENT,
    REQUEST_ID_HEADER,
};
use keel_testkit::{FakeUpstream, ANTHROPIC_FAULT_MODELS, CUT_REPLY, DELAY_HEADER};
use serde_json::{json, Value};

const MESSAGES: &str = "/v1/messages";

fn message(model: &str, stream: bool) -> Value {
    json!({"model": model, "max_tokens": 100, "stream": stream,
        "messages": [{"role": "user", "content": "hello"}]})
}

/// Reads a body frame by frame; returns what arrived and whether it failed.
async fn read_until_failure(upstream: &FakeUpstream, body: &Value) -> (u16, Vec<u8>, bool) {
    let mut req = Request::post(format!("{}{MESSAGES}", upstream.root_url()));
    for (k, v) in ANTHROPIC_HEADERS {
        req = req.header(k, v);
    }
    let req = req.body(Full::new(Bytes::from(body.to_string()))).unwrap();
    let resp = client().request(req).await.unwrap();
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut got = Vec::new();
    let failed = loop {
        match body.frame().await {
            Some(Ok(frame)) => got.extend_from_slice(frame.data_ref().map_or(&[][..], |d| &d[..])),
            Some(Err(_)) => break true,
            None => break false,
        }
    };
    (status, got, failed)
}

#[test]
fn every_fault_model_is_listed_once() {
    for (name, fault) in ANTHROPIC_FAULT_MODELS {
        assert_eq!(AnthropicFault::from_model(name), Some(fault));
    }
    assert_eq!(AnthropicFault::from_model("fake-chat"), None);
}

#[tokio::test]
async fn error_statuses_in_anthropic_shape() {
    let upstream = FakeUpstream::start().await;
    let cases = [
        ("fault-500", 500, "api_error", "Internal server error"),
        ("fault-529", 529, "overloaded_error", "Overloaded"),
        (
            "fault-429",
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
        ),
        (
            "fault-400",
            400,
            "invalid_request_error",
            BAD_REQUEST_MESSAGE,
        ),
        ("fault-stream-error", 529, "overloaded_error", "Overloaded"),
    ];
    for (model, status, kind, text) in cases {
        for stream in [false, true] {
            if model == "fault-stream-error" && stream {
                continue;
            }
            let reply = anthropic_post(&upstream, MESSAGES, &message(model, stream), &[]).await;
            assert_eq!(reply.status.as_u16(), status, "{model}");
            let v = reply.json();
            assert_eq!(
                v,
                json!({"type": "error", "error": {"type": kind, "message": text},
                    "request_id": reply.headers[REQUEST_ID_HEADER].to_str().unwrap()}),
                "{model}"
            );
            if model == "fault-429" {
                assert_eq!(reply.headers["retry-after"], "7");
            }
        }
    }
    // count_tokens fails the same way.
    let counted = anthropic_post(
        &upstream,
        "/v1/messages/count_tokens",
        &message("fault-529", false),
        &[],
    )
    .await;
    assert_eq!(counted.status.as_u16(), 529);
}

#[tokio::test]
async fn cut_drops_the_connection_mid_body_and_mid_stream() {
    let upstream = FakeUpstream::start().await;
    let (status, got, failed) = read_until_failure(&upstream, &message("fault-cut", false)).await;
    assert_eq!(status, 200);
    assert!(failed, "a short body must be an error");
    assert!(serde_json::from_slice::<Value>(&got).is_err());

    let (status, got, failed) = read_until_failure(&upstream, &message("fault-cut", true)).await;
    assert_eq!(status, 200);
    assert!(failed, "the stream ends in an error, not a clean end");
    let events = named_events(&got);
    assert_eq!(events.len(), EVENTS_BEFORE_FAULT);
    let text: String = events[3..]
        .iter()
        .map(|(_, e)| e["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(CUT_REPLY.starts_with(&text) && !text.is_empty());
    assert!(
        upstream
            .wait_streams_finished(1, Duration::from_secs(5))
            .await
    );
    assert_eq!(upstream.streams_aborted(), 1);
}

#[tokio::test]
async fn stream_error_event_after_some_deltas() {
    let upstream = FakeUpstream::start().await;
    let reply = anthropic_post(
        &upstream,
        MESSAGES,
        &message("fault-stream-error", true),
        &[],
    )
    .await;
    assert_eq!(reply.status, 200);
    let body = std::str::from_utf8(&reply.body).unwrap();
    assert!(body.ends_with(OVERLOADED_EVENT), "{body}");
    let events = named_events(&reply.body);
    assert_eq!(events.len(), EVENTS_BEFORE_FAULT + 1);
    assert_eq!(events[3].0, "content_block_delta");
    assert_eq!(
        events.last().unwrap().1,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
    assert!(events.iter().all(|(n, _)| n != "message_stop"));
}

#[tokio::test]
async fn garbage_stream_is_not_json() {
    let upstream = FakeUpstream::start().await;
    let reply = anthropic_post(
        &upstream,
        MESSAGES,
        &message("fault-garbage-stream", true),
        &[],
    )
    .await;
    assert_eq!(reply.status, 200);
    let events = raw_named_events(&reply.body);
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].0, "message_start");
    assert!(events.iter().all(|(_, data)| data == GARBAGE_DATA));
}

#[tokio::test]
async fn hang_never_answers() {
    let upstream = FakeUpstream::start().await;
    let body = message("fault-hang", true);
    let pending = anthropic_post(&upstream, MESSAGES, &body, &[]);
    assert!(tokio::time::timeout(Duration::from_millis(200), pending)
        .await
        .is_err());
    assert_eq!(upstream.requests().len(), 1);
}

#[tokio::test]
async fn slow_stream_is_paced_and_the_delay_header_overrides() {
    let upstream = FakeUpstream::start().await;
    let body = message("fault-slow-stream", true);
    let started = std::time::Instant::now();
    let reply = anthropic_post(&upstream, MESSAGES, &body, &[]).await;
    // start, block start, ping, 2 deltas, block stop, message delta, stop: 7 gaps.
    let events = named_events(&reply.body);
    assert_eq!(events.len(), 8);
    assert!(started.elapsed() >= Duration::from_millis(140));
    assert_eq!(events.last().unwrap().0, "message_stop");

    let started = std::time::Instant::now();
    anthropic_post(&upstream, MESSAGES, &body, &[(DELAY_HEADER, "0")]).await;
    assert!(started.elapsed() < Duration::from_millis(140));

    let plain = anthropic_post(
        &upstream,
        MESSAGES,
        &message("fault-slow-stream", false),
        &[],
    )
    .await;
    assert_eq!(plain.json()["content"][0]["text"], "Echo: hello");
}
