use super::*;
use crate::error::ErrorKind;

fn parse_err(body: &str) -> ApiError {
    ChatRequest::parse(body.as_bytes()).unwrap_err()
}

#[test]
fn keeps_every_field_and_forwards_unchanged_bytes() {
    let body = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"x_custom":{"a":[1,2]},"metadata":{"k":"v"}}"#;
    let req = ChatRequest::parse(body).unwrap();
    assert_eq!(req.facts.model, "gpt-4o");
    assert!(!req.facts.stream);
    assert!(
        req.upstream_body("gpt-4o", true).is_none(),
        "nothing to rewrite: send original bytes"
    );
    assert_eq!(req.raw.get("x_custom").unwrap().get(), r#"{"a":[1,2]}"#);
}

#[test]
fn rewrites_model_and_keeps_unknown_fields_verbatim() {
    let body = br#"{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi"}],"x_custom":{"a": [1, 2]}}"#;
    let req = ChatRequest::parse(body).unwrap();
    let out = req.upstream_body("gpt-4o", true).unwrap();
    assert_eq!(
        std::str::from_utf8(&out).unwrap(),
        r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"x_custom":{"a": [1, 2]}}"#
    );
}

#[test]
fn streams_always_ask_for_usage() {
    let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#;
    let req = ChatRequest::parse(body).unwrap();
    assert!(req.facts.stream && !req.facts.include_usage);
    let out: serde_json::Value =
        serde_json::from_slice(&req.upstream_body("m", true).unwrap()).unwrap();
    assert_eq!(out["stream_options"]["include_usage"], true);

    let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":false,"other":1}}"#;
    let req = ChatRequest::parse(body).unwrap();
    let out: serde_json::Value =
        serde_json::from_slice(&req.upstream_body("m", true).unwrap()).unwrap();
    assert_eq!(
        out["stream_options"],
        serde_json::json!({"include_usage": true, "other": 1})
    );

    let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}"#;
    let req = ChatRequest::parse(body).unwrap();
    assert!(req.facts.include_usage);
    assert!(req.upstream_body("m", true).is_none());
}

#[test]
fn accepts_documented_message_forms() {
    let body = br#"{"model":"m","messages":[
        {"role":"developer","content":"be brief"},
        {"role":"system","content":[{"type":"text","text":"sys"}]},
        {"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]},
        {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]},
        {"role":"tool","tool_call_id":"call_1","content":"42"},
        {"role":"assistant","content":"done"}
    ],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
    "tool_choice":{"type":"function","function":{"name":"f"}},"parallel_tool_calls":true,
    "response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"}}},
    "n":2,"stop":["a","b"],"seed":7,"logprobs":true,"top_logprobs":3,"temperature":0.5,"top_p":1,
    "max_completion_tokens":10,"user":"u1"}"#;
    let req = ChatRequest::parse(body).unwrap();
    assert_eq!(req.facts.n, 2);
}

#[test]
fn malformed_json_is_a_400_with_position() {
    let err = parse_err(r#"{"model":"m","messages":[}"#);
    assert_eq!(err.kind, ErrorKind::InvalidRequest);
    assert!(err.message.contains("not valid JSON"), "{}", err.message);
    assert!(err.message.contains("line 1"), "{}", err.message);
    let err = parse_err(r#"[1,2]"#);
    assert!(
        err.message.contains("must be a JSON object"),
        "{}",
        err.message
    );
    let err = parse_err(r#"{"model":"m","messages":[{"role":"user","content":"x"}]} trailing"#);
    assert_eq!(err.status(), 400);
}

#[test]
fn each_bad_field_is_named() {
    let cases = [
        (r#"{"messages":[{"role":"user","content":"x"}]}"#, "model"),
        (
            r#"{"model":5,"messages":[{"role":"user","content":"x"}]}"#,
            "model",
        ),
        (
            r#"{"model":"","messages":[{"role":"user","content":"x"}]}"#,
            "model",
        ),
        (r#"{"model":"m"}"#, "messages"),
        (r#"{"model":"m","messages":[]}"#, "messages"),
        (r#"{"model":"m","messages":"hi"}"#, "messages"),
        (r#"{"model":"m","messages":[42]}"#, "messages[0]"),
        (
            r#"{"model":"m","messages":[{"content":"x"}]}"#,
            "messages[0].role",
        ),
        (
            r#"{"model":"m","messages":[{"role":"robot","content":"x"}]}"#,
            "messages[0].role",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user"}]}"#,
            "messages[0].content",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":5}]}"#,
            "messages[0].content",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]}"#,
            "messages[0].content[0].type",
        ),
        (
            r#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#,
            "messages[0].tool_call_id",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#,
            "temperature",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3}"#,
            "temperature",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#,
            "stream",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":0}"#,
            "n",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":-1}"#,
            "max_tokens",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stop":[1]}"#,
            "stop",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":{}}"#,
            "tools",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{}}]}"#,
            "tools[0]",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"maybe"}"#,
            "tool_choice",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"yaml"}}"#,
            "response_format.type",
        ),
        (
            r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}"#,
            "stream_options",
        ),
    ];
    for (body, param) in cases {
        let err = parse_err(body);
        assert_eq!(err.status(), 400, "{body}");
        assert_eq!(err.param.as_deref(), Some(param), "{body}: {}", err.message);
    }
}

#[test]
fn escaped_model_names_decode() {
    let req = ChatRequest::parse(br#"{"model":"a\/b","messages":[{"role":"user","content":"x"}]}"#)
        .unwrap();
    assert_eq!(req.facts.model, "a/b");
}

#[test]
fn appends_fields_not_present() {
    let raw = RawObject::parse(br#"{"a":1}"#).unwrap();
    assert_eq!(
        raw.write_with(&[("b", "2"), ("a", "3")], 8),
        br#"{"a":3,"b":2}"#
    );
}

#[test]
fn duplicate_top_level_keys_are_refused() {
    let err = parse_err(
        r#"{"model":"cheap","messages":[{"role":"user","content":"x"}],"model":"expensive"}"#,
    );
    assert_eq!(err.status(), 400);
    assert_eq!(err.param.as_deref(), Some("model"));
    assert!(err.message.contains("duplicate field 'model'"));
}

#[test]
fn bare_cr_line_endings_frame_events() {
    use crate::sse::SseDecoder;
    let mut d = SseDecoder::new(1024);
    let mut out = Vec::new();
    d.feed(
        bytes::Bytes::from_static(b"data: {\"a\":1}\r\rdata: b1\rdata: b2\r\r"),
        &mut out,
    )
    .unwrap();
    // A final lone \r may still be followed by \n: the next byte settles it.
    assert_eq!(out.len(), 1);
    d.feed(bytes::Bytes::from_static(b": next"), &mut out)
        .unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].data.as_ref(), b"{\"a\":1}");
    assert_eq!(out[1].data.as_ref(), b"b1\nb2");
}

#[test]
fn usage_is_not_injected_for_providers_that_refuse_stream_options() {
    let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#;
    let req = ChatRequest::parse(body).unwrap();
    assert!(req.upstream_body("m", false).is_none());
}
