use super::*;

#[test]
fn assembles_content_tool_calls_and_usage() {
    let chunks: Vec<&[u8]> = vec![
        br#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}"#,
        br#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}],"usage":null}"#,
        br#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}],"usage":null}"#,
        br#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}],"usage":null}"#,
        br#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"loc"}}]},"finish_reason":null}],"usage":null}"#,
        br#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\":\"Paris\"}"}}]},"finish_reason":null}],"usage":null}"#,
        br#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":null}"#,
        br#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":2}}}"#,
        b"not json at all",
    ];
    let (body, summary) = assemble_chat_stream(chunks);
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["id"], "chatcmpl-1");
    assert_eq!(body["system_fingerprint"], "fp_1");
    let msg = &body["choices"][0]["message"];
    assert_eq!(msg["content"], "Hello");
    assert_eq!(msg["tool_calls"][0]["id"], "call_a");
    assert_eq!(msg["tool_calls"][0]["function"]["name"], "get_weather");
    assert_eq!(
        msg["tool_calls"][0]["function"]["arguments"],
        r#"{"loc":"Paris"}"#
    );
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(summary.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(summary.model_version.as_deref(), Some("gpt-4o-2024-08-06"));
    let usage = summary.usage.unwrap();
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.cached_tokens),
        (9, 12, 2)
    );
}

#[test]
fn keeps_choices_apart_by_index() {
    let chunks: Vec<&[u8]> = vec![
        br#"{"id":"c","created":1,"model":"m","choices":[{"index":1,"delta":{"role":"assistant","content":"B"},"finish_reason":null}]}"#,
        br#"{"id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"A"},"finish_reason":"stop"}]}"#,
        br#"{"id":"c","created":1,"model":"m","choices":[{"index":1,"delta":{},"finish_reason":"length"}]}"#,
    ];
    let (body, summary) = assemble_chat_stream(chunks);
    assert_eq!(body["choices"][0]["message"]["content"], "A");
    assert_eq!(body["choices"][1]["message"]["content"], "B");
    assert_eq!(body["choices"][1]["finish_reason"], "length");
    assert!(summary.usage.is_none());
    assert!(body["usage"].is_null());
}

#[test]
fn summarizes_a_completion() {
    let s = summarize_response(
        br#"{"id":"x","object":"chat.completion","model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}"#,
    )
    .unwrap();
    assert_eq!(s.model_version.as_deref(), Some("gpt-4o-mini-2024-07-18"));
    assert_eq!(s.finish_reason.as_deref(), Some("stop"));
    assert_eq!(s.usage.unwrap().input_tokens, 3);
    assert!(summarize_response(b"{\"choices\":[").is_none());
}
