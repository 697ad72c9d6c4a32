//! Test support for Keel: a fault-injecting fake OpenAI-compatible upstream.
//!
//! [`FakeUpstream::start`] serves deterministic chat completions (streamed or
//! not), embeddings and the model list in OpenAI's documented shapes; the
//! `fault-*` models ([`FAULT_MODELS`]) misbehave on purpose. The rules that
//! decide answers and usage are documented on the [`chat`] module.
//! The same server is also a fake AWS Bedrock runtime ([`bedrock`]), at
//! [`FakeUpstream::bedrock_url`].
//! [`FakeUpstream::start_fast`] serves precomputed answers for benchmarks.

mod base64;
pub mod bedrock;
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

pub use bedrock::{
    BEDROCK_ACCESS_KEY_ID, BEDROCK_API_KEY, BEDROCK_REGION, BEDROCK_SECRET_ACCESS_KEY,
};
pub use chat::TOOL_CALL_TOKENS;
pub use embeddings::{vector as embedding_vector, DEFAULT_DIMENSIONS};
pub use fast::{SLOW_STREAM_MARKER, STREAM_CONTENT_CHUNKS};
pub use faults::{Fault, CUT_REPLY, DELAY_HEADER, FAULT_MODELS, LONG_STREAM_WORDS, MALFORMED_BODY};
pub use models::ORDINARY_MODELS;
pub use server::REQUESTS_PATH;
pub use state::RecordedRequest;
pub use upstream::{FakeUpstream, Options, DEFAULT_SLOW_CHUNK_DELAY};
