//! Shape checks of realistic-mode chat completions against OpenAI's documented objects.

mod common;

use common::{chunks, post, send};
use keel_testkit::{FakeUpstream, TOOL_CALL_TOKENS};
use serde_json::{json, Value};

fn chat_url(upstream: &FakeUpstream) -> String {
    format!("{}/chat/completions", upstream.base_url())
}

#[tokio::test]
async fn completion_object_and_usage_rule() {
    let upstream = FakeUpstream::start().await;
    let body = json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [{"type": "text", "text": "hello   big"}, {"type": "text", "text": "world"}]}
        ],
        "seed": 42
    });
    let reply = post(&chat_url(&upstream), &body).await;
    assert_eq!(reply.status, 200);
    let v = reply.json();
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["object"], "chat.completion");
    assert!(v["created"].is_u64());
    assert_eq!(v["model"], "gpt-4o-2024-08-06");
    assert_eq!(v["system_fingerprint"], "fp_seed_42");
    assert_eq!(v["service_tier"], "default");
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["logprobs"], Value::Null);
    assert_eq!(
        choice["message"],
        json!({"role": "assistant", "content": "Echo: hello big world", "refusal": null, "annotations": []})
    );
    // prompt: (3 words + 3) + (3 words + 3); completion: 4 words.
    assert_eq!(
        v["usage"],
        json!({
            "prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
        })
    );
    let recorded = upstream.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].method, "POST");
    assert_eq!(recorded[0].path, "/v1/chat/completions");
    assert_eq!(recorded[0].body, body);
    assert_eq!(recorded[0].header("Content-Type"), Some("application/json"));
}

#[tokio::test]
async fn stop_max_tokens_n_logprobs_and_cached() {
    let upstream = FakeUpstream::start().await;
    let msgs = json!([{"role": "user", "content": "one two three four"}]);
    let v = post(
        &chat_url(&upstream),
        &json!({"model": "fake-cached", "messages": msgs, "max_tokens": 2, "n": 2, "logprobs": true, "top_logprobs": 2}),
    )
    .await
    .json();
    assert_eq!(v["choices"].as_array().unwrap().len(), 2);
    assert_eq!(v["choices"][1]["index"], 1);
    assert_eq!(v["choices"][1]["finish_reason"], "length");
    assert_eq!(v["choices"][0]["message"]["content"], "Echo: one");
    let lp = &v["choices"][0]["logprobs"]["content"];
    assert_eq!(lp[1]["token"], " one");
    assert_eq!(lp[1]["bytes"], json!(b" one".to_vec()));
    assert_eq!(lp[1]["top_logprobs"].as_array().unwrap().len(), 2);
    assert_eq!(v["usage"]["prompt_tokens"], 7);
    assert_eq!(v["usage"]["completion_tokens"], 4);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 3);

    let v = post(
        &chat_url(&upstream),
        &json!({"model": "m", "messages": msgs, "stop": ["three"]}),
    )
    .await
    .json();
    assert_eq!(v["choices"][0]["message"]["content"], "Echo: one two");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn structured_outputs_are_valid_json() {
    let upstream = FakeUpstream::start().await;
    let msgs = json!([{"role": "user", "content": "say \"hi\""}]);
    let v = post(
        &chat_url(&upstream),
        &json!({"model": "m", "messages": msgs, "response_format": {"type": "json_object"}}),
    )
    .await
    .json();
    let content: Value =
        serde_json::from_str(v["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(content, json!({"echo": "say \"hi\""}));

    let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}, "ok": {"type": "boolean"}}, "required": ["n", "ok"]});
    let v = post(
        &chat_url(&upstream),
        &json!({"model": "m", "messages": msgs,
            "response_format": {"type": "json_schema", "json_schema": {"name": "r", "strict": true, "schema": schema}}}),
    )
    .await
    .json();
    let content: Value =
        serde_json::from_str(v["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(content, json!({"n": 0, "ok": false}));
}

fn tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"]}}},
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
    ])
}

#[tokio::test]
async fn tool_calls_follow_tool_choice() {
    let upstream = FakeUpstream::start().await;
    let msgs = json!([{"role": "user", "content": "weather?"}]);
    let v = post(
        &chat_url(&upstream),
        &json!({"model": "m", "messages": msgs, "tools": tools()}),
    )
    .await
    .json();
    let msg = &v["choices"][0]["message"];
    assert_eq!(msg["content"], Value::Null);
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let calls = msg["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert!(calls[0]["id"].as_str().unwrap().starts_with("call_0"));
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    assert_eq!(
        calls[0]["function"]["arguments"],
        r#"{"city":"fake","days":0}"#
    );
    assert_eq!(v["usage"]["completion_tokens"], 2 * TOOL_CALL_TOKENS);

    let named = json!({"model": "m", "messages": msgs, "tools": tools(),
        "tool_choice": {"type": "function", "function": {"name": "get_time"}}});
    let v = post(&chat_url(&upstream), &named).await.json();
    let calls = v["choices"][0]["message"]["tool_calls"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["function"]["name"], "get_time");
    assert_eq!(calls[0]["function"]["arguments"], "{}");

    let single =
        json!({"model": "m", "messages": msgs, "tools": tools(), "parallel_tool_calls": false});
    let v = post(&chat_url(&upstream), &single).await.json();
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let none = json!({"model": "m", "messages": msgs, "tools": tools(), "tool_choice": "none"});
    let v = post(&chat_url(&upstream), &none).await.json();
    assert_eq!(v["choices"][0]["message"]["content"], "Echo: weather?");
}

#[tokio::test]
async fn stream_with_include_usage() {
    let upstream = FakeUpstream::start().await;
    let body = json!({"model": "gpt-4o", "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "hi there"}]});
    let reply = post(&chat_url(&upstream), &body).await;
    assert_eq!(reply.status, 200);
    assert!(reply.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let chunks = chunks(&reply.events());
    // role, "Echo:", " hi", " there", finish, usage
    assert_eq!(chunks.len(), 6);
    let id = chunks[0]["id"].clone();
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], id);
        assert_eq!(c["model"], "gpt-4o-2024-08-06");
        assert!(c.as_object().unwrap().contains_key("usage"));
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[0]["choices"][0]["delta"]["content"], "");
    let text: String = chunks[1..4]
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Echo: hi there");
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[4]["choices"][0]["delta"], json!({}));
    for c in &chunks[..5] {
        assert_eq!(c["usage"], Value::Null);
    }
    assert_eq!(chunks[5]["choices"], json!([]));
    assert_eq!(chunks[5]["usage"]["prompt_tokens"], 5);
    assert_eq!(chunks[5]["usage"]["completion_tokens"], 3);
    assert_eq!(chunks[5]["usage"]["total_tokens"], 8);
    assert!(
        upstream
            .wait_streams_completed(1, std::time::Duration::from_secs(5))
            .await
    );

    // Without include_usage: no usage key at all.
    let body =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "x"}]});
    let plain = common::chunks(&post(&chat_url(&upstream), &body).await.events());
    assert!(plain
        .iter()
        .all(|c| !c.as_object().unwrap().contains_key("usage")));
}

#[tokio::test]
async fn tool_call_stream_fragments_reassemble() {
    let upstream = FakeUpstream::start().await;
    let body = json!({"model": "m", "stream": true, "tools": tools(),
        "messages": [{"role": "user", "content": "weather?"}]});
    let chunks = chunks(&post(&chat_url(&upstream), &body).await.events());
    let first = &chunks[0]["choices"][0]["delta"];
    assert_eq!(first["role"], "assistant");
    assert_eq!(first["content"], Value::Null);
    let mut names = Vec::new();
    let mut args = [String::new(), String::new()];
    let mut fragments = 0;
    for c in &chunks {
        let Some(calls) = c["choices"][0]["delta"]["tool_calls"].as_array() else {
            continue;
        };
        for call in calls {
            let i = call["index"].as_u64().unwrap() as usize;
            if let Some(id) = call["id"].as_str() {
                assert!(id.starts_with("call_"));
                assert_eq!(call["type"], "function");
                assert_eq!(call["function"]["arguments"], "");
                names.push(call["function"]["name"].as_str().unwrap().to_owned());
            } else {
                fragments += 1;
                args[i].push_str(call["function"]["arguments"].as_str().unwrap());
            }
        }
    }
    assert_eq!(names, ["get_weather", "get_time"]);
    assert!(fragments >= 3, "arguments arrive in several fragments");
    assert_eq!(args[0], r#"{"city":"fake","days":0}"#);
    assert_eq!(args[1], "{}");
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn n_choices_stream_interleaved() {
    let upstream = FakeUpstream::start().await;
    let body = json!({"model": "m", "stream": true, "n": 2, "messages": [{"role": "user", "content": "a b"}]});
    let chunks = chunks(&post(&chat_url(&upstream), &body).await.events());
    let indexes: Vec<u64> = chunks
        .iter()
        .map(|c| c["choices"][0]["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indexes, [0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
}

#[tokio::test]
async fn bad_bodies_and_routes() {
    let upstream = FakeUpstream::start().await;
    let reply = send("POST", &chat_url(&upstream), Some("{not json"), &[])
        .await
        .unwrap();
    assert_eq!(reply.status, 400);
    let err = &reply.json()["error"];
    assert_eq!(err["type"], "invalid_request_error");
    assert_eq!(err["param"], Value::Null);
    assert_eq!(err["code"], Value::Null);
    assert_eq!(upstream.requests()[0].body, Value::Null);

    let reply = send(
        "POST",
        &format!("{}/nope", upstream.base_url()),
        Some("{}"),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 404);

    let reply = send("GET", &format!("{}/models", upstream.base_url()), None, &[])
        .await
        .unwrap();
    let ids: Vec<String> = reply.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    for id in ["fake-chat", "fake-embed", "fault-500", "fault-long-stream"] {
        assert!(ids.iter().any(|i| i == id), "{id} listed");
    }
}
