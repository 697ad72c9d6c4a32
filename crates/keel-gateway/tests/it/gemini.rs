//! Google Gemini as a provider (the fake's Gemini API) behind both front
//! doors.

use serde_json::{json, Value};

use crate::harness::*;

const GEMINI_MODELS: &[&str] = &[
    "fake-chat",
    "fake-safety",
    "fault-429",
    "fault-cut",
    "fault-garbage-stream",
];

/// A gateway whose provider `gemini` is the fake's Gemini API; with
/// `key = None` it sends a wrong key.
async fn gemini_gateway(key: Option<&str>) -> Gateway {
    let key = key.map(str::to_owned);
    gateway_with(move |c| {
        let base = c.providers[0].base_url.trim_end_matches("/v1").to_owned();
        let mut gemini = provider("gemini", &base, GEMINI_MODELS, false);
        gemini.kind = ProviderKind::Gemini;
        gemini.api_key = Some(key.unwrap_or_else(|| "wrong-key".into()).into());
        c.providers.insert(0, gemini);
    })
    .await
}

async fn gemini() -> Gateway {
    gemini_gateway(Some(keel_testkit::GEMINI_API_KEY)).await
}

#[tokio::test]
async fn an_openai_client_is_answered_by_gemini() {
    let gw = gemini().await;
    let resp = gw
        .chat(
            json!({"model": "gemini/fake-chat", "max_tokens": 50, "temperature": 0.2,
            "messages": [{"role": "system", "content": "be brief"},
                         {"role": "user", "content": "hello over there"}]}),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let id = invocation_id(&resp);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Echo: hello over there"
    );
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    // (3 + 3) for the user turn + (2 + 3) for the system instruction.
    assert_eq!(body["usage"]["prompt_tokens"], 11);
    assert_eq!(body["usage"]["completion_tokens"], 4);
    let (records, upstream) = gw.stop().await;
    let sent = &posts(&upstream)[0];
    assert_eq!(sent.path, "/v1beta/models/fake-chat:generateContent");
    assert_eq!(
        header_of(sent, "x-goog-api-key").as_deref(),
        Some(keel_testkit::GEMINI_API_KEY)
    );
    assert_eq!(
        sent.body["systemInstruction"]["parts"][0]["text"],
        "be brief"
    );
    assert_eq!(sent.body["contents"][0]["role"], "user");
    assert_eq!(sent.body["generationConfig"]["maxOutputTokens"], 50);
    assert_eq!(sent.body["generationConfig"]["temperature"], 0.2);
    let r = record(&records, &id);
    assert_eq!(r.provider.as_deref(), Some("gemini"));
    assert_eq!((r.input_tokens, r.output_tokens), (11, 4));
    assert_eq!(r.model_version.as_deref(), Some("fake-chat-001"));
    let raw: Value = serde_json::from_str(r.raw_usage.as_deref().unwrap()).unwrap();
    assert_eq!(raw["promptTokenCount"], 11, "Gemini's own usage kept");
}

#[tokio::test]
async fn gemini_streams_reach_both_kinds_of_client() {
    let gw = gemini().await;
    let openai_id = stream_to_both_doors(&gw, "gemini").await;
    let (records, upstream) = gw.stop().await;
    let stream_path = &posts(&upstream)[0].path;
    assert!(
        stream_path.starts_with("/v1beta/models/fake-chat:streamGenerateContent"),
        "{stream_path}"
    );
    let r = record(&records, &openai_id);
    assert_eq!((r.input_tokens, r.output_tokens), (6, 4));
    assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    assert!(r
        .raw_usage
        .as_deref()
        .unwrap()
        .contains("candidatesTokenCount"));
}

#[tokio::test]
async fn gemini_function_calls_get_ids_and_results_find_their_function() {
    let gw = gemini().await;
    let (call_id, sent) =
        weather_round_trip(&gw, "gemini/fake-chat", json!({"tool_choice": "none"})).await;
    assert!(!call_id.is_empty());
    let response = &sent["contents"][2]["parts"][0]["functionResponse"];
    assert_eq!(response["name"], "get_weather");
    assert_eq!(response["id"], call_id.as_str());
    assert_eq!(sent["toolConfig"]["functionCallingConfig"]["mode"], "NONE");
}

#[tokio::test]
async fn a_blocked_prompt_is_a_content_filter_answer() {
    let gw = gemini().await;
    let body: Value = gw
        .chat(json!({"model": "gemini/fake-safety", "messages": user("bad words")}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["choices"][0]["finish_reason"], "content_filter");
    assert!(body["choices"][0]["message"]["refusal"]
        .as_str()
        .unwrap()
        .contains("SAFETY"));
    gw.stop().await;
}

#[tokio::test]
async fn gemini_errors_keep_their_status_and_a_bad_key_is_keels_fault() {
    let gw = gemini().await;
    let resp = gw
        .chat(json!({"model": "gemini/fault-429", "messages": user("x")}))
        .await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    let resp = gw
        .messages(json!({"model": "gemini/fault-429", "max_tokens": 8,
            "messages": [{"role": "user", "content": "x"}]}))
        .await;
    assert_eq!(resp.status(), 429);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
    // A stream cut before Gemini said why it stopped is a cut, not an answer.
    let resp = gw
        .chat(json!({"model": "gemini/fault-cut", "stream": true,
            "messages": user("one two three four five six")}))
        .await;
    let data = sse_data(&resp.text().await.unwrap());
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert!(last["error"]["message"].is_string(), "{last}");
    let resp = gw
        .chat(
            json!({"model": "gemini/fault-garbage-stream", "stream": true,
            "messages": user("x")}),
        )
        .await;
    let data = sse_data(&resp.text().await.unwrap());
    let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
    assert!(last["error"]["message"].is_string(), "{last}");
    gw.stop().await;

    let gw = gemini_gateway(None).await;
    let resp = gw
        .chat(json!({"model": "gemini/fake-chat", "messages": user("x")}))
        .await;
    assert_eq!(resp.status(), 502, "the provider refused Keel's key");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_auth");
    gw.stop().await;
}

#[tokio::test]
async fn count_tokens_is_asked_of_gemini() {
    let gw = gemini().await;
    let resp = gw
        .anthropic_post(
            "/v1/messages/count_tokens",
            json!({"model": "gemini/fake-chat", "system": "be brief",
                "messages": [{"role": "user", "content": "hello over there"}]}),
            &[],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let counted: Value = resp.json().await.unwrap();
    // Gemini's own count: (3 + 3) for the user turn + (2 + 3) for the system.
    assert_eq!(counted, json!({"input_tokens": 11}));
    let (records, upstream) = gw.stop().await;
    let sent = &posts(&upstream)[0];
    assert_eq!(sent.path, "/v1beta/models/fake-chat:countTokens");
    let request = &sent.body["generateContentRequest"];
    assert_eq!(request["model"], "models/fake-chat");
    assert_eq!(request["systemInstruction"]["parts"][0]["text"], "be brief");
    assert!(request.get("generationConfig").is_none());
    assert_eq!(records[0].endpoint, "messages.count_tokens");
}
