//! Keel's codecs against OpenAI's documented shapes (`tests/fixtures/openai`,
//! sources in its SOURCES.md).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod anthropic;
mod anthropic_provider;
mod bedrock;
mod garbage;
mod gemini;
mod golden;

use std::path::PathBuf;

use bytes::Bytes;
use keel_api::assemble::{assemble_chat_stream, summarize_response};
use keel_api::chat::ChatRequest;
use keel_api::embeddings::EmbeddingsRequest;
use keel_api::error::is_openai_error_body;
use keel_api::models::parse_model_ids;
use keel_api::sse::SseDecoder;
use serde_json::Value;

pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/openai")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `data` payloads of a recorded stream, fed in small pieces to exercise
/// framing across chunk boundaries; `[DONE]` must be the last event.
fn stream_payloads(name: &str) -> Vec<Bytes> {
    let raw = fixture(name);
    let mut decoder = SseDecoder::new(1 << 20);
    let mut events = Vec::new();
    for piece in raw.chunks(37) {
        decoder
            .feed(Bytes::copy_from_slice(piece), &mut events)
            .unwrap();
    }
    assert!(
        decoder.leftover().iter().all(u8::is_ascii_whitespace),
        "{name}: nothing left over"
    );
    let last = events.pop().expect("events");
    assert!(last.is_done(), "{name} ends with [DONE]");
    events.into_iter().map(|e| e.data).collect()
}

#[test]
fn documented_chat_requests_parse_and_keep_every_field() {
    for name in [
        "chat_request_basic.json",
        "chat_request_tools.json",
        "chat_request_image.json",
        "chat_request_logprobs.json",
        "chat_request_stream.json",
        "chat_request_stream_include_usage.json",
    ] {
        let body = fixture(name);
        let req = ChatRequest::parse(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        let original: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            req.facts.model,
            original["model"].as_str().unwrap(),
            "{name}"
        );
        // Renaming the model rewrites only that field.
        let rewritten: Value =
            serde_json::from_slice(&req.upstream_body("renamed", false).unwrap()).unwrap();
        let mut expected = original.clone();
        expected["model"] = Value::from("renamed");
        assert_eq!(rewritten, expected, "{name}");
    }
}

#[test]
fn documented_responses_summarize() {
    let basic = summarize_response(&fixture("chat_response_basic.json")).unwrap();
    let v: Value = serde_json::from_slice(&fixture("chat_response_basic.json")).unwrap();
    assert_eq!(basic.model_version.as_deref(), v["model"].as_str());
    assert_eq!(
        basic.finish_reason.as_deref(),
        v["choices"][0]["finish_reason"].as_str()
    );
    let usage = basic.usage.unwrap();
    assert_eq!(
        usage.input_tokens,
        v["usage"]["prompt_tokens"].as_u64().unwrap()
    );
    assert_eq!(
        usage.output_tokens,
        v["usage"]["completion_tokens"].as_u64().unwrap()
    );

    let tools = summarize_response(&fixture("chat_response_tool_calls.json")).unwrap();
    assert_eq!(tools.finish_reason.as_deref(), Some("tool_calls"));
    assert!(summarize_response(&fixture("chat_response_logprobs.json")).is_some());
    let embeddings = summarize_response(&fixture("embeddings_response.json")).unwrap();
    assert!(embeddings.usage.unwrap().input_tokens > 0);
}

#[test]
fn documented_streams_assemble_into_one_completion() {
    let payloads = stream_payloads("chat_stream_include_usage.sse");
    let (body, summary) = assemble_chat_stream(payloads.iter().map(|b| b.as_ref()));
    assert_eq!(body["object"], "chat.completion");
    assert!(body["choices"][0]["message"]["content"]
        .as_str()
        .is_some_and(|c| !c.is_empty()));
    let last: Value = serde_json::from_slice(payloads.last().unwrap()).unwrap();
    assert_eq!(
        last["choices"],
        serde_json::json!([]),
        "the usage chunk has no choices"
    );
    assert_eq!(
        summary.usage.unwrap().input_tokens,
        last["usage"]["prompt_tokens"].as_u64().unwrap()
    );

    let (body, summary) = assemble_chat_stream(
        stream_payloads("chat_stream_basic.sse")
            .iter()
            .map(|b| b.as_ref()),
    );
    assert!(summary.usage.is_none(), "no usage unless asked");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");

    let (body, summary) = assemble_chat_stream(
        stream_payloads("chat_stream_tool_calls.sse")
            .iter()
            .map(|b| b.as_ref()),
    );
    assert_eq!(summary.finish_reason.as_deref(), Some("tool_calls"));
    let call = &body["choices"][0]["message"]["tool_calls"][0];
    assert!(call["id"].as_str().is_some_and(|id| !id.is_empty()));
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(
        args.is_object(),
        "argument fragments join into JSON: {args}"
    );
}

#[test]
fn documented_embeddings_models_and_errors() {
    for name in ["embeddings_request.json", "embeddings_request_base64.json"] {
        EmbeddingsRequest::parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert!(!parse_model_ids(&fixture("models_list.json"))
        .unwrap()
        .is_empty());
    for name in ["error_401.json", "error_404_model.json", "error_429.json"] {
        assert!(is_openai_error_body(&fixture(name)), "{name}");
    }
}
