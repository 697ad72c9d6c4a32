use serde_json::{json, Value};

use super::*;

fn chunk(delta: Value, finish: Option<&str>) -> Vec<u8> {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    .to_string()
    .into_bytes()
}

fn call(index: u64, id: Option<&str>, name: Option<&str>, args: &str) -> Value {
    let mut function = json!({"arguments": args});
    if let Some(name) = name {
        function["name"] = json!(name);
    }
    let mut call = json!({"index": index, "function": function});
    if let Some(id) = id {
        call["id"] = json!(id);
    }
    json!({"tool_calls": [call]})
}

/// The `data` of every event, parsed.
fn events(out: &[u8]) -> Vec<Value> {
    String::from_utf8(out.to_vec())
        .unwrap()
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (name, data) = e.split_once('\n').unwrap();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(name.strip_prefix("event: ").unwrap(), data["type"], "{e}");
            data
        })
        .collect()
}

fn types(out: &[u8]) -> Vec<String> {
    events(out)
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn an_empty_stream_still_closes_properly() {
    let mut t = StreamTranslator::new("m", "msg_1");
    let mut out = Vec::new();
    t.on_chunk(b"[DONE]", &mut out).unwrap();
    assert!(out.is_empty());
    t.finish(&mut out);
    assert_eq!(
        types(&out),
        ["message_start", "ping", "message_delta", "message_stop"]
    );
    let before = out.len();
    t.finish(&mut out);
    t.on_chunk(&chunk(json!({"content": "late"}), None), &mut out)
        .unwrap();
    assert_eq!(out.len(), before, "nothing after finish");
}

#[test]
fn usage_known_at_the_start_goes_into_message_start() {
    let mut t = StreamTranslator::new("m", "msg_1");
    let mut out = Vec::new();
    let first = json!({"choices": [{"index": 0, "delta": {"role": "assistant"}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 0}});
    t.on_chunk(first.to_string().as_bytes(), &mut out).unwrap();
    assert_eq!(events(&out)[0]["message"]["usage"]["input_tokens"], 12);
}

#[test]
fn a_refusal_streams_as_text() {
    let mut t = StreamTranslator::new("m", "msg_1");
    let mut out = Vec::new();
    t.on_chunk(&chunk(json!({"refusal": "I can't."}), None), &mut out)
        .unwrap();
    t.on_chunk(&chunk(json!({}), Some("content_filter")), &mut out)
        .unwrap();
    t.finish(&mut out);
    let ev = events(&out);
    assert_eq!(
        ev[3]["delta"],
        json!({"type": "text_delta", "text": "I can't."})
    );
    assert_eq!(ev[5]["delta"]["stop_reason"], "refusal");
}

#[test]
fn a_new_id_under_the_same_index_is_a_new_tool_call() {
    let mut t = StreamTranslator::new("m", "msg_1");
    let mut out = Vec::new();
    for c in [
        call(0, Some("call_a"), Some("a"), "{}"),
        call(0, Some("call_a"), None, ""),
        call(0, Some("call_b"), Some("b"), "{\"x\":1}"),
    ] {
        t.on_chunk(&chunk(c, None), &mut out).unwrap();
    }
    t.on_chunk(&chunk(json!({}), Some("stop")), &mut out)
        .unwrap();
    t.finish(&mut out);
    let starts: Vec<Value> = events(&out)
        .into_iter()
        .filter(|e| e["type"] == "content_block_start")
        .map(|e| e["content_block"].clone())
        .collect();
    assert_eq!(
        starts,
        [
            json!({"type": "tool_use", "id": "call_a", "name": "a", "input": {}}),
            json!({"type": "tool_use", "id": "call_b", "name": "b", "input": {}}),
        ]
    );
    let last = events(&out);
    assert_eq!(
        last[last.len() - 2]["delta"]["stop_reason"],
        "tool_use",
        "tool calls end in tool_use even when the upstream said stop"
    );
}

#[test]
fn interleaved_tool_arguments_are_refused() {
    let mut t = StreamTranslator::new("m", "msg_1");
    let mut out = Vec::new();
    t.on_chunk(
        &chunk(call(0, Some("call_a"), Some("a"), "{"), None),
        &mut out,
    )
    .unwrap();
    t.on_chunk(
        &chunk(call(1, Some("call_b"), Some("b"), "{"), None),
        &mut out,
    )
    .unwrap();
    let err = t
        .on_chunk(&chunk(call(0, None, None, "}"), None), &mut out)
        .unwrap_err();
    assert_eq!((err.status, err.error_type), (502, "api_error"));
}

#[test]
fn upstream_errors_and_garbage_are_errors() {
    let mut t = StreamTranslator::new("m", "msg_1");
    let mut out = Vec::new();
    let err = t
        .on_chunk(br#"{"error":{"message":"overloaded, retry"}}"#, &mut out)
        .unwrap_err();
    assert_eq!(err.message, "overloaded, retry");
    assert!(t.on_chunk(b"not json", &mut out).is_err());
    assert!(t.on_chunk(b"[1]", &mut out).is_err());
    assert!(out.is_empty(), "no events for chunks that failed");
}

#[test]
fn other_choices_are_ignored() {
    let mut t = StreamTranslator::new("m", "msg_1");
    let mut out = Vec::new();
    let other = json!({"choices": [{"index": 1, "delta": {"content": "second"}}]});
    t.on_chunk(other.to_string().as_bytes(), &mut out).unwrap();
    assert_eq!(types(&out), ["message_start", "ping"]);
}
