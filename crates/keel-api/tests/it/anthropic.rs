//! Golden files for the Anthropic translations (`tests/golden/anthropic`):
//! - `<case>.request.json` → `<case>.openai.json`, or `<case>.error.json`
//!   (`{"status", "body"}`) for a request that must be refused;
//! - `<case>.response.openai.json` → `<case>.response.anthropic.json`;
//! - `<case>.chunks.sse` (an OpenAI stream) → `<case>.anthropic.sse`.
//!
//! `KEEL_BLESS=1 cargo test -p keel-api` rewrites the expected files from the
//! current output; review the diff before keeping it.

use std::path::PathBuf;

use bytes::Bytes;
use keel_api::anthropic::{from_anthropic, to_anthropic};
use keel_api::chat::ChatRequest;
use keel_api::sse::SseDecoder;
use serde_json::{json, Value};

use crate::golden::{self, check, pretty, report};

/// The model name the golden clients ask for.
const MODEL: &str = "claude-sonnet-4-5";
const MESSAGE_ID: &str = "msg_golden";

fn golden_dir() -> PathBuf {
    golden::dir("anthropic")
}

fn cases(suffix: &str) -> Vec<(String, PathBuf)> {
    golden::cases(&golden_dir(), suffix)
}

#[test]
fn requests_translate_or_are_refused_as_expected() {
    let dir = golden_dir();
    let mut failures = Vec::new();
    for (case, path) in cases(".request.json") {
        let body = std::fs::read(&path).unwrap();
        let (ok, err) = (
            dir.join(format!("{case}.openai.json")),
            dir.join(format!("{case}.error.json")),
        );
        let (expected, other, actual) = match from_anthropic::request(&body) {
            Ok(v) => {
                // What goes upstream passes Keel's own OpenAI checks.
                if let Err(e) = ChatRequest::parse(v.to_string().as_bytes()) {
                    failures.push(format!("{case}: Keel refuses the translation: {e}"));
                }
                (ok, err, v)
            }
            Err(e) => {
                let body: Value = serde_json::from_slice(&e.to_json()).unwrap();
                (err, ok, json!({"status": e.status, "body": body}))
            }
        };
        if other.exists() {
            failures.push(format!("{case}: expected {}", other.display()));
        }
        failures.extend(check(&expected, &pretty(&actual), true));
    }
    report(failures);
}

#[test]
fn responses_translate_as_expected() {
    let dir = golden_dir();
    let mut failures = Vec::new();
    for (case, path) in cases(".response.openai.json") {
        let openai: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let actual =
            to_anthropic::response(&openai, MODEL).unwrap_or_else(|e| panic!("{case}: {e}"));
        let expected = dir.join(format!("{case}.response.anthropic.json"));
        failures.extend(check(&expected, &pretty(&actual), true));
    }
    report(failures);
}

#[test]
fn streams_translate_as_expected() {
    let dir = golden_dir();
    let mut failures = Vec::new();
    for (case, path) in cases(".chunks.sse") {
        let mut decoder = SseDecoder::new(1 << 20);
        let mut events = Vec::new();
        decoder
            .feed(Bytes::from(std::fs::read(&path).unwrap()), &mut events)
            .unwrap();
        let mut translator = to_anthropic::StreamTranslator::new(MODEL, MESSAGE_ID);
        let mut out = Vec::new();
        for event in &events {
            // Each chunk's events are out before the next chunk comes in.
            let before = out.len();
            translator
                .on_chunk(&event.data, &mut out)
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            assert!(
                out[before..].is_empty() || out.ends_with(b"\n\n"),
                "{case}: whole events only"
            );
        }
        translator.finish(&mut out);
        let actual = String::from_utf8(out).unwrap();
        let expected = dir.join(format!("{case}.anthropic.sse"));
        failures.extend(check(&expected, &actual, false));
    }
    report(failures);
}

#[test]
fn truncated_inputs_never_panic() {
    for (_, path) in cases(".request.json") {
        let body = std::fs::read(&path).unwrap();
        for end in 0..body.len() {
            let _ = from_anthropic::request(&body[..end]);
        }
    }
    for (_, path) in cases(".chunks.sse") {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut translator = to_anthropic::StreamTranslator::new(MODEL, MESSAGE_ID);
        let mut out = Vec::new();
        for data in text.split("\n\n").filter_map(|e| e.strip_prefix("data: ")) {
            for end in (0..data.len()).filter(|&i| data.is_char_boundary(i)) {
                let _ = translator.on_chunk(&data.as_bytes()[..end], &mut out);
            }
            let _ = translator.on_chunk(data.as_bytes(), &mut out);
        }
        translator.finish(&mut out);
    }
    for (_, path) in cases(".response.openai.json") {
        let openai: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let text = openai.to_string();
        for end in 0..text.len() {
            if let Ok(v) = serde_json::from_str::<Value>(&text[..end]) {
                let _ = to_anthropic::response(&v, MODEL);
            }
        }
        // Fields of the wrong type anywhere in the first choice.
        for pointer in [
            "/choices/0/message/content",
            "/choices/0/message/tool_calls",
            "/choices/0/finish_reason",
            "/usage",
            "/id",
        ] {
            let mut broken = openai.clone();
            if let Some(slot) = broken.pointer_mut(pointer) {
                *slot = json!([{"x": 1}]);
            }
            let _ = to_anthropic::response(&broken, MODEL);
        }
    }
}
