//! Plain hyper client helpers shared by the testkit's own tests.

// Helpers outside `#[test]` fns: failing loudly is their job.
#![allow(dead_code, clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// A keep-alive HTTP/1.1 client.
pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A finished response.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("response body is JSON")
    }

    /// The `data:` payloads of an SSE body, in order.
    pub fn events(&self) -> Vec<String> {
        sse_events(&self.body)
    }
}

/// Splits an SSE body into its `data:` payloads, checking the framing.
pub fn sse_events(body: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(body).expect("SSE body is UTF-8");
    let mut out = Vec::new();
    for event in text.split_terminator("\n\n") {
        let data = event
            .strip_prefix("data: ")
            .unwrap_or_else(|| panic!("event without data prefix: {event:?}"));
        assert!(!data.contains('\n'), "one line per event: {event:?}");
        out.push(data.to_owned());
    }
    assert!(
        text.ends_with("\n\n") || text.is_empty(),
        "body ends an event"
    );
    out
}

/// Sends a request with optional JSON body and extra headers.
pub async fn send(
    method: &str,
    url: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> Result<Reply, String> {
    let mut req = Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
        .expect("valid request");
    let resp = client().request(req).await.map_err(|e| e.to_string())?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    })
}

/// POSTs a JSON value and expects a complete response.
pub async fn post(url: &str, body: &Value) -> Reply {
    send("POST", url, Some(&body.to_string()), &[])
        .await
        .expect("request succeeds")
}

/// Parses every event except `[DONE]`, which must come last.
pub fn chunks(events: &[String]) -> Vec<Value> {
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("chunk is JSON"))
        .collect()
}

/// The headers a well-behaved Anthropic client sends.
pub const ANTHROPIC_HEADERS: [(&str, &str); 2] = [
    ("x-api-key", keel_testkit::ANTHROPIC_API_KEY),
    ("anthropic-version", "2023-06-01"),
];

/// POSTs JSON to `path` on the fake with Anthropic's headers plus `extra`.
pub async fn anthropic_post(
    upstream: &keel_testkit::FakeUpstream,
    path: &str,
    body: &Value,
    extra: &[(&str, &str)],
) -> Reply {
    let headers: Vec<(&str, &str)> = ANTHROPIC_HEADERS.iter().chain(extra).copied().collect();
    let url = format!("{}{path}", upstream.root_url());
    send("POST", &url, Some(&body.to_string()), &headers)
        .await
        .expect("request succeeds")
}

/// Splits an SSE body of named events into `(event, data)` pairs, checking
/// the `event: X\ndata: Y\n\n` framing.
pub fn raw_named_events(body: &[u8]) -> Vec<(String, String)> {
    let text = std::str::from_utf8(body).expect("SSE body is UTF-8");
    assert!(
        text.ends_with("\n\n") || text.is_empty(),
        "body ends an event"
    );
    text.split_terminator("\n\n")
        .map(|event| {
            let (name, data) = event
                .split_once('\n')
                .unwrap_or_else(|| panic!("event without data line: {event:?}"));
            let name = name
                .strip_prefix("event: ")
                .unwrap_or_else(|| panic!("event without name: {event:?}"));
            let data = data
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("event without data: {event:?}"));
            assert!(!data.contains('\n'), "one data line per event: {event:?}");
            (name.to_owned(), data.to_owned())
        })
        .collect()
}

/// Named events whose data is JSON naming the same type as the event.
pub fn named_events(body: &[u8]) -> Vec<(String, Value)> {
    raw_named_events(body)
        .into_iter()
        .map(|(name, data)| {
            let value: Value = serde_json::from_str(&data).expect("event data is JSON");
            assert_eq!(value["type"], name.as_str(), "data type matches event name");
            (name, value)
        })
        .collect()
}
