//! Golden files for serving OpenAI clients from a Gemini provider
//! (`tests/golden/gemini`, sources in its SOURCES.md):
//! - `<case>.request.json` (OpenAI) → `<case>.gemini.json`, or
//!   `<case>.error.json` (`{"status", "body"}`) for a request that is refused;
//! - `<case>.response.gemini.json` → `<case>.response.openai.json`;
//! - `<case>.events.sse` (a Gemini `?alt=sse` stream) → `<case>.chunks.sse`,
//!   the OpenAI chunks framed as the gateway frames them, usage included;
//! - `<case>.upstream_error.json` (`{"status", "body"}` as Gemini answered)
//!   → `<case>.openai_error.json`.
//!
//! `KEEL_BLESS=1 cargo test -p keel-api` rewrites the expected files.

use std::path::PathBuf;

use bytes::Bytes;
use keel_api::gemini::{from_openai, to_openai};
use keel_api::sse::SseDecoder;
use serde_json::{json, Value};

use crate::golden::{self, check, pretty, report};

/// The model name the golden clients ask for.
const MODEL: &str = "gemini-2.5-flash";
/// The `created` time stamped on golden chunks.
const CREATED: u64 = 1_700_000_000;

fn golden_dir() -> PathBuf {
    golden::dir("gemini")
}

fn cases(suffix: &str) -> Vec<(String, PathBuf)> {
    golden::cases(&golden_dir(), suffix)
}

fn read_json(path: &PathBuf) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The `data` payloads of a recorded Gemini stream.
fn stream_events(path: &PathBuf) -> Vec<Bytes> {
    let mut decoder = SseDecoder::new(1 << 20);
    let mut events = Vec::new();
    decoder
        .feed(Bytes::from(std::fs::read(path).unwrap()), &mut events)
        .unwrap();
    assert!(decoder.leftover().is_empty(), "{}", path.display());
    events.into_iter().map(|e| e.data).collect()
}

#[test]
fn openai_requests_translate_or_are_refused_as_expected() {
    let dir = golden_dir();
    let mut failures = Vec::new();
    for (case, path) in cases(".request.json") {
        let body = read_json(&path);
        let (ok, err) = (
            dir.join(format!("{case}.gemini.json")),
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
fn gemini_responses_translate_as_expected() {
    let dir = golden_dir();
    let mut failures = Vec::new();
    for (case, path) in cases(".response.gemini.json") {
        let actual =
            to_openai::response(&read_json(&path), MODEL).unwrap_or_else(|e| panic!("{case}: {e}"));
        let expected = dir.join(format!("{case}.response.openai.json"));
        failures.extend(check(&expected, &pretty(&actual), true));
    }
    report(failures);
}

#[test]
fn gemini_streams_translate_as_expected() {
    let dir = golden_dir();
    let mut failures = Vec::new();
    for (case, path) in cases(".events.sse") {
        let mut translator = to_openai::StreamTranslator::new(MODEL, CREATED, true);
        let mut chunks = Vec::new();
        for event in stream_events(&path) {
            translator
                .on_event(&event, &mut chunks)
                .unwrap_or_else(|e| panic!("{case}: {e}"));
        }
        translator.finish(&mut chunks);
        assert!(translator.is_complete(), "{case}: the stream is whole");
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
fn streamed_and_whole_answers_agree() {
    // The assembled stream says what the one-piece answer says.
    for (case, path) in cases(".events.sse") {
        let mut translator = to_openai::StreamTranslator::new(MODEL, CREATED, true);
        let mut chunks = Vec::new();
        let mut merged: Option<Value> = None;
        for event in stream_events(&path) {
            translator.on_event(&event, &mut chunks).unwrap();
            let event: Value = serde_json::from_slice(&event).unwrap();
            merged = Some(match merged {
                None => event,
                Some(mut acc) => {
                    for part in event["candidates"][0]["content"]["parts"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                    {
                        acc["candidates"][0]["content"]["parts"]
                            .as_array_mut()
                            .unwrap()
                            .push(part);
                    }
                    for key in ["usageMetadata", "modelVersion", "responseId"] {
                        if let Some(v) = event.get(key) {
                            acc[key] = v.clone();
                        }
                    }
                    if let Some(r) = event["candidates"][0].get("finishReason") {
                        acc["candidates"][0]["finishReason"] = r.clone();
                    }
                    acc
                }
            });
        }
        translator.finish(&mut chunks);
        let whole = to_openai::response(&merged.unwrap(), MODEL).unwrap();
        let (assembled, _) =
            keel_api::assemble::assemble_chat_stream(chunks.iter().map(Vec::as_slice));
        let message = &whole["choices"][0]["message"];
        let streamed = &assembled["choices"][0]["message"];
        assert_eq!(
            streamed["content"].as_str().unwrap_or(""),
            message["content"].as_str().unwrap_or(""),
            "{case}"
        );
        assert_eq!(streamed["tool_calls"], message["tool_calls"], "{case}");
        assert_eq!(
            assembled["choices"][0]["finish_reason"], whole["choices"][0]["finish_reason"],
            "{case}"
        );
        assert_eq!(assembled["usage"], whole["usage"], "{case}");
    }
}

#[test]
fn gemini_errors_reshape_as_expected() {
    let dir = golden_dir();
    let mut failures = Vec::new();
    for (case, path) in cases(".upstream_error.json") {
        let upstream = read_json(&path);
        let status = u16::try_from(upstream["status"].as_u64().unwrap()).unwrap();
        let body = upstream["body"].to_string();
        let out = to_openai::error(status, body.as_bytes())
            .unwrap_or_else(|| panic!("{case}: not read as a Gemini error"));
        assert!(keel_api::error::is_openai_error_body(&out), "{case}");
        let actual: Value = serde_json::from_slice(&out).unwrap();
        let expected = dir.join(format!("{case}.openai_error.json"));
        failures.extend(check(&expected, &pretty(&actual), true));
    }
    report(failures);
}

#[test]
fn truncated_inputs_never_panic() {
    for suffix in [
        ".request.json",
        ".response.gemini.json",
        ".upstream_error.json",
    ] {
        for (_, path) in cases(suffix) {
            let text = std::fs::read_to_string(&path).unwrap();
            for end in (0..text.len()).filter(|&i| text.is_char_boundary(i)) {
                let _ = to_openai::error(500, &text.as_bytes()[..end]);
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
        translator.finish(&mut out);
    }
}
