//! No input makes a codec panic: documented shapes, mutated at random
//! (deterministically, so a failure reproduces), go through every parser.

use bytes::Bytes;
use keel_api::assemble::{assemble_chat_stream, summarize_response};
use keel_api::bedrock::eventstream::{self, Decoder};
use keel_api::bedrock::{from_openai as bedrock_request, to_openai as bedrock_answer};
use keel_api::chat::ChatRequest;
use keel_api::embeddings::EmbeddingsRequest;
use keel_api::gemini::{from_openai, to_openai};
use keel_api::sse::SseDecoder;
use serde_json::Value;

use crate::{fixture, golden};

/// A Gemini golden file (`tests/golden/gemini/<name>`).
fn gemini_golden(name: &str) -> Vec<u8> {
    let path = golden::dir("gemini").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// xorshift64*: small, deterministic, good enough to scatter mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: &[&[u8]] = &[
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"null",
    b"-1",
    b"1e999",
    b"\r",
    b"\n",
    b"\n\n",
    b"data: ",
    b"[DONE]",
    "é".as_bytes(),
    &[0xff, 0xfe],
    b"\"model\":",
    b"\"messages\":[]",
];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(4) {
            0 => out.truncate(at),
            1 if at < out.len() => out[at] = rng.next() as u8,
            2 => {
                let piece = INTERESTING[rng.below(INTERESTING.len())];
                out.splice(at..at, piece.iter().copied());
            }
            _ => {
                let end = (at + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
        }
    }
    out
}

#[test]
fn mutated_requests_and_responses_never_panic() {
    let seeds = [
        "chat_request_basic.json",
        "chat_request_tools.json",
        "chat_request_image.json",
        "chat_request_stream_include_usage.json",
        "chat_response_tool_calls.json",
        "embeddings_request.json",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for name in seeds {
        let original = fixture(name);
        for _ in 0..3_000 {
            let input = mutate(&mut rng, &original);
            if let Ok(req) = ChatRequest::parse(&input) {
                let _ = req.upstream_body("other-model", true);
            }
            if let Ok(req) = EmbeddingsRequest::parse(&input) {
                let _ = req.upstream_body("other-model", input.len());
            }
            let _ = summarize_response(&input);
        }
    }
}

#[test]
fn mutated_streams_never_panic() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for name in [
        "chat_stream_include_usage.sse",
        "chat_stream_tool_calls.sse",
    ] {
        let original = fixture(name);
        for _ in 0..1_000 {
            let input = mutate(&mut rng, &original);
            let mut decoder = SseDecoder::new(4096);
            let mut events = Vec::new();
            let mut at = 0;
            while at < input.len() {
                let len = 1 + rng.below(64);
                let end = (at + len).min(input.len());
                if decoder
                    .feed(Bytes::copy_from_slice(&input[at..end]), &mut events)
                    .is_err()
                {
                    break;
                }
                at = end;
            }
            let _ = assemble_chat_stream(events.iter().map(|e| e.data.as_ref()));
        }
    }
}

#[test]
fn mutated_gemini_inputs_never_panic() {
    let seeds = [
        fixture("chat_request_tools.json"),
        fixture("chat_request_image.json"),
        gemini_golden("tool_round_trip.request.json"),
        gemini_golden("generation_config.request.json"),
        gemini_golden("json_schema.request.json"),
        gemini_golden("images.request.json"),
        gemini_golden("parallel_calls.response.gemini.json"),
        gemini_golden("thoughts.response.gemini.json"),
        gemini_golden("prompt_blocked.response.gemini.json"),
        gemini_golden("max_tokens_two_candidates.response.gemini.json"),
        gemini_golden("api_key_invalid.upstream_error.json"),
    ];
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for original in seeds {
        for _ in 0..2_000 {
            let input = mutate(&mut rng, &original);
            let _ = to_openai::error(400, &input);
            if let Ok(v) = serde_json::from_slice::<Value>(&input) {
                let _ = from_openai::request(&v);
                let _ = to_openai::response(&v, "gemini-2.5-flash");
            }
        }
    }
}

#[test]
fn mutated_gemini_streams_never_panic() {
    let mut rng = Rng(0x94D0_49BB_1331_11EB);
    for name in [
        "stream_tool_calls.events.sse",
        "stream_thoughts.events.sse",
        "stream_prompt_blocked.events.sse",
    ] {
        let original = gemini_golden(name);
        for _ in 0..1_000 {
            let input = mutate(&mut rng, &original);
            let mut decoder = SseDecoder::new(4096);
            let mut events = Vec::new();
            let mut at = 0;
            while at < input.len() {
                let end = (at + 1 + rng.below(64)).min(input.len());
                if decoder
                    .feed(Bytes::copy_from_slice(&input[at..end]), &mut events)
                    .is_err()
                {
                    break;
                }
                at = end;
            }
            let mut translator =
                to_openai::StreamTranslator::new("gemini-2.5-flash", 1, rng.below(2) == 0);
            let mut out = Vec::new();
            for event in &events {
                let _ = translator.on_event(&event.data, &mut out);
            }
            translator.finish(&mut out);
            let _ = translator.is_complete();
        }
    }
}

/// The golden Bedrock inputs with this suffix, as bytes.
fn bedrock_golden(suffix: &str) -> Vec<Vec<u8>> {
    golden::cases(&golden::dir("bedrock"), suffix)
        .into_iter()
        .map(|(_, path)| std::fs::read(path).unwrap())
        .collect()
}

#[test]
fn mutated_bedrock_requests_answers_and_errors_never_panic() {
    let mut rng = Rng(0xA076_1D64_78BD_642F);
    let mut seeds = bedrock_golden(".request.json");
    seeds.extend(bedrock_golden(".response.bedrock.json"));
    for original in seeds {
        for _ in 0..300 {
            let input = mutate(&mut rng, &original);
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&input) {
                let _ = bedrock_request::request(&v);
                let _ = bedrock_answer::response(&v, "m");
            }
            let _ = bedrock_answer::error(rng.below(700) as u16, Some("X#Y:z"), &input);
        }
    }
}

#[test]
fn mutated_event_stream_frames_never_panic() {
    let mut rng = Rng(0xE703_7ED1_A0B4_28DB);
    for events in bedrock_golden(".events.jsonl") {
        let mut wire = Vec::new();
        for line in String::from_utf8(events).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            wire.extend(eventstream::encode(
                &[
                    (":event-type", v["event_type"].as_str().unwrap()),
                    (":message-type", "event"),
                ],
                v["payload"].to_string().as_bytes(),
            ));
        }
        for _ in 0..1_000 {
            let input = mutate(&mut rng, &wire);
            let mut decoder = Decoder::new(4096);
            let mut messages = Vec::new();
            let mut at = 0;
            while at < input.len() {
                let end = (at + 1 + rng.below(64)).min(input.len());
                if decoder.feed(&input[at..end], &mut messages).is_err() {
                    break;
                }
                at = end;
            }
            let _ = decoder.finish();
            let mut t = bedrock_answer::StreamTranslator::new("m", 1, true);
            let mut out = Vec::new();
            for message in &messages {
                let _ = t.on_message(message, &mut out);
            }
            let _ = t.finish(&mut out);
        }
    }
}

#[test]
fn mutated_converse_stream_events_never_panic() {
    let mut rng = Rng(0x8EBC_6AF0_9C88_C6E3);
    let kinds = [
        "messageStart",
        "contentBlockStart",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
        "throttlingException",
        "unknown",
    ];
    for events in bedrock_golden(".events.jsonl") {
        for line in String::from_utf8(events).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let payload = v["payload"].to_string().into_bytes();
            let mut t = bedrock_answer::StreamTranslator::new("m", 1, true);
            let mut out = Vec::new();
            for _ in 0..200 {
                let input = mutate(&mut rng, &payload);
                let _ = t.on_event(kinds[rng.below(kinds.len())], &input, &mut out);
            }
        }
    }
}
