//! Test support for Keel: fault-injecting fake upstreams, OpenAI-compatible
//! and Anthropic-native, on one local port.
//!
//! [`FakeUpstream::start`] serves deterministic chat completions (streamed or
//! not), embeddings and the model list in OpenAI's documented shapes; the
//! `fault-*` models ([`FAULT_MODELS`]) misbehave on purpose. The rules that
//! decide answers and usage are documented on the [`chat`] module.
//!
//! The same server is also a fake of Anthropic's Messages API
//! (`POST /v1/messages`, `/v1/messages/count_tokens`, and `GET /v1/models`
//! when called with Anthropic's headers), with `x-api-key` authentication
//! ([`ANTHROPIC_API_KEY`]), Anthropic's named stream events and error shapes,
//! and its own fault models ([`ANTHROPIC_FAULT_MODELS`]); its rules are
//! documented on the [`anthropic`] module. Anthropic clients take
//! [`FakeUpstream::anthropic_base_url`].
//!
//! [`FakeUpstream::start_fast`] serves precomputed answers for benchmarks.

pub mod anthropic;
mod base64;
mod body;
pub mod chat;
mod embeddings;
mod fast;
mod faults;
mod models;
mod respond;
pub mod schema;
mod server;
mod state;
pub mod text;
mod upstream;

pub use anthropic::{AnthropicFault, ANTHROPIC_API_KEY, ANTHROPIC_FAULT_MODELS, ANTHROPIC_MODELS};
pub use chat::TOOL_CALL_TOKENS;
pub use embeddings::{vector as embedding_vector, DEFAULT_DIMENSIONS};
pub use fast::{SLOW_STREAM_MARKER, STREAM_CONTENT_CHUNKS};
pub use faults::{Fault, CUT_REPLY, DELAY_HEADER, FAULT_MODELS, LONG_STREAM_WORDS, MALFORMED_BODY};
pub use models::ORDINARY_MODELS;
pub use server::REQUESTS_PATH;
pub use state::RecordedRequest;
pub use upstream::{FakeUpstream, Options, DEFAULT_SLOW_CHUNK_DELAY};
