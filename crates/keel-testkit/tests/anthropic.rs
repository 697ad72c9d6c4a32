//! The Anthropic fake: answer rules, Message and stream shapes, request
//! checks, token counting and the model list.

// Helpers outside `#[test]` fns fail loudly too.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{anthropic_post, named_events, send, ANTHROPIC_HEADERS};
use keel_testkit::anthropic::{
    tool_use_id, MODEL_CREATED_AT, REQUEST_ID_HEADER, THINKING_SIGNATURE,
};
use keel_testkit::text::fnv1a;
use keel_testkit::{FakeUpstream, ANTHROPIC_API_KEY, TOOL_CALL_TOKENS};
use serde_json::{json, Value};

const MESSAGES: &str = "/v1/messages";

fn user(text: &str) -> Value {
    json!({"model": "claude-test", "max_tokens": 100,
        "messages": [{"role": "user", "content": text}]})
}

fn with(mut body: Value, key: &str, value: Value) -> Value {
    body[key] = value;
    body
}

fn usage(input: u64, output: u64) -> Value {
    json!({
        "input_tokens": input, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output, "service_tier": "standard"
    })
}

fn weather_tools() -> Value {
    json!([
        {"name": "get_weather", "description": "Weather in a city",
         "input_schema": {"type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["location", "unit"]}},
        {"name": "get_time", "input_schema": {"type": "object",
            "properties": {"tz": {"type": "string"}}, "required": ["tz"]}}
    ])
}

#[tokio::test]
async fn message_object_usage_and_recorded_headers() {
    let upstream = FakeUpstream::start().await;
    let body = json!({
        "model": "claude-test",
        "max_tokens": 100,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "hello   big"}, {"type": "text", "text": "world"}
        ]}]
    });
    let beta = [("anthropic-beta", "prompt-caching-2024-07-31")];
    let reply = anthropic_post(&upstream, MESSAGES, &body, &beta).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "application/json");
    let request_id = reply.headers[REQUEST_ID_HEADER].to_str().unwrap();
    assert!(request_id.starts_with("req_"));
    let mut v = reply.json();
    let id = v["id"].take();
    assert!(id.as_str().unwrap().starts_with("msg_"));
    // input: (3 words + 3) + 3 system words; output: 4 words.
    assert_eq!(
        v,
        json!({
            "id": null, "type": "message", "role": "assistant", "model": "claude-test",
            "content": [{"type": "text", "text": "Echo: hello big world"}],
            "stop_reason": "end_turn", "stop_sequence": null, "usage": usage(9, 4)
        })
    );

    let recorded = upstream.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].path, "/v1/messages");
    assert_eq!(recorded[0].body, body);
    assert_eq!(
        recorded[0].header("anthropic-beta"),
        Some("prompt-caching-2024-07-31")
    );
    assert_eq!(recorded[0].header("x-api-key"), Some(ANTHROPIC_API_KEY));
    assert_eq!(recorded[0].header("anthropic-version"), Some("2023-06-01"));
}

#[tokio::test]
async fn input_tokens_count_every_turn_and_system_blocks() {
    let upstream = FakeUpstream::start().await;
    let body = json!({
        "model": "m", "max_tokens": 100,
        "system": [{"type": "text", "text": "be brief"}],
        "messages": [
            {"role": "user", "content": "one two"},
            {"role": "assistant", "content": [{"type": "text", "text": "three"}]},
            {"role": "user", "content": "four five six"}
        ]
    });
    let v = anthropic_post(&upstream, MESSAGES, &body, &[]).await.json();
    assert_eq!(v["content"][0]["text"], "Echo: four five six");
    // (2+3) + (1+3) + (3+3) + 2 system words
    assert_eq!(v["usage"]["input_tokens"], 17);
    let counted = anthropic_post(&upstream, "/v1/messages/count_tokens", &body, &[]).await;
    assert_eq!(counted.status, 200);
    assert_eq!(counted.json(), json!({"input_tokens": 17}));
}

#[tokio::test]
async fn stop_sequences_then_max_tokens() {
    let upstream = FakeUpstream::start().await;
    let base = user("alpha beta gamma delta");
    let stop = with(base.clone(), "stop_sequences", json!(["gamma", "beta"]));
    let v = anthropic_post(&upstream, MESSAGES, &stop, &[]).await.json();
    assert_eq!(v["content"][0]["text"], "Echo: alpha");
    assert_eq!(v["stop_reason"], "stop_sequence");
    assert_eq!(v["stop_sequence"], "beta");
    assert_eq!(v["usage"]["output_tokens"], 2);

    let short = with(base.clone(), "max_tokens", json!(2));
    let v = anthropic_post(&upstream, MESSAGES, &short, &[])
        .await
        .json();
    assert_eq!(v["content"][0]["text"], "Echo: alpha");
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(v["stop_sequence"], Value::Null);

    let both = with(
        with(base, "max_tokens", json!(2)),
        "stop_sequences",
        json!(["delta"]),
    );
    let v = anthropic_post(&upstream, MESSAGES, &both, &[]).await.json();
    assert_eq!(v["content"][0]["text"], "Echo: alpha");
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(v["stop_sequence"], Value::Null);
}

#[tokio::test]
async fn tool_use_blocks_follow_tool_choice() {
    let upstream = FakeUpstream::start().await;
    let body = with(user("weather please"), "tools", weather_tools());
    let v = anthropic_post(&upstream, MESSAGES, &body, &[]).await.json();
    assert_eq!(v["stop_reason"], "tool_use");
    assert_eq!(
        v["content"],
        json!([
            {"type": "tool_use", "id": format!("toolu_01{:016x}", fnv1a(b"get_weather")),
             "name": "get_weather", "input": {"location": "fake", "unit": "c"}},
            {"type": "tool_use", "id": tool_use_id(1, "get_time"),
             "name": "get_time", "input": {"tz": "fake"}}
        ])
    );
    assert_eq!(v["usage"]["output_tokens"], 2 * TOOL_CALL_TOKENS);

    let single = with(
        body.clone(),
        "tool_choice",
        json!({"type": "auto", "disable_parallel_tool_use": true}),
    );
    let v = anthropic_post(&upstream, MESSAGES, &single, &[])
        .await
        .json();
    assert_eq!(v["content"].as_array().unwrap().len(), 1);
    assert_eq!(v["content"][0]["name"], "get_weather");
    assert_eq!(v["usage"]["output_tokens"], TOOL_CALL_TOKENS);

    let named = with(
        body.clone(),
        "tool_choice",
        json!({"type": "tool", "name": "get_time"}),
    );
    let v = anthropic_post(&upstream, MESSAGES, &named, &[])
        .await
        .json();
    assert_eq!(
        v["content"],
        json!([{"type": "tool_use", "id": tool_use_id(0, "get_time"), "name": "get_time", "input": {"tz": "fake"}}])
    );

    let none = with(body, "tool_choice", json!({"type": "none"}));
    let v = anthropic_post(&upstream, MESSAGES, &none, &[]).await.json();
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "Echo: weather please"}])
    );
}

#[tokio::test]
async fn thinking_block_comes_first() {
    let upstream = FakeUpstream::start().await;
    let expected = json!([
        {"type": "thinking", "thinking": "Thinking about: hi there", "signature": THINKING_SIGNATURE},
        {"type": "text", "text": "Echo: hi there"}
    ]);
    let by_model = with(user("hi there"), "model", json!("fake-thinking"));
    let v = anthropic_post(&upstream, MESSAGES, &by_model, &[])
        .await
        .json();
    assert_eq!(v["content"], expected);
    assert_eq!(v["model"], "fake-thinking");
    // 4 thinking words + 3 text words
    assert_eq!(v["usage"]["output_tokens"], 7);

    let by_param = with(
        user("hi there"),
        "thinking",
        json!({"type": "enabled", "budget_tokens": 1024}),
    );
    let v = anthropic_post(&upstream, MESSAGES, &by_param, &[])
        .await
        .json();
    assert_eq!(v["content"], expected);
}

#[tokio::test]
async fn cached_model_splits_input_the_way_anthropic_counts_it() {
    let upstream = FakeUpstream::start().await;
    let body = with(user("a b c d e"), "model", json!("fake-cached"));
    let v = anthropic_post(&upstream, MESSAGES, &body, &[]).await.json();
    // T = 5 + 3 = 8: read 4, created 2, the rest uncached.
    assert_eq!(
        v["usage"],
        json!({
            "input_tokens": 2, "cache_creation_input_tokens": 2, "cache_read_input_tokens": 4,
            "cache_creation": {"ephemeral_5m_input_tokens": 2, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 6, "service_tier": "standard"
        })
    );
}

#[tokio::test]
async fn text_stream_is_the_documented_sequence() {
    let upstream = FakeUpstream::start().await;
    let body = with(user("hello world"), "stream", json!(true));
    let reply = anthropic_post(&upstream, MESSAGES, &body, &[]).await;
    assert_eq!(reply.status, 200);
    assert!(reply.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert!(reply.headers.contains_key(REQUEST_ID_HEADER));
    let events = named_events(&reply.body);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let mut start = events[0].1["message"].clone();
    assert!(start["id"].take().as_str().unwrap().starts_with("msg_"));
    assert_eq!(
        start,
        json!({"id": null, "type": "message", "role": "assistant", "model": "claude-test",
            "content": [], "stop_reason": null, "stop_sequence": null, "usage": usage(5, 1)})
    );
    assert_eq!(
        events[1].1,
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    );
    assert_eq!(events[2].1, json!({"type": "ping"}));
    let text: Vec<&str> = events[3..6]
        .iter()
        .map(|(_, e)| {
            assert_eq!(e["index"], 0);
            assert_eq!(e["delta"]["type"], "text_delta");
            e["delta"]["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(text, ["Echo:", " hello", " world"]);
    assert_eq!(
        events[6].1,
        json!({"type": "content_block_stop", "index": 0})
    );
    assert_eq!(
        events[7].1,
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
            "usage": {"output_tokens": 3}})
    );
    assert_eq!(events[8].1, json!({"type": "message_stop"}));
    assert!(
        upstream
            .wait_streams_completed(1, Duration::from_secs(5))
            .await
    );
}

#[tokio::test]
async fn tool_use_stream_fragments_join_into_the_input() {
    let upstream = FakeUpstream::start().await;
    let body = with(
        with(
            with(user("weather"), "tools", weather_tools()),
            "tool_choice",
            json!({"type": "tool", "name": "get_weather"}),
        ),
        "stream",
        json!(true),
    );
    let events = named_events(&anthropic_post(&upstream, MESSAGES, &body, &[]).await.body);
    assert_eq!(
        events[1].1["content_block"],
        json!({"type": "tool_use", "id": tool_use_id(0, "get_weather"), "name": "get_weather", "input": {}})
    );
    assert_eq!(events[2].0, "ping");
    let fragments: Vec<&str> = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, e)| {
            assert_eq!(e["delta"]["type"], "input_json_delta");
            e["delta"]["partial_json"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        fragments[0], "",
        "the first fragment is empty, as documented"
    );
    assert!(fragments[1..]
        .iter()
        .all(|f| !f.is_empty() && f.chars().count() <= 8));
    let input: Value = serde_json::from_str(&fragments.concat()).unwrap();
    assert_eq!(input, json!({"location": "fake", "unit": "c"}));
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert_eq!(delta["usage"]["output_tokens"], TOOL_CALL_TOKENS);
    assert_eq!(events.last().unwrap().0, "message_stop");
}

#[tokio::test]
async fn thinking_stream_signs_before_the_block_stops() {
    let upstream = FakeUpstream::start().await;
    let body = with(
        with(user("hi there"), "model", json!("fake-thinking")),
        "stream",
        json!(true),
    );
    let events = named_events(&anthropic_post(&upstream, MESSAGES, &body, &[]).await.body);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(["content_block_delta"; 5]);
    expected.extend(["content_block_stop", "content_block_start"]);
    expected.extend(["content_block_delta"; 3]);
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);
    assert_eq!(
        events[1].1["content_block"],
        json!({"type": "thinking", "thinking": ""})
    );
    let thinking: String = events[3..7]
        .iter()
        .map(|(_, e)| {
            assert_eq!(e["delta"]["type"], "thinking_delta");
            e["delta"]["thinking"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(thinking, "Thinking about: hi there");
    assert_eq!(
        events[7].1["delta"],
        json!({"type": "signature_delta", "signature": THINKING_SIGNATURE})
    );
    assert_eq!(
        events[9].1,
        json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}})
    );
    assert_eq!(events[10].1["index"], 1);
    assert_eq!(events[14].1["usage"]["output_tokens"], 7);
}

/// Sends `body` to `path` with exactly `headers`; returns status and JSON.
async fn raw(
    upstream: &FakeUpstream,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let url = format!("{}{path}", upstream.root_url());
    let reply = send("POST", &url, body, headers).await.unwrap();
    let v = reply.json();
    assert_eq!(v["type"], "error");
    assert_eq!(
        v["request_id"],
        reply.headers[REQUEST_ID_HEADER].to_str().unwrap(),
        "the body repeats the request-id header"
    );
    (reply.status.as_u16(), v["error"].clone())
}

/// Headers, body, expected status, error type and message.
type Case<'a> = (Vec<(&'a str, &'a str)>, String, u16, &'a str, &'a str);

#[tokio::test]
async fn refusals_in_anthropic_shape() {
    let upstream = FakeUpstream::start().await;
    let ok = user("hi").to_string();
    let version = ("anthropic-version", "2023-06-01");
    let key = ("x-api-key", ANTHROPIC_API_KEY);
    let cases: Vec<Case> = vec![
        (
            vec![version],
            ok.clone(),
            401,
            "authentication_error",
            "x-api-key header is required",
        ),
        (
            vec![("x-api-key", "wrong"), version],
            ok.clone(),
            401,
            "authentication_error",
            "invalid x-api-key",
        ),
        (
            vec![key],
            ok.clone(),
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        ),
        (
            vec![key, ("anthropic-version", "2099-01-01")],
            ok.clone(),
            400,
            "invalid_request_error",
            "anthropic-version: \"2099-01-01\" is not a valid version",
        ),
        (
            vec![key, version, version],
            ok.clone(),
            400,
            "invalid_request_error",
            "anthropic-version: \"2023-06-01, 2023-06-01\" is not a valid version",
        ),
        (
            vec![key, version],
            json!({"model": "m", "messages": []}).to_string(),
            400,
            "invalid_request_error",
            "max_tokens: Field required",
        ),
        (
            vec![key, version],
            json!({"max_tokens": 5, "messages": []}).to_string(),
            400,
            "invalid_request_error",
            "model: Field required",
        ),
        (
            vec![key, version],
            "{not json".to_owned(),
            400,
            "invalid_request_error",
            "The request body is not valid JSON.",
        ),
    ];
    for (headers, body, status, kind, message) in cases {
        let got = raw(&upstream, MESSAGES, Some(&body), &headers).await;
        assert_eq!(
            got,
            (status, json!({"type": kind, "message": message})),
            "{headers:?} {body}"
        );
    }
    // count_tokens makes the same checks, but needs no max_tokens.
    let (status, error) = raw(
        &upstream,
        "/v1/messages/count_tokens",
        Some(&ok),
        &[("x-api-key", "wrong"), version],
    )
    .await;
    assert_eq!(
        (status, &error["type"]),
        (401, &json!("authentication_error"))
    );
    let (status, error) = raw(
        &upstream,
        "/v1/messages/batches",
        Some(&ok),
        &ANTHROPIC_HEADERS,
    )
    .await;
    assert_eq!((status, &error["type"]), (404, &json!("not_found_error")));
}

#[tokio::test]
async fn model_list_answers_in_the_callers_dialect() {
    let upstream = FakeUpstream::start().await;
    let url = format!("{}/v1/models", upstream.root_url());
    let reply = send("GET", &url, None, &ANTHROPIC_HEADERS).await.unwrap();
    assert_eq!(reply.status, 200);
    assert!(reply.headers.contains_key(REQUEST_ID_HEADER));
    let v = reply.json();
    assert_eq!(
        v["data"][0],
        json!({"type": "model", "id": "fake-chat", "display_name": "Fake Chat", "created_at": MODEL_CREATED_AT})
    );
    let ids: Vec<&str> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"fake-thinking") && ids.contains(&"fault-529"));
    assert_eq!(v["has_more"], false);
    assert_eq!(v["first_id"], ids[0]);
    assert_eq!(v["last_id"], *ids.last().unwrap());

    let openai = send("GET", &url, None, &[]).await.unwrap().json();
    assert_eq!(openai["object"], "list");

    let refused = send("GET", &url, None, &[("x-api-key", "wrong")])
        .await
        .unwrap();
    assert_eq!(refused.status, 401);
}
