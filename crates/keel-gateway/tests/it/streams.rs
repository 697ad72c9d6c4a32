use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::harness::*;

#[tokio::test]
async fn stream_usage_is_asked_for_hidden_and_billed() {
    let gw = gateway().await;
    let plain = gw
        .chat(json!({"model": "fake-chat", "messages": user("one two three four")}))
        .await;
    let expected: Value = plain.json().await.unwrap();

    let resp = gw
        .chat(json!({"model": "fake-chat", "messages": user("one two three four"), "stream": true}))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let id = invocation_id(&resp);
    let text = resp.text().await.unwrap();
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| !c["choices"].as_array().unwrap().is_empty()),
        "the usage chunk the client did not ask for is hidden"
    );
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Echo: one two three four");

    let asked = gw
        .chat(
            json!({"model": "fake-chat", "messages": user("one two three four"), "stream": true,
            "stream_options": {"include_usage": true}}),
        )
        .await;
    let asked_id = invocation_id(&asked);
    let data = sse_data(&asked.text().await.unwrap());
    let usage_chunk: Value = serde_json::from_str(&data[data.len() - 2]).unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"], expected["usage"]);

    let (records, upstream) = gw.stop().await;
    let forwarded = &posts(&upstream)[1].body;
    assert_eq!(
        forwarded["stream_options"]["include_usage"], true,
        "Keel asks for usage itself"
    );
    for id in [id, asked_id] {
        let r = record(&records, &id);
        assert!(r.stream);
        assert_eq!(r.token_source, "provider");
        assert_eq!(
            r.input_tokens,
            expected["usage"]["prompt_tokens"].as_i64().unwrap()
        );
        assert_eq!(
            r.output_tokens,
            expected["usage"]["completion_tokens"].as_i64().unwrap()
        );
        assert!(r.ttft_ms.is_some_and(|t| t > 0.0 && t <= r.latency_ms));
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        let assembled: Value = serde_json::from_str(r.response_body.as_deref().unwrap()).unwrap();
        assert_eq!(assembled["object"], "chat.completion");
        assert_eq!(
            assembled["choices"][0]["message"]["content"],
            "Echo: one two three four"
        );
        assert_eq!(assembled["usage"], expected["usage"]);
    }
}

#[tokio::test]
async fn streamed_tool_calls_assemble_into_the_record() {
    let gw = gateway().await;
    let resp = gw
        .chat(json!({"model": "fake-chat", "messages": user("weather?"), "stream": true,
            "tools": [{"type": "function", "function": {"name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]}))
        .await;
    let id = invocation_id(&resp);
    let _ = resp.text().await.unwrap();
    let (records, _) = gw.stop().await;
    let assembled: Value =
        serde_json::from_str(record(&records, &id).response_body.as_deref().unwrap()).unwrap();
    let call = &assembled["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(
        args.get("city").is_some(),
        "argument fragments joined: {args}"
    );
    assert_eq!(assembled["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn a_cut_or_garbage_stream_ends_with_an_error_event() {
    let gw = gateway().await;
    let mut ids = Vec::new();
    for (model, class) in [
        ("fault-cut", "stream_cut"),
        ("fault-garbage-stream", "upstream_malformed"),
    ] {
        let resp = gw
            .chat(json!({"model": model, "messages": user("hello"), "stream": true}))
            .await;
        assert_eq!(resp.status(), 200, "headers went out before the failure");
        let id = invocation_id(&resp);
        let data = sse_data(&resp.text().await.unwrap());
        let last: Value = serde_json::from_str(data.last().unwrap()).unwrap();
        assert!(last["error"]["message"].is_string(), "{model}: {last}");
        assert_ne!(data.last().map(String::as_str), Some("[DONE]"));
        ids.push((id, class));
    }
    let (records, _) = gw.stop().await;
    for (id, class) in ids {
        let r = record(&records, &id);
        assert_eq!(r.error_class.as_deref(), Some(class));
        assert_eq!(r.outcome.as_str(), "upstream_error");
    }
}

#[tokio::test]
async fn a_client_that_leaves_mid_stream_is_recorded_and_still_billed() {
    let gw = gateway().await;
    let resp = gw
        .client
        .post(format!("{}/v1/chat/completions", gw.url))
        .bearer_auth(KEY)
        .header("x-fake-delay-ms", "1")
        .body(
            json!({"model": "fault-long-stream", "messages": user("go"), "stream": true})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    let id = invocation_id(&resp);
    let mut body = resp.bytes_stream();
    let mut seen = 0;
    while seen < 3 {
        let chunk = body.next().await.unwrap().unwrap();
        seen += chunk.iter().filter(|&&b| b == b'\n').count() / 2;
    }
    drop(body);
    assert!(
        gw.upstream
            .wait_streams_completed(1, Duration::from_secs(10))
            .await,
        "Keel kept reading the upstream to its end"
    );
    let (records, _) = gw.stop().await;
    let r = record(&records, &id);
    assert_eq!(r.status, 499);
    assert_eq!(r.outcome.as_str(), "client_disconnected");
    assert_eq!(
        r.token_source, "provider",
        "usage read after the client left"
    );
    assert_eq!(r.output_tokens, keel_testkit::LONG_STREAM_WORDS as i64);
}

#[tokio::test]
async fn providers_that_refuse_stream_options_are_estimated_instead() {
    let gw = gateway_with(|c| c.providers[0].stream_usage = false).await;
    let resp = gw
        .chat(json!({"model": "fake-chat", "messages": user("one two three"), "stream": true}))
        .await;
    let id = invocation_id(&resp);
    let text = resp.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
    let (records, upstream) = gw.stop().await;
    assert!(
        posts(&upstream)[0].body.get("stream_options").is_none(),
        "nothing injected"
    );
    let r = record(&records, &id);
    assert_eq!(r.token_source, "estimated");
    assert!(r.input_tokens > 0 && r.output_tokens > 0);
}
