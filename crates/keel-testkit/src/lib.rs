//! Test support for Keel: fault-injecting fake upstreams on one local port,
//! OpenAI-compatible and shaped like the vendors' own APIs.
//!
//! [`FakeUpstream::start`] serves deterministic chat completions (streamed or
//! not), embeddings and the model list in OpenAI's documented shapes; the
//! `fault-*` models ([`FAULT_MODELS`]) misbehave on purpose. The rules that
//! decide answers and usage are documented on the [`chat`] module.
//!
//! The same server, reached at [`FakeUpstream::root_url`], also fakes:
//! - Anthropic's Messages API (`POST /v1/messages`,
//!   `/v1/messages/count_tokens`, and `GET /v1/models` when called with
//!   Anthropic's headers), with `x-api-key` authentication
//!   ([`ANTHROPIC_API_KEY`]), Anthropic's named stream events and error
//!   shapes, and its own fault models ([`ANTHROPIC_FAULT_MODELS`]); see the
//!   [`anthropic`] module;
//! - Google's Gemini API (`/v1beta/models…`, key [`GEMINI_API_KEY`]) by the
//!   same rules; see the [`gemini`] module;
//! - the AWS Bedrock runtime (`/model/{id}/converse`, `converse-stream`),
//!   checking SigV4 signatures; see the [`bedrock`] module;
//! - the AWS container and instance metadata credential endpoints; see the
//!   [`aws_credentials`] module.
//!
//! [`FakeUpstream::start_fast`] serves precomputed answers for benchmarks.

pub mod anthropic;
pub mod aws_credentials;
mod base64;
pub mod bedrock;
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

pub use anthropic::{AnthropicFault, ANTHROPIC_API_KEY, ANTHROPIC_FAULT_MODELS, ANTHROPIC_MODELS};
pub use bedrock::{
    BEDROCK_ACCESS_KEY_ID, BEDROCK_API_KEY, BEDROCK_REGION, BEDROCK_SECRET_ACCESS_KEY,
};
pub use chat::TOOL_CALL_TOKENS;
pub use embeddings::{vector as embedding_vector, DEFAULT_DIMENSIONS};
pub use fast::{SLOW_STREAM_MARKER, STREAM_CONTENT_CHUNKS};
pub use faults::{Fault, CUT_REPLY, DELAY_HEADER, FAULT_MODELS, LONG_STREAM_WORDS, MALFORMED_BODY};
pub use gemini::{GEMINI_API_KEY, SAFETY_MODEL as GEMINI_SAFETY_MODEL};
pub use models::ORDINARY_MODELS;
pub use server::REQUESTS_PATH;
pub use state::RecordedRequest;
pub use upstream::{FakeUpstream, Options, DEFAULT_SLOW_CHUNK_DELAY};
