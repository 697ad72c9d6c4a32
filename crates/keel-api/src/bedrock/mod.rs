//! AWS Bedrock's Converse API, as pure translations between the OpenAI chat
//! completions shape Keel uses inside and a Bedrock provider, named by
//! direction:
//! - [`from_openai`]: OpenAI requests into Converse request bodies (the
//!   refused and dropped fields are listed in its module docs);
//! - [`to_openai`]: Converse answers and ConverseStream events into OpenAI
//!   answers and chunks;
//! - [`eventstream`]: the binary `application/vnd.amazon.eventstream`
//!   framing ConverseStream answers arrive in;
//! - [`error`]: Bedrock's error shape, rendered for OpenAI clients.
//!
//! No I/O: signing and HTTP live with the provider.

pub mod error;
pub mod eventstream;
pub mod from_openai;
pub mod to_openai;

pub mod codec;

pub use error::BedrockError;
