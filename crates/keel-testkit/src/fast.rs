//! Bench mode: precomputed responses and next to no per-request work, so a
//! benchmark measures the gateway, not the fake upstream.

use std::time::Duration;

use bytes::Bytes;
use http::request::Parts;
use http::{Method, Response, StatusCode};

use crate::body::ReplyBody;
use crate::chat::plan::{Answer, ChatPlan, Choice, Usage};
use crate::chat::render;
use crate::models;
use crate::respond;
use crate::text;

/// Words of the precomputed non-streamed answer.
const COMPLETION_WORDS: usize = 12;

/// Content chunks of the precomputed stream (plus a role chunk, a finish
/// chunk, a usage chunk and `[DONE]`: 54 events in all).
pub const STREAM_CONTENT_CHUNKS: usize = 50;

/// Marker in a request body that selects the slow stream pacing.
pub const SLOW_STREAM_MARKER: &[u8] = b"slow-stream";

/// The model the precomputed responses report.
const FAST_MODEL: &str = "bench-model";

/// Prompt tokens the precomputed responses report.
const FAST_PROMPT_TOKENS: u64 = 27;

/// Precomputed bodies and pacing for bench mode.
#[derive(Debug, Clone)]
pub(crate) struct FastReplies {
    completion: Bytes,
    stream: Vec<Bytes>,
    models: Bytes,
    chunk_delay: Option<Duration>,
    slow_chunk_delay: Option<Duration>,
}

fn fixed_plan(words: usize, stream: bool) -> ChatPlan {
    let reply: Vec<String> = (0..words).map(|i| format!("word{i}")).collect();
    let tokens = text::tokens(&reply.join(" "));
    ChatPlan {
        id: "chatcmpl-fakeBenchAbCdEfGhIjKlMnOpQrStUvWx".to_owned(),
        created: text::now_secs(),
        model: text::versioned_model(FAST_MODEL),
        fingerprint: "fp_keel_fake".to_owned(),
        usage: Some(Usage {
            prompt: FAST_PROMPT_TOKENS,
            completion: tokens.len() as u64,
            cached: 0,
        }),
        choices: vec![Choice {
            answer: Answer::Text(tokens),
            finish_reason: "stop",
        }],
        logprobs: None,
        stream,
        include_usage: stream,
    }
}

impl FastReplies {
    /// Builds the fixed bodies once.
    pub(crate) fn new(chunk_delay: Option<Duration>, slow_chunk_delay: Option<Duration>) -> Self {
        let completion = render::completion(&fixed_plan(COMPLETION_WORDS, false));
        FastReplies {
            completion: Bytes::from(serde_json::to_vec(&completion).unwrap_or_default()),
            stream: render::stream_events(&fixed_plan(STREAM_CONTENT_CHUNKS, true)),
            models: Bytes::from(serde_json::to_vec(&models::list()).unwrap_or_default()),
            chunk_delay,
            slow_chunk_delay,
        }
    }

    /// Answers a request from the precomputed bodies.
    pub(crate) fn respond(&self, parts: &Parts, body: &[u8]) -> Response<ReplyBody> {
        match (&parts.method, parts.uri.path()) {
            (&Method::POST, "/v1/chat/completions") if wants_stream(body) => {
                let delay = if find(body, SLOW_STREAM_MARKER).is_some() {
                    self.slow_chunk_delay
                } else {
                    self.chunk_delay
                };
                respond::sse(ReplyBody::parts(self.stream.clone()).paced(delay))
            }
            (&Method::POST, "/v1/chat/completions") => respond::with_body(
                StatusCode::OK,
                "application/json",
                ReplyBody::full(self.completion.clone()),
            ),
            (&Method::GET, "/v1/models") => respond::with_body(
                StatusCode::OK,
                "application/json",
                ReplyBody::full(self.models.clone()),
            ),
            (method, path) => respond::not_found(method.as_str(), path),
        }
    }
}

/// Position of `needle` in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Whether the body has `"stream"` followed by `:` and `true`, allowing
/// whitespace around the colon.
pub(crate) fn wants_stream(body: &[u8]) -> bool {
    const KEY: &[u8] = b"\"stream\"";
    let mut rest = body;
    while let Some(at) = find(rest, KEY) {
        rest = &rest[at + KEY.len()..];
        let after = skip_ws(rest);
        if let Some(value) = after.strip_prefix(b":") {
            if skip_ws(value).starts_with(b"true") {
                return true;
            }
        }
    }
    false
}

fn skip_ws(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_stream_flag_with_whitespace() {
        assert!(wants_stream(br#"{"model":"m","stream":true}"#));
        assert!(wants_stream(br#"{"model":"m", "stream" :  true}"#));
        assert!(!wants_stream(br#"{"model":"m","stream":false}"#));
        assert!(!wants_stream(
            br#"{"stream_options":{"include_usage":true}}"#
        ));
        assert!(!wants_stream(br#"{"model":"m"}"#));
    }

    #[test]
    fn precomputed_sizes() {
        let fast = FastReplies::new(None, None);
        assert_eq!(fast.stream.len(), 54);
        assert!(
            (500..=700).contains(&fast.completion.len()),
            "{}",
            fast.completion.len()
        );
    }
}
