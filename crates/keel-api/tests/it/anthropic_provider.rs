//! Golden files for serving OpenAI clients from an Anthropic provider
//! (`tests/golden/anthropic_provider`):
//! - `<case>.request.json` (OpenAI) → `<case>.anthropic.json`, or
//!   `<case>.error.json` (`{"status", "body"}`) for a request that is refused;
//! - `<case>.response.anthropic.json` → `<case>.response.openai.json`;
//! - `<case>.events.sse` (an Anthropic stream) → `<case>.chunks.sse`, the
//!   OpenAI chunks framed as the gateway frames them, usage included.
//!
//! `KEEL_BLESS=1 cargo test -p keel-api` rewrites the expected files.

use std::path::PathBuf;

use bytes::Bytes;
use keel_api::anthropic::{from_openai, to_openai};
use keel_api::sse::SseDecoder;
use serde_json::{json, Value};

use crate::golden::{self, check, pretty, report};

/// The model name the golden clients ask for.
const MODEL: &str = "claude-sonnet-4-5";
/// The `created` time stamped on golden chunks.
const CREATED: u64 = 1_700_000_000;

fn golden_dir() -> PathBuf {
    golden::dir("anthropic_provider")
}

fn cases(suffix: &str) -> Vec<(String, PathBuf)> {
    golden::cases(&golden_dir(), suffix)
}

#[test]
fn openai_requests_translate_or_are_refused_as_expected() {
    let dir = golden_dir();
    let mut failures = Vec::new();
    for (case, path) in cases(".request.json") {
        let body: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let (ok, err) = (
            dir.join(format!("{case}.anthropic.json")),
            dir.join(format!("{case}.error.json")),
        );
        let (expected, other, actual) = match from_openai::request(&body) {
            Ok(v) => (ok, err, v),
            Err(e) => {
                let body: Value = serde_json::from_slice(&e.to_json()).unwrap();
                (err, ok, json!({"status": e.status(), "body": body}))
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
fn anthropic_responses_translate_as_expected() {
    let dir = golden_dir();
    let mut failures = Vec::new();
    for (case, path) in cases(".response.anthropic.json") {
        let body: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let actual = to_openai::response(&body, MODEL).unwrap_or_else(|e| panic!("{case}: {e}"));
        let expected = dir.join(format!("{case}.response.openai.json"));
        failures.extend(check(&expected, &pretty(&actual), true));
    }
    report(failures);
}

#[test]
fn anthropic_streams_translate_as_expected() {
    let dir = golden_dir();
    let mut failures = Vec::new();
    for (case, path) in cases(".events.sse") {
        let mut decoder = SseDecoder::new(1 << 20);
        let mut events = Vec::new();
        decoder
            .feed(Bytes::from(std::fs::read(&path).unwrap()), &mut events)
            .unwrap();
        let mut translator = to_openai::StreamTranslator::new(MODEL, CREATED, true);
        let mut chunks = Vec::new();
        for event in &events {
            translator
                .on_event(&event.data, &mut chunks)
                .unwrap_or_else(|e| panic!("{case}: {e}"));
        }
        let mut actual = String::new();
        for chunk in &chunks {
            actual.push_str(&format!("data: {}\n\n", String::from_utf8_lossy(chunk)));
        }
        actual.push_str("data: [DONE]\n\n");
        let expected = dir.join(format!("{case}.chunks.sse"));
        failures.extend(check(&expected, &actual, false));
    }
    report(failures);
}

#[test]
fn truncated_inputs_never_panic() {
    for suffix in [".request.json", ".response.anthropic.json"] {
        for (_, path) in cases(suffix) {
            let text = std::fs::read_to_string(&path).unwrap();
            for end in (0..text.len()).filter(|&i| text.is_char_boundary(i)) {
                if let Ok(v) = serde_json::from_str::<Value>(&text[..end]) {
                    let _ = from_openai::request(&v);
                    let _ = to_openai::response(&v, MODEL);
                }
            }
        }
    }
    for (_, path) in cases(".events.sse") {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut translator = to_openai::StreamTranslator::new(MODEL, CREATED, true);
        let mut out = Vec::new();
        for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
            for end in (0..line.len()).filter(|&i| line.is_char_boundary(i)) {
                let _ = translator.on_event(&line.as_bytes()[..end], &mut out);
            }
        }
    }
}
