//! Test support for Keel: a fault-injecting fake OpenAI-compatible upstream
//! that also fakes Google's Gemini API.
//!
//! [`FakeUpstream::start`] serves deterministic chat completions (streamed or
//! not), embeddings and the model list in OpenAI's documented shapes; the
//! `fault-*` models ([`FAULT_MODELS`]) misbehave on purpose. The rules that
//! decide answers and usage are documented on the [`chat`] module. The same
//! server answers Gemini's `/v1beta/models…` routes by the same rules
//! ([`gemini`], base URL [`FakeUpstream::gemini_base_url`]).
//! [`FakeUpstream::start_fast`] serves precomputed answers for benchmarks.

mod base64;
mod body;
pub mod chat;
mod embeddings;
mod fast;
mod faults;
pub mod gemini;
mod models;
mod respond;
pub mod schema;
mod server;
mod state;
pub mod text;
mod upstream;

pub use chat::TOOL_CALL_TOKENS;
pub use embeddings::{vector as embedding_vector, DEFAULT_DIMENSIONS};
pub use fast::{SLOW_STREAM_MARKER, STREAM_CONTENT_CHUNKS};
pub use faults::{Fault, CUT_REPLY, DELAY_HEADER, FAULT_MODELS, LONG_STREAM_WORDS, MALFORMED_BODY};
pub use gemini::{GEMINI_API_KEY, SAFETY_MODEL as GEMINI_SAFETY_MODEL};
pub use models::ORDINARY_MODELS;
pub use server::REQUESTS_PATH;
pub use state::RecordedRequest;
pub use upstream::{FakeUpstream, Options, DEFAULT_SLOW_CHUNK_DELAY};
