//! CPU cost of each translation Keel runs on the request path, measured
//! in-process (no network, no other process), so the figures hold still on a
//! shared 2-core machine where end-to-end differences of a few microseconds
//! drown in scheduling noise. Prints a Markdown table: per request (request
//! in, answer out) and per stream event, for each format pair.
//!
//! `keel-translate-bench [iterations]` (default 20000).

#![allow(clippy::print_stdout)]

use std::hint::black_box;
use std::time::Instant;

use keel_api::anthropic::{from_anthropic, from_openai as anthropic_request, to_anthropic};
use keel_api::bedrock::eventstream::{self, Decoder};
use keel_api::bedrock::{from_openai as bedrock_request, to_openai as bedrock_answer};
use keel_api::gemini::{from_openai as gemini_request, to_openai as gemini_answer};
use serde_json::{json, Value};

/// Words in each streamed answer (one event each).
const WORDS: usize = 20;

fn main() {
    let iterations: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let openai_request = json!({"model": "m", "max_tokens": 256, "temperature": 0.2,
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "What is the weather in Paris today, and should I take an umbrella?"},
            {"role": "assistant", "content": "Let me check."},
            {"role": "user", "content": "Please answer in one sentence."}],
        "tools": [{"type": "function", "function": {"name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
            "required": ["city"]}}}]});
    let anthropic_body = json!({"model": "m", "max_tokens": 256, "temperature": 0.2,
        "system": "You are a concise assistant.",
        "messages": [
            {"role": "user", "content": "What is the weather in Paris today, and should I take an umbrella?"},
            {"role": "assistant", "content": "Let me check."},
            {"role": "user", "content": "Please answer in one sentence."}],
        "tools": [{"name": "get_weather", "description": "Weather for a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}},
            "required": ["city"]}}]})
    .to_string()
    .into_bytes();
    let text = "It is mild and dry in Paris today, so you can leave the umbrella at home";
    let openai_answer = json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
        "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
        "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 40, "completion_tokens": 16, "total_tokens": 56}});
    let anthropic_answer = json!({"id": "msg_1", "type": "message", "role": "assistant",
        "model": "m", "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
        "stop_sequence": null, "usage": {"input_tokens": 40, "output_tokens": 16}});
    let gemini_answer_body = json!({"candidates": [{"content": {"role": "model",
        "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 40, "candidatesTokenCount": 16,
        "totalTokenCount": 56}, "modelVersion": "m-001", "responseId": "r1"});
    let bedrock_answer_body = json!({"output": {"message": {"role": "assistant",
        "content": [{"text": text}]}}, "stopReason": "end_turn",
        "usage": {"inputTokens": 40, "outputTokens": 16, "totalTokens": 56},
        "metrics": {"latencyMs": 100}});

    // The gateway holds bodies as bytes: parse, translate, write again.
    let [openai_request, openai_answer, anthropic_answer, gemini_answer_body, bedrock_answer_body] =
        [
            &openai_request,
            &openai_answer,
            &anthropic_answer,
            &gemini_answer_body,
            &bedrock_answer_body,
        ]
        .map(to_bytes);
    let mut rows = Vec::new();
    rows.push((
        "Anthropic client → OpenAI provider",
        per_call(iterations, || {
            let request = from_anthropic::request(&anthropic_body)
                .ok()
                .map(|v| to_bytes(&v))
                .and_then(|b| keel_api::chat::ChatRequest::parse(&b).ok().map(|_| b.len()));
            let answer = from_bytes(&openai_answer)
                .and_then(|v| to_anthropic::response(&v, "m").ok())
                .map(|v| to_bytes(&v));
            black_box((request, answer));
        }),
        per_event(iterations / 10, &openai_chunks(), |events| {
            let mut t = to_anthropic::StreamTranslator::new("m", "msg_1");
            let mut out = Vec::new();
            for e in events {
                let _ = t.on_chunk(e, &mut out);
            }
            t.finish(&mut out);
            black_box(out);
        }),
    ));
    rows.push((
        "OpenAI client → Anthropic provider",
        per_call(iterations, || {
            let request = from_bytes(&openai_request)
                .and_then(|v| anthropic_request::request(&v).ok())
                .map(|v| to_bytes(&v));
            let answer = from_bytes(&anthropic_answer)
                .and_then(|v| keel_api::anthropic::to_openai::response(&v, "m").ok())
                .map(|v| to_bytes(&v));
            black_box((request, answer));
        }),
        per_event(iterations / 10, &anthropic_events(), |events| {
            let mut t = keel_api::anthropic::to_openai::StreamTranslator::new("m", 1, true);
            let mut out = Vec::new();
            for e in events {
                let _ = t.on_event(e, &mut out);
            }
            black_box(out);
        }),
    ));
    rows.push((
        "OpenAI client → Gemini provider",
        per_call(iterations, || {
            let request = from_bytes(&openai_request)
                .and_then(|v| gemini_request::request(&v).ok())
                .map(|v| to_bytes(&v));
            let answer = from_bytes(&gemini_answer_body)
                .and_then(|v| gemini_answer::response(&v, "m").ok())
                .map(|v| to_bytes(&v));
            black_box((request, answer));
        }),
        per_event(iterations / 10, &gemini_events(), |events| {
            let mut t = gemini_answer::StreamTranslator::new("m", 1, true);
            let mut out = Vec::new();
            for e in events {
                let _ = t.on_event(e, &mut out);
            }
            t.finish(&mut out);
            black_box(out);
        }),
    ));
    let frames = bedrock_frames();
    rows.push((
        "OpenAI client → Bedrock provider (event-stream decoding included)",
        per_call(iterations, || {
            let request = from_bytes(&openai_request)
                .and_then(|v| bedrock_request::request(&v).ok())
                .map(|v| to_bytes(&v));
            let answer = from_bytes(&bedrock_answer_body)
                .and_then(|v| bedrock_answer::response(&v, "m").ok())
                .map(|v| to_bytes(&v));
            black_box((request, answer));
        }),
        per_event(iterations / 10, &[frames], |wire| {
            let mut decoder = Decoder::new(1 << 20);
            let mut messages = Vec::new();
            let _ = decoder.feed(&wire[0], &mut messages);
            let mut t = bedrock_answer::StreamTranslator::new("m", 1, true);
            let mut out = Vec::new();
            for m in &messages {
                let _ = t.on_message(m, &mut out);
            }
            black_box(out);
        }) / (WORDS + 4) as f64,
    ));

    println!("| translation | per request (request + answer) | per stream event |");
    println!("|---|--:|--:|");
    for (name, call, event) in rows {
        println!("| {name} | {call:.1} µs | {event:.2} µs |");
    }
    println!(
        "\n{iterations} iterations per request figure, best of 5 rounds; a stream is \
         {WORDS} content events plus its opening and closing events."
    );
}

fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn from_bytes(b: &[u8]) -> Option<Value> {
    serde_json::from_slice(b).ok()
}

/// µs per call of `f`, best of 5 rounds.
fn per_call(iterations: u32, mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                f();
            }
            start.elapsed().as_secs_f64() * 1e6 / f64::from(iterations.max(1))
        })
        .fold(f64::INFINITY, f64::min)
}

/// µs per event of translating the whole stream `events`, best of 5.
fn per_event(iterations: u32, events: &[Vec<u8>], mut f: impl FnMut(&[Vec<u8>])) -> f64 {
    per_call(iterations, || f(events)) / events.len().max(1) as f64
}

fn words() -> impl Iterator<Item = String> {
    (0..WORDS).map(|i| {
        if i == 0 {
            "Echo:".into()
        } else {
            format!(" word{i}")
        }
    })
}

fn openai_chunks() -> Vec<Vec<u8>> {
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string()
        .into_bytes()
    };
    let mut out = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
    )];
    out.extend(words().map(|w| chunk(json!({"content": w}), Value::Null)));
    out.push(chunk(json!({}), json!("stop")));
    out.push(
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
            "model": "m", "choices": [],
            "usage": {"prompt_tokens": 40, "completion_tokens": 20, "total_tokens": 60}})
        .to_string()
        .into_bytes(),
    );
    out
}

fn anthropic_events() -> Vec<Vec<u8>> {
    let mut out = vec![
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
            "role": "assistant", "model": "m", "content": [], "stop_reason": null,
            "usage": {"input_tokens": 40, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}}),
    ];
    out.extend(words().map(|w| {
        json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": w}})
    }));
    out.push(json!({"type": "content_block_stop", "index": 0}));
    out.push(
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
        "usage": {"output_tokens": 20}}),
    );
    out.push(json!({"type": "message_stop"}));
    out.into_iter()
        .map(|v| v.to_string().into_bytes())
        .collect()
}

fn gemini_events() -> Vec<Vec<u8>> {
    let n = WORDS;
    words()
        .enumerate()
        .map(|(i, w)| {
            let mut v = json!({"candidates": [{"content": {"role": "model",
                "parts": [{"text": w}]}, "index": 0}], "modelVersion": "m-001",
                "responseId": "r1"});
            if i + 1 == n {
                v["candidates"][0]["finishReason"] = json!("STOP");
                v["usageMetadata"] = json!({"promptTokenCount": 40,
                    "candidatesTokenCount": 20, "totalTokenCount": 60});
            }
            v.to_string().into_bytes()
        })
        .collect()
}

/// A whole ConverseStream answer as event-stream bytes.
fn bedrock_frames() -> Vec<u8> {
    let mut events = vec![("messageStart", json!({"role": "assistant"}))];
    events.extend(words().map(|w| {
        (
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": w}}),
        )
    }));
    events.push(("contentBlockStop", json!({"contentBlockIndex": 0})));
    events.push(("messageStop", json!({"stopReason": "end_turn"})));
    events.push((
        "metadata",
        json!({"usage": {"inputTokens": 40, "outputTokens": 20, "totalTokens": 60},
            "metrics": {"latencyMs": 100}}),
    ));
    let mut wire = Vec::new();
    for (kind, payload) in events {
        wire.extend(eventstream::encode(
            &[
                (":event-type", kind),
                (":content-type", "application/json"),
                (":message-type", "event"),
            ],
            payload.to_string().as_bytes(),
        ));
    }
    wire
}
