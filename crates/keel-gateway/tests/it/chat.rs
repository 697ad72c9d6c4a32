use serde_json::{json, Value};

use crate::harness::*;

#[tokio::test]
async fn answers_pass_through_and_leave_one_exact_record() {
    let gw = gateway().await;
    let body = json!({"model": "fake-chat", "messages": user("hello there friend"), "temperature": 0.2,
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        "tool_choice": "none"});
    let resp = gw.chat(body).await;
    assert_eq!(resp.status(), 200);
    let id = invocation_id(&resp);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Echo: hello there friend"
    );
    let usage = answer["usage"].clone();
    let version = answer["model"].as_str().unwrap().to_owned();
    let (records, upstream) = gw.stop().await;
    let r = record(&records, &id);
    assert_eq!(r.status, 200);
    assert_eq!(r.outcome.as_str(), "ok");
    assert_eq!(r.key_id.as_deref(), Some("master"));
    assert_eq!(r.requested_model.as_deref(), Some("fake-chat"));
    assert_eq!(r.resolved_model.as_deref(), Some("fake-chat"));
    assert_eq!(r.provider.as_deref(), Some("fake"));
    assert_eq!(r.model_version.as_deref(), Some(version.as_str()));
    assert_ne!(
        version, "fake-chat",
        "the upstream reports a versioned model"
    );
    assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    assert_eq!(r.input_tokens, usage["prompt_tokens"].as_i64().unwrap());
    assert_eq!(
        r.output_tokens,
        usage["completion_tokens"].as_i64().unwrap()
    );
    assert_eq!(r.token_source, "provider");
    let expected_cost = (r.input_tokens as f64 * 1.0 + r.output_tokens as f64 * 2.0) / 1e6;
    assert!((r.cost_usd.unwrap() - expected_cost).abs() < 1e-12);
    assert!(r.latency_ms > 0.0);
    let stored: Value = serde_json::from_str(r.response_body.as_deref().unwrap()).unwrap();
    assert_eq!(
        stored, answer,
        "the record keeps the answer exactly as sent"
    );
    let sent: Value = serde_json::from_str(r.request_body.as_deref().unwrap()).unwrap();
    assert_eq!(sent["temperature"], 0.2);
    let forwarded = &posts(&upstream)[0];
    assert_eq!(
        forwarded.header("authorization"),
        Some("Bearer sk-upstream"),
        "the provider key, not the client's"
    );
}

#[tokio::test]
async fn unknown_fields_pass_untouched_and_provider_prefix_is_stripped() {
    let gw = gateway().await;
    let raw = r#"{"model":"fake/fake-chat","messages":[{"role":"user","content":"hi"}],"x_custom":{"a":[1, 2],"b":null},"metadata":{"k":"v"}}"#;
    let resp = gw.post("/v1/chat/completions", raw).await;
    assert_eq!(resp.status(), 200);
    let id = invocation_id(&resp);
    let (records, upstream) = gw.stop().await;
    let got = &posts(&upstream)[0].body;
    assert_eq!(got["model"], "fake-chat");
    assert_eq!(got["x_custom"], json!({"a": [1, 2], "b": null}));
    assert_eq!(got["metadata"], json!({"k": "v"}));
    let r = record(&records, &id);
    assert_eq!(r.requested_model.as_deref(), Some("fake/fake-chat"));
    assert_eq!(r.resolved_model.as_deref(), Some("fake-chat"));
}

#[tokio::test]
async fn tools_n_and_cached_tokens_come_back_as_the_upstream_sent_them() {
    let gw = gateway().await;
    let resp = gw
        .chat(json!({"model": "fake-cached", "messages": user("what is the weather in Paris"), "n": 2,
            "tools": [
                {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
                {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
            ]}))
        .await;
    assert_eq!(resp.status(), 200);
    let id = invocation_id(&resp);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["choices"].as_array().unwrap().len(), 2);
    let calls = answer["choices"][0]["message"]["tool_calls"]
        .as_array()
        .unwrap();
    assert_eq!(calls.len(), 2, "parallel tool calls");
    let (records, _) = gw.stop().await;
    let r = record(&records, &id);
    assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(
        r.cached_tokens,
        answer["usage"]["prompt_tokens_details"]["cached_tokens"]
            .as_i64()
            .unwrap()
    );
    assert!(r.cached_tokens > 0);
    assert!(
        r.cost_usd.is_none(),
        "no price for fake-cached: cost unknown, not zero"
    );
}

#[tokio::test]
async fn embeddings_pass_through() {
    let gw = gateway().await;
    let resp = gw
        .post(
            "/v1/embeddings",
            r#"{"model":"fake-embed","input":["a b","c"],"encoding_format":"float"}"#,
        )
        .await;
    assert_eq!(resp.status(), 200);
    let id = invocation_id(&resp);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(answer["data"].as_array().unwrap().len(), 2);
    let (records, _) = gw.stop().await;
    let r = record(&records, &id);
    assert_eq!(r.endpoint, "embeddings");
    assert_eq!(
        r.input_tokens,
        answer["usage"]["prompt_tokens"].as_i64().unwrap()
    );
    assert_eq!(r.token_source, "provider");
}

#[tokio::test]
async fn missing_usage_is_estimated_and_labelled() {
    let gw = gateway().await;
    let resp = gw
        .chat(json!({"model": "fault-no-usage", "messages": user("count these words please")}))
        .await;
    assert_eq!(resp.status(), 200);
    let id = invocation_id(&resp);
    let stream = gw
        .chat(json!({"model": "fault-no-usage", "messages": user("count these words please"), "stream": true}))
        .await;
    let stream_id = invocation_id(&stream);
    let _ = stream.text().await.unwrap();
    let (records, _) = gw.stop().await;
    for id in [id, stream_id] {
        let r = record(&records, &id);
        assert_eq!(r.token_source, "estimated");
        assert!(r.input_tokens > 5, "prompt estimated: {}", r.input_tokens);
        assert!(r.output_tokens > 0, "completion estimated");
    }
}

#[tokio::test]
async fn traceparent_lands_in_the_record() {
    let gw = gateway().await;
    let resp = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(KEY)
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(json!({"model": "fake-chat", "messages": user("hi")}).to_string())
        .send()
        .await
        .unwrap();
    let id = invocation_id(&resp);
    let (records, _) = gw.stop().await;
    let r = record(&records, &id);
    assert_eq!(
        r.trace_id.as_deref(),
        Some("4bf92f3577b34da6a3ce929d0e0e4736")
    );
    assert_eq!(r.parent_span_id.as_deref(), Some("00f067aa0ba902b7"));
}

#[tokio::test]
async fn azure_providers_address_deployments_with_api_key() {
    let gw = gateway_with(|c| {
        let base = c.providers[0].base_url.trim_end_matches("/v1").to_owned();
        let mut azure = provider("azure", &base, &[], false);
        azure.kind = ProviderKind::OpenAi(keel_providers::openai::Flavor::Azure {
            api_version: "2024-10-21".into(),
            deployments: [("gpt-4o".to_owned(), "prod-fake".to_owned())]
                .into_iter()
                .collect(),
        });
        azure.models = vec!["gpt-4o".into()];
        c.providers.insert(0, azure);
    })
    .await;
    let resp = gw
        .chat(json!({"model": "azure/gpt-4o", "messages": user("hello azure")}))
        .await;
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Echo: hello azure"
    );
    let (_, upstream) = gw.stop().await;
    let sent = &posts(&upstream)[0];
    assert_eq!(sent.path, "/openai/deployments/prod-fake/chat/completions");
    assert_eq!(sent.header("api-key"), Some("sk-upstream"));
    assert_eq!(
        sent.header("authorization"),
        None,
        "Azure takes api-key, not a bearer token"
    );
}
