//! A native Anthropic provider (the fake's Anthropic API) behind both front
//! doors: OpenAI clients get translated answers, Anthropic clients get the
//! provider's own bytes.

use serde_json::{json, Value};

use crate::harness::*;

const CLAUDE_MODELS: &[&str] = &[
    "fake-chat",
    "fake-cached",
    "fake-thinking",
    "fault-429",
    "fault-529",
    "fault-stream-error",
    "fault-slow-stream",
];

/// A gateway whose provider `claude` is the fake's Anthropic API, with a
/// price for `fake-cached` that has every kind of input token.
async fn claude_gateway() -> Gateway {
    gateway_with(|c| {
        let base = c.providers[0].base_url.trim_end_matches("/v1").to_owned();
        c.providers
            .insert(0, anthropic_provider("claude", &base, CLAUDE_MODELS));
        c.prices.insert(
            "fake-cached".into(),
            RawPrice {
                input: 1.0,
                output: 2.0,
                cached_input: Some(0.5),
                cache_write: Some(3.0),
            },
        );
    })
    .await
}

/// The record holds the stream assembled into one OpenAI answer.
fn assert_recorded_text(r: &keel_store::Invocation, text: &str) {
    let response: Value = serde_json::from_str(r.response_body.as_deref().unwrap()).unwrap();
    assert_eq!(response["choices"][0]["message"]["content"], text);
}

#[tokio::test]
async fn an_openai_client_is_answered_by_claude() {
    let gw = claude_gateway().await;
    let resp = gw
        .chat(json!({"model": "claude/fake-cached", "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hello over there"}]}))
        .await;
    assert_eq!(resp.status(), 200);
    let id = invocation_id(&resp);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Echo: hello over there"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    // The fake counts T = (3 words + 3) for the user turn + 2 system words
    // = 8: 4 read from cache, 2 written to it, 2 neither; OpenAI's
    // prompt_tokens counts all of them.
    assert_eq!(body["usage"]["prompt_tokens"], 8);
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
    assert_eq!(body["usage"]["completion_tokens"], 4);
    let (records, upstream) = gw.stop().await;
    let sent = &posts(&upstream)[0];
    assert_eq!(sent.path, "/v1/messages");
    let header = |name: &str| header_of(sent, name);
    assert_eq!(
        header("x-api-key").as_deref(),
        Some(keel_testkit::ANTHROPIC_API_KEY)
    );
    assert_eq!(header("anthropic-version").as_deref(), Some("2023-06-01"));
    assert_eq!(header("authorization"), None, "the client's key stays here");
    assert_eq!(sent.body["system"], "be brief");
    assert_eq!(sent.body["model"], "fake-cached");
    assert_eq!(
        sent.body["max_tokens"],
        keel_api::anthropic::from_openai::DEFAULT_MAX_TOKENS
    );
    let r = record(&records, &id);
    assert_eq!(r.provider.as_deref(), Some("claude"));
    assert_eq!(
        (r.input_tokens, r.cached_tokens, r.output_tokens),
        (8, 4, 4)
    );
    assert_eq!(r.token_source, "provider");
    let raw: Value = serde_json::from_str(r.raw_usage.as_deref().unwrap()).unwrap();
    assert_eq!(
        raw["cache_read_input_tokens"], 4,
        "Anthropic's own usage kept"
    );
    assert_eq!(raw["input_tokens"], 2);
    // Per million: 2 plain × $1 + 4 cache reads × $0.5 + 2 cache writes × $3
    // + 4 output × $2.
    let cost = r.cost_usd.unwrap();
    assert!((cost - 18e-6).abs() < 1e-12, "{cost}");
}

#[tokio::test]
async fn an_openai_stream_from_claude_arrives_as_chunks_with_usage() {
    let gw = claude_gateway().await;
    let resp = gw
        .chat(json!({"model": "claude/fake-chat", "stream": true,
            "stream_options": {"include_usage": true},
            "messages": user("one two three")}))
        .await;
    assert_eq!(resp.status(), 200);
    let id = invocation_id(&resp);
    let chunks = openai_chunks(&resp.text().await.unwrap());
    let text = chunk_text(&chunks);
    assert_eq!(text, "Echo: one two three");
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 6);
    assert_eq!(last["usage"]["completion_tokens"], 4);
    let (records, _) = gw.stop().await;
    let r = record(&records, &id);
    assert_eq!((r.input_tokens, r.output_tokens), (6, 4));
    assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    assert_recorded_text(r, "Echo: one two three");
}

#[tokio::test]
async fn openai_tool_calls_round_trip_through_claude_with_stable_ids() {
    let gw = claude_gateway().await;
    let (call_id, second) =
        weather_round_trip(&gw, "claude/fake-chat", json!({"tool_choice": "none"})).await;
    assert!(call_id.starts_with("toolu_"), "{call_id}");
    assert_eq!(second["messages"][1]["content"][0]["id"], call_id.as_str());
    assert_eq!(
        second["messages"][2]["content"][0]["tool_use_id"],
        call_id.as_str()
    );
    gw.stop().await;
}

#[tokio::test]
async fn an_anthropic_client_reaches_claude_byte_for_byte() {
    let gw = claude_gateway().await;
    // Fields Keel does not model (thinking, top_k) and betas go through.
    let body = json!({"model": "claude/fake-thinking", "max_tokens": 64, "top_k": 5,
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [{"role": "user", "content": "think about it"}]});
    let resp = gw
        .anthropic_post(
            "/v1/messages",
            body.clone(),
            &[
                ("anthropic-beta", "interleaved-thinking-2025-05-14"),
                ("anthropic-version", "2023-01-01"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let id = invocation_id(&resp);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["content"][0]["type"], "thinking");
    assert_eq!(answer["content"][1]["text"], "Echo: think about it");
    assert_eq!(answer["model"], "fake-thinking");
    let (records, upstream) = gw.stop().await;
    let sent = &posts(&upstream)[0];
    let mut expected = body;
    expected["model"] = json!("fake-thinking");
    assert_eq!(sent.body, expected, "only the model name was rewritten");
    let header = |name: &str| header_of(sent, name);
    assert_eq!(
        header("anthropic-beta").as_deref(),
        Some("interleaved-thinking-2025-05-14")
    );
    assert_eq!(header("anthropic-version").as_deref(), Some("2023-01-01"));
    let r = record(&records, &id);
    assert_eq!(r.endpoint, "messages");
    assert_eq!(
        r.output_tokens as u64,
        answer["usage"]["output_tokens"].as_u64().unwrap()
    );
    let stored: Value = serde_json::from_str(r.response_body.as_deref().unwrap()).unwrap();
    assert_eq!(stored, answer, "the record keeps the provider's own answer");
}

#[tokio::test]
async fn an_anthropic_stream_from_claude_is_passed_on_unchanged() {
    let gw = claude_gateway().await;
    let body = json!({"model": "fake-chat", "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "one two three"}]});
    let through_keel = gw
        .messages(
            json!({"model": "claude/fake-chat", "max_tokens": 64, "stream": true,
            "messages": [{"role": "user", "content": "one two three"}]}),
        )
        .await;
    assert_eq!(through_keel.status(), 200);
    let id = invocation_id(&through_keel);
    let through_keel = through_keel.text().await.unwrap();
    let direct = gw
        .client
        .post(format!("{}/v1/messages", gw.upstream.root_url()))
        .header("x-api-key", keel_testkit::ANTHROPIC_API_KEY)
        .header("anthropic-version", "2023-06-01")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Equal but for the message id the fake draws for each answer.
    let without_id = |text: &str| -> Vec<Value> {
        sse_data(text)
            .iter()
            .map(|d| {
                let mut v: Value = serde_json::from_str(d).unwrap();
                if let Some(m) = v.get_mut("message") {
                    m["id"] = json!("msg");
                }
                v
            })
            .collect()
    };
    assert_eq!(without_id(&through_keel), without_id(&direct));
    let event_names = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(event_names(&through_keel), event_names(&direct));
    assert!(event_names(&through_keel).contains(&"ping".to_owned()));
    let (records, _) = gw.stop().await;
    let r = record(&records, &id);
    assert_eq!(r.outcome.as_str(), "ok");
    assert_eq!((r.input_tokens, r.output_tokens), (6, 4));
    assert_recorded_text(r, "Echo: one two three");
}

#[tokio::test]
async fn claude_errors_reach_each_client_in_its_own_shape() {
    let gw = claude_gateway().await;
    let resp = gw
        .chat(json!({"model": "claude/fault-429", "messages": user("x")}))
        .await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().len() > 3);
    assert!(body.get("type").is_none(), "an OpenAI error body: {body}");

    let resp = gw
        .messages(json!({"model": "claude/fault-529", "max_tokens": 8,
            "messages": [{"role": "user", "content": "x"}]}))
        .await;
    assert_eq!(resp.status(), 529);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "overloaded_error");

    // A stream that fails mid-way ends with an error event in the
    // client's format.
    let resp = gw
        .chat(json!({"model": "claude/fault-stream-error", "stream": true,
            "messages": user("one two three four")}))
        .await;
    let data = sse_data(&resp.text().await.unwrap());
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert!(last["error"]["message"].is_string(), "{last}");
    let resp = gw
        .messages(
            json!({"model": "claude/fault-stream-error", "max_tokens": 8, "stream": true,
            "messages": [{"role": "user", "content": "one two three four"}]}),
        )
        .await;
    let text = resp.text().await.unwrap();
    // The provider's own error event, once, ends the passed-through stream.
    assert_eq!(text.matches("event: error").count(), 1, "{text}");
    assert!(
        text.ends_with(keel_testkit::anthropic::OVERLOADED_EVENT),
        "{text}"
    );
    assert!(!text.contains("message_stop"));
    let (records, _) = gw.stop().await;
    assert_eq!(records.len(), 4);
    assert!(records.iter().all(|r| r.outcome.as_str() != "ok"));
}

#[tokio::test]
async fn count_tokens_is_asked_of_claude_and_estimated_elsewhere() {
    let gw = claude_gateway().await;
    let body = |model: &str| {
        json!({"model": model, "system": "be brief",
            "messages": [{"role": "user", "content": "hello over there"}]})
    };
    let resp = gw
        .anthropic_post("/v1/messages/count_tokens", body("claude/fake-chat"), &[])
        .await;
    assert_eq!(resp.status(), 200);
    let counted: Value = resp.json().await.unwrap();
    assert_eq!(counted, json!({"input_tokens": 8}));
    // Thinking does not stop a count on a provider that cannot think.
    let mut thinking = body("fake/fake-chat");
    thinking["thinking"] = json!({"type": "enabled", "budget_tokens": 2048});
    let resp = gw
        .anthropic_post("/v1/messages/count_tokens", thinking, &[])
        .await;
    assert_eq!(resp.status(), 200);
    let estimated: Value = resp.json().await.unwrap();
    assert!(
        estimated["input_tokens"].as_u64().unwrap() > 3,
        "{estimated}"
    );
    let resp = gw
        .anthropic_post(
            "/v1/messages/count_tokens",
            json!({"model": "claude/fake-chat"}),
            &[],
        )
        .await;
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["type"], "invalid_request_error");
    let (records, upstream) = gw.stop().await;
    assert_eq!(records.len(), 3);
    assert!(records
        .iter()
        .all(|r| r.endpoint == "messages.count_tokens"));
    assert!(records.iter().all(|r| r.cost_usd.is_none()));
    let posted: Vec<_> = posts(&upstream).into_iter().map(|r| r.path).collect();
    assert_eq!(posted, ["/v1/messages/count_tokens"]);
}

#[tokio::test]
async fn a_client_leaving_a_passed_through_stream_is_still_billed() {
    use futures_util::StreamExt;
    let gw = claude_gateway().await;
    let resp = gw
        .messages(
            json!({"model": "claude/fault-slow-stream", "max_tokens": 64, "stream": true,
            "messages": [{"role": "user", "content": "a b c d e f g h"}]}),
        )
        .await;
    let id = invocation_id(&resp);
    let mut body = resp.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"event: message_start"));
    drop(body);
    assert!(
        gw.upstream
            .wait_streams_completed(1, std::time::Duration::from_secs(10))
            .await,
        "Keel kept reading the upstream to its end"
    );
    let (records, _) = gw.stop().await;
    let r = record(&records, &id);
    assert_eq!((r.status, r.outcome.as_str()), (499, "client_disconnected"));
    assert_eq!(
        r.token_source, "provider",
        "usage read after the client left"
    );
    assert_eq!(r.output_tokens, 9);
}

#[tokio::test]
async fn reasoning_effort_turns_on_claudes_thinking_and_it_comes_back_as_reasoning() {
    let gw = claude_gateway().await;
    let body: Value = gw
        .chat(
            json!({"model": "claude/fake-chat", "reasoning_effort": "low",
            "messages": user("why so")}),
        )
        .await
        .json()
        .await
        .unwrap();
    let message = &body["choices"][0]["message"];
    assert_eq!(message["content"], "Echo: why so");
    assert_eq!(
        message["reasoning_content"],
        format!("{} why so", keel_testkit::anthropic::THINKING_PREFIX)
    );
    let resp = gw
        .chat(
            json!({"model": "claude/fake-chat", "reasoning_effort": "low", "stream": true,
            "messages": user("why so")}),
        )
        .await;
    let chunks = openai_chunks(&resp.text().await.unwrap());
    let reasoning: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    assert_eq!(
        reasoning,
        format!("{} why so", keel_testkit::anthropic::THINKING_PREFIX)
    );
    assert_eq!(chunk_text(&chunks), "Echo: why so");
    let (records, upstream) = gw.stop().await;
    let sent = &posts(&upstream)[0].body;
    assert_eq!(
        sent["thinking"],
        json!({"type": "enabled", "budget_tokens": 1024})
    );
    assert_eq!(
        sent["max_tokens"],
        keel_api::anthropic::from_openai::DEFAULT_MAX_TOKENS + 1024
    );
    let streamed = records.iter().find(|r| r.stream).unwrap();
    let response: Value = serde_json::from_str(streamed.response_body.as_deref().unwrap()).unwrap();
    assert!(response["choices"][0]["message"]["reasoning_content"]
        .as_str()
        .unwrap()
        .contains("why so"));
}
