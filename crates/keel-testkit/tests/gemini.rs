//! The fake Gemini API: Google's shapes for answers, streams, errors and
//! the model list, by the rules documented on `keel_testkit::gemini`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use bytes::Bytes;
use common::{client, send, Reply};
use http::Request;
use http_body_util::{BodyExt, Full};
use keel_testkit::{
    FakeUpstream, CUT_REPLY, GEMINI_API_KEY, GEMINI_SAFETY_MODEL, TOOL_CALL_TOKENS,
};
use serde_json::{json, Value};

const KEY: (&str, &str) = ("x-goog-api-key", GEMINI_API_KEY);

fn url(upstream: &FakeUpstream, model: &str, method: &str) -> String {
    format!("{}/v1beta/models/{model}:{method}", upstream.root_url())
}

async fn generate(upstream: &FakeUpstream, model: &str, body: &Value) -> Reply {
    send(
        "POST",
        &url(upstream, model, "generateContent"),
        Some(&body.to_string()),
        &[KEY],
    )
    .await
    .unwrap()
}

async fn stream(upstream: &FakeUpstream, model: &str, body: &Value) -> Vec<Value> {
    let target = format!("{}?alt=sse", url(upstream, model, "streamGenerateContent"));
    let reply = send("POST", &target, Some(&body.to_string()), &[KEY])
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert!(reply.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    sse_events(&reply.body)
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect()
}

/// The `data:` payloads of a body framed as Google frames it.
fn sse_events(body: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(body).unwrap();
    assert!(text.ends_with("\r\n\r\n"), "events end in CRLF CRLF");
    text.split_terminator("\r\n\r\n")
        .map(|e| e.strip_prefix("data: ").unwrap().to_owned())
        .collect()
}

fn user(text: &str) -> Value {
    json!({"contents": [{"role": "user", "parts": [{"text": text}]}]})
}

#[tokio::test]
async fn keys_are_checked_as_google_checks_them() {
    let upstream = FakeUpstream::start().await;
    let target = url(&upstream, "fake-chat", "generateContent");
    let body = user("hi").to_string();
    let missing = send("POST", &target, Some(&body), &[]).await.unwrap();
    assert_eq!(missing.status, 403);
    assert_eq!(missing.json()["error"]["status"], "PERMISSION_DENIED");
    let wrong = send("POST", &target, Some(&body), &[("x-goog-api-key", "nope")])
        .await
        .unwrap();
    assert_eq!(wrong.status, 400);
    assert_eq!(
        wrong.json(),
        json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT", "details": [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                 "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}},
                {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
                 "message": "API key not valid. Please pass a valid API key."}]}})
    );
    let listing = send(
        "GET",
        &format!("{}/v1beta/models?key={GEMINI_API_KEY}", upstream.root_url()),
        None,
        &[],
    )
    .await
    .unwrap();
    assert_eq!(listing.status, 200, "the key may come as a query parameter");
}

#[tokio::test]
async fn answers_echo_and_count_like_the_openai_fake() {
    let upstream = FakeUpstream::start().await;
    let body = json!({
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "hello   big"}, {"text": "world"}]},
            {"role": "model", "parts": [{"text": "Echo: hello big world"}]},
            {"role": "user", "parts": [{"text": "and again"}]}
        ]
    });
    let reply = generate(&upstream, "gemini-2.5-flash", &body).await;
    assert_eq!(reply.status, 200);
    let v = reply.json();
    assert_eq!(
        v["candidates"],
        json!([{"content": {"parts": [{"text": "Echo: and again"}], "role": "model"},
            "finishReason": "STOP", "index": 0}])
    );
    // prompt: system (3 + 3) + (3 + 3) + (4 + 3) + (2 + 3); answer: 3 words.
    assert_eq!(
        v["usageMetadata"],
        json!({"promptTokenCount": 24, "candidatesTokenCount": 3, "totalTokenCount": 27,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 24}]})
    );
    assert_eq!(v["modelVersion"], "gemini-2.5-flash-001");
    assert!(v["responseId"].as_str().is_some_and(|id| !id.is_empty()));
    let recorded = upstream.requests();
    assert_eq!(
        recorded[0].path,
        "/v1beta/models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(recorded[0].header("x-goog-api-key"), Some(GEMINI_API_KEY));
    assert_eq!(recorded[0].body, body);
}

#[tokio::test]
async fn stops_limits_candidates_formats_and_cache() {
    let upstream = FakeUpstream::start().await;
    let mut body = user("one two three four five");
    body["generationConfig"] =
        json!({"stopSequences": ["four"], "maxOutputTokens": 3, "candidateCount": 2});
    let v = generate(&upstream, "fake-cached", &body).await.json();
    let candidates = v["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 2);
    for (i, c) in candidates.iter().enumerate() {
        assert_eq!(c["index"], i);
        assert_eq!(c["content"]["parts"][0]["text"], "Echo: one two");
        assert_eq!(c["finishReason"], "MAX_TOKENS");
    }
    assert_eq!(v["usageMetadata"]["candidatesTokenCount"], 6);
    assert_eq!(v["usageMetadata"]["promptTokenCount"], 8);
    assert_eq!(v["usageMetadata"]["cachedContentTokenCount"], 4);

    let mut body = user("make  json");
    body["generationConfig"] = json!({"responseMimeType": "application/json"});
    let v = generate(&upstream, "fake-chat", &body).await.json();
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["text"],
        r#"{"echo":"make json"}"#
    );
    body["generationConfig"]["responseJsonSchema"] = json!({"type": "object",
        "properties": {"n": {"type": "integer"}, "s": {"type": "string"}}, "required": ["n", "s"]});
    let v = generate(&upstream, "fake-chat", &body).await.json();
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["text"],
        r#"{"n":0,"s":"fake"}"#
    );
}

#[tokio::test]
async fn function_declarations_give_one_call() {
    let upstream = FakeUpstream::start().await;
    let mut body = user("weather?");
    body["tools"] = json!([{"functionDeclarations": [
        {"name": "get_weather", "parametersJsonSchema": {"type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}},
        {"name": "get_time", "parameters": {"type": "OBJECT",
            "properties": {"zone": {"type": "STRING"}, "utc": {"type": "BOOLEAN"}}, "required": ["zone", "utc"]}}
    ]}]);
    let v = generate(&upstream, "fake-chat", &body).await.json();
    assert_eq!(
        v["candidates"][0]["content"]["parts"],
        json!([{"functionCall": {"name": "get_weather", "args": {"city": "fake"}}}])
    );
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");
    assert_eq!(v["usageMetadata"]["candidatesTokenCount"], TOOL_CALL_TOKENS);

    body["toolConfig"] =
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}});
    let v = generate(&upstream, "fake-chat", &body).await.json();
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["functionCall"],
        json!({"name": "get_time", "args": {"zone": "fake", "utc": false}})
    );

    body["toolConfig"] = json!({"functionCallingConfig": {"mode": "NONE"}});
    let v = generate(&upstream, "fake-chat", &body).await.json();
    assert_eq!(
        v["candidates"][0]["content"]["parts"][0]["text"],
        "Echo: weather?"
    );
}

#[tokio::test]
async fn streams_send_a_word_per_event_and_no_terminator() {
    let upstream = FakeUpstream::start().await;
    let events = stream(&upstream, "fake-chat", &user("hello there")).await;
    let texts: Vec<&str> = events
        .iter()
        .map(|e| {
            e["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(texts, ["Echo:", " hello", " there"]);
    for e in &events[..2] {
        assert!(e["candidates"][0].get("finishReason").is_none());
        assert!(e.get("usageMetadata").is_none());
        assert_eq!(e["modelVersion"], "fake-chat-001");
    }
    let last = &events[2];
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["promptTokenCount"], 5);
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 3);
    assert_eq!(events[0]["responseId"], last["responseId"]);
    assert_eq!(upstream.streams_completed(), 1);

    // A function call comes whole, in one event.
    let mut body = user("x");
    body["tools"] = json!([{"functionDeclarations": [{"name": "f"}]}]);
    let events = stream(&upstream, "fake-chat", &body).await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["candidates"][0]["content"]["parts"][0]["functionCall"]["name"],
        "f"
    );
    assert_eq!(events[0]["candidates"][0]["finishReason"], "STOP");

    // Without alt=sse Google sends the fragments as one JSON array.
    let reply = send(
        "POST",
        &url(&upstream, "fake-chat", "streamGenerateContent"),
        Some(&user("a b").to_string()),
        &[KEY],
    )
    .await
    .unwrap();
    assert_eq!(reply.json().as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn the_safety_model_blocks_the_prompt() {
    let upstream = FakeUpstream::start().await;
    let v = generate(&upstream, GEMINI_SAFETY_MODEL, &user("something bad"))
        .await
        .json();
    assert!(v.get("candidates").is_none());
    assert_eq!(v["promptFeedback"]["blockReason"], "SAFETY");
    assert!(v["promptFeedback"]["safetyRatings"].is_array());
    assert_eq!(
        v["usageMetadata"],
        json!({"promptTokenCount": 5, "totalTokenCount": 5})
    );
    let events = stream(&upstream, GEMINI_SAFETY_MODEL, &user("something bad")).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["promptFeedback"]["blockReason"], "SAFETY");
}

#[tokio::test]
async fn faults_answer_in_geminis_error_shape() {
    let upstream = FakeUpstream::start().await;
    let reply = generate(&upstream, "fault-500", &user("x")).await;
    assert_eq!(reply.status, 500);
    assert_eq!(
        reply.json()["error"]["status"],
        "INTERNAL",
        "{:?}",
        reply.json()
    );
    let reply = generate(&upstream, "fault-429", &user("x")).await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.headers["retry-after"], "7");
    let error = &reply.json()["error"];
    assert_eq!(
        (&error["code"], &error["status"]),
        (&json!(429), &json!("RESOURCE_EXHAUSTED"))
    );
    assert_eq!(error["details"][1]["retryDelay"], "7s");
    let reply = generate(&upstream, "fault-400", &user("x")).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["status"], "INVALID_ARGUMENT");
    // A body without contents is refused the same way.
    let reply = generate(&upstream, "fake-chat", &json!({})).await;
    assert_eq!(reply.status, 400);
    assert!(reply.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("contents is not specified"));

    let target = format!(
        "{}?alt=sse",
        url(&upstream, "fault-garbage-stream", "streamGenerateContent")
    );
    let reply = send("POST", &target, Some(&user("x").to_string()), &[KEY])
        .await
        .unwrap();
    let events = sse_events(&reply.body);
    assert_eq!(events, ["{not json"; 3]);
    let reply = generate(&upstream, "fault-malformed", &user("x")).await;
    assert_eq!(reply.status, 200);
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err());
}

#[tokio::test]
async fn cut_drops_the_connection_mid_body() {
    let upstream = FakeUpstream::start().await;
    let err = send(
        "POST",
        &url(&upstream, "fault-cut", "generateContent"),
        Some(&user("x").to_string()),
        &[KEY],
    )
    .await
    .err();
    assert!(err.is_some(), "a short body must be an error");

    let target = format!(
        "{}?alt=sse",
        url(&upstream, "fault-cut", "streamGenerateContent")
    );
    let req = Request::post(target)
        .header(KEY.0, KEY.1)
        .body(Full::new(Bytes::from(user("x").to_string())))
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
    let text: String = sse_events(&got)
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e).unwrap()["candidates"][0]["content"]["parts"][0]
                ["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(text, "This answer is");
    assert!(CUT_REPLY.starts_with(&text));
    assert_eq!(upstream.streams_aborted(), 1);
}

#[tokio::test]
async fn model_list_and_unknown_routes() {
    let upstream = FakeUpstream::start().await;
    let reply = send(
        "GET",
        &format!("{}/v1beta/models", upstream.root_url()),
        None,
        &[KEY],
    )
    .await
    .unwrap();
    let names: Vec<String> = reply.json()["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap().to_owned())
        .collect();
    for expected in ["models/fake-chat", "models/fake-safety", "models/fault-429"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    let reply = generate(&upstream, "fake-chat", &json!(null)).await;
    assert_eq!(reply.status, 400, "JSON without contents");
    let reply = send(
        "POST",
        &url(&upstream, "fake-chat", "embedContent"),
        Some("{}"),
        &[KEY],
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"]["status"], "NOT_FOUND");
    let count = |body: Value| {
        let body = body.to_string();
        let path = url(&upstream, "fake-chat", "countTokens");
        async move { send("POST", &path, Some(&body), &[KEY]).await.unwrap() }
    };
    // (2 words + 3) for the one content, whichever way it is wrapped.
    let contents = json!([{"role": "user", "parts": [{"text": "hello there"}]}]);
    let reply = count(json!({"contents": contents})).await;
    assert_eq!(reply.json(), json!({"totalTokens": 5}));
    let reply = count(json!({"generateContentRequest":
        {"model": "models/fake-chat", "contents": contents}}))
    .await;
    assert_eq!(reply.json(), json!({"totalTokens": 5}));
    assert_eq!(count(json!({})).await.status, 400);
    let reply = send(
        "POST",
        &url(&upstream, "fake-chat", "generateContent"),
        Some("{not json"),
        &[KEY],
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["status"], "INVALID_ARGUMENT");
    // The OpenAI routes are untouched.
    let reply = send("GET", &format!("{}/models", upstream.base_url()), None, &[])
        .await
        .unwrap();
    assert_eq!(reply.json()["object"], "list");
}
