//! Wire types and codecs for the formats Keel speaks. No I/O lives here, so
//! every parser and serialiser can be unit-tested and fuzzed on its own.

pub mod anthropic;
pub mod assemble;
pub mod bedrock;
pub mod chat;
pub mod chunk;
pub mod codec;
pub mod embeddings;
pub mod error;
pub mod gemini;
pub mod models;
mod openai_request;
pub mod sse;
pub mod usage;

pub use error::{ApiError, ErrorKind};
pub use usage::{TokenSource, Usage};
