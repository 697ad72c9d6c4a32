//! Golden files for serving OpenAI clients from Bedrock (`tests/golden/bedrock`,
//! sources in its SOURCES.md):
//! - `<case>.request.json` (OpenAI) → `<case>.bedrock.json` (the Converse
//!   body), or `<case>.error.json` (`{"status", "body"}`) for a refusal;
//! - `<case>.response.bedrock.json` → `<case>.response.openai.json`;
//! - `<case>.events.jsonl` (a ConverseStream answer, one event per line as
//!   `{"event_type", "payload"}`) → `<case>.chunks.sse`, the OpenAI chunks
//!   framed as the gateway frames them, usage included. The same events are
//!   also framed as binary event stream messages, split at odd boundaries,
//!   decoded and translated again: the result must be the same file;
//! - `<case>.error.bedrock.json` (`{"status", "error_type", "body"}`, a failed
//!   Bedrock answer) → `<case>.error.openai.json`.
//!
//! `KEEL_BLESS=1 cargo test -p keel-api` rewrites the expected files.

use std::path::PathBuf;

use keel_api::bedrock::eventstream::{self, Decoder, Message};
use keel_api::bedrock::{from_openai, to_openai};
use serde_json::{json, Value};

use crate::golden::{self, check, pretty, report};

/// The model name the golden clients ask for.
const MODEL: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";
/// The `created` time stamped on golden chunks.
const CREATED: u64 = 1_700_000_000;
/// The request id golden streams are named after.
const REQUEST_ID: &str = "9b6d1e0a-5f2b-4c8e-a1d7-3e4f5a6b7c8d";

fn golden_dir() -> PathBuf {
    golden::dir("bedrock")
}

fn cases(suffix: &str) -> Vec<(String, PathBuf)> {
    golden::cases(&golden_dir(), suffix)
}

fn read_json(path: &PathBuf) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The events of a `.events.jsonl` file as (event type, payload bytes).
fn events(path: &PathBuf) -> Vec<(String, Vec<u8>)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            let kind = v["event_type"].as_str().unwrap().to_owned();
            (kind, v["payload"].to_string().into_bytes())
        })
        .collect()
}

/// The chunks as the gateway frames them, `[DONE]` included.
fn framed(chunks: &[Vec<u8>]) -> String {
    let mut out = String::new();
    for chunk in chunks {
        out.push_str(&format!("data: {}\n\n", String::from_utf8_lossy(chunk)));
    }
    out.push_str("data: [DONE]\n\n");
    out
}

fn translator() -> to_openai::StreamTranslator {
    to_openai::StreamTranslator::new(MODEL, CREATED, true).with_request_id(REQUEST_ID)
}

#[test]
fn openai_requests_translate_or_are_refused_as_expected() {
    let dir = golden_dir();
    let mut failures = Vec::new();
    for (case, path) in cases(".request.json") {
        let body = read_json(&path);
        let (ok, err) = (
            dir.join(format!("{case}.bedrock.json")),
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
fn bedrock_responses_translate_as_expected() {
    let dir = golden_dir();
    let mut failures = Vec::new();
    for (case, path) in cases(".response.bedrock.json") {
        let body = read_json(&path);
        let actual =
            to_openai::response_with_id(&body, MODEL, &to_openai::completion_id(REQUEST_ID))
                .unwrap_or_else(|e| panic!("{case}: {e}"));
        let expected = dir.join(format!("{case}.response.openai.json"));
        failures.extend(check(&expected, &pretty(&actual), true));
    }
    report(failures);
}

#[test]
fn bedrock_streams_translate_as_expected() {
    let dir = golden_dir();
    let mut failures = Vec::new();
    for (case, path) in cases(".events.jsonl") {
        let mut t = translator();
        let mut chunks = Vec::new();
        for (kind, payload) in events(&path) {
            t.on_event(&kind, &payload, &mut chunks)
                .unwrap_or_else(|e| panic!("{case}: {e}"));
        }
        t.finish(&mut chunks).unwrap();
        let expected = dir.join(format!("{case}.chunks.sse"));
        failures.extend(check(&expected, &framed(&chunks), false));
    }
    report(failures);
}

#[test]
fn binary_framed_streams_translate_like_their_events() {
    for (case, path) in cases(".events.jsonl") {
        let mut wire = Vec::new();
        for (kind, payload) in events(&path) {
            wire.extend(eventstream::encode(
                &[
                    (":event-type", kind.as_str()),
                    (":content-type", "application/json"),
                    (":message-type", "event"),
                ],
                &payload,
            ));
        }
        for sizes in [&[1usize][..], &[3, 7, 13], &[29, 2, 101, 5], &[wire.len()]] {
            let mut decoder = Decoder::new(1 << 20);
            let mut messages: Vec<Message> = Vec::new();
            let mut at = 0;
            for size in sizes.iter().cycle() {
                if at >= wire.len() {
                    break;
                }
                let end = (at + size).min(wire.len());
                decoder.feed(&wire[at..end], &mut messages).unwrap();
                at = end;
            }
            decoder.finish().unwrap();
            let mut t = translator();
            let mut chunks = Vec::new();
            for message in &messages {
                t.on_message(message, &mut chunks).unwrap();
            }
            t.finish(&mut chunks).unwrap();
            let expected = golden_dir().join(format!("{case}.chunks.sse"));
            let want = std::fs::read_to_string(&expected).unwrap();
            assert_eq!(framed(&chunks), want, "{case} split by {sizes:?}");
        }
    }
}

#[test]
fn bedrock_errors_render_as_openai_errors() {
    let dir = golden_dir();
    let mut failures = Vec::new();
    for (case, path) in cases(".error.bedrock.json") {
        let input = read_json(&path);
        let status = input["status"].as_u64().unwrap() as u16;
        let body = input["body"].to_string();
        let (status, out) = to_openai::error(status, input["error_type"].as_str(), body.as_bytes());
        let body: Value = serde_json::from_slice(&out).unwrap();
        let expected = dir.join(format!("{case}.error.openai.json"));
        failures.extend(check(
            &expected,
            &pretty(&json!({"status": status, "body": body})),
            true,
        ));
    }
    report(failures);
}

#[test]
fn truncated_inputs_never_panic() {
    for suffix in [".request.json", ".response.bedrock.json"] {
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
    for (_, path) in cases(".events.jsonl") {
        let mut t = translator();
        let mut out = Vec::new();
        for (kind, payload) in events(&path) {
            for end in 0..payload.len() {
                let _ = t.on_event(&kind, &payload[..end], &mut out);
            }
        }
    }
}
