//! The Anthropic Messages API, both ways, as pure translations to and from
//! the OpenAI chat completions shape Keel uses inside, named by direction:
//! - an Anthropic *client* in front of an OpenAI-compatible provider:
//!   [`from_anthropic`] (requests) and [`to_anthropic`] (answers, streams);
//! - an OpenAI client in front of a native Anthropic *provider*:
//!   [`from_openai`] (requests) and [`to_openai`] (answers, streams), whose
//!   refused and dropped fields are listed in their own module docs;
//! - an Anthropic client in front of an Anthropic provider: [`passthrough`]
//!   checks what Keel acts on and forwards the client's bytes;
//! - Anthropic's error shape ([`error`]). No I/O.
//!
//! The lists below are for Anthropic clients.
//!
//! What a request may carry that OpenAI cannot express is either dropped,
//! when losing it changes nothing the client relies on, or refused with an
//! Anthropic-shaped 400 that names the field, when dropping it would silently
//! change the answer.
//!
//! Dropped:
//! - `cache_control` (top level and on any block): prompt-caching hints;
//! - `service_tier`: a capacity preference;
//! - `thinking: {"type": "disabled"}`: the default;
//! - `citations` on text blocks, `thinking` / `redacted_thinking` blocks in
//!   assistant turns: earlier answers' annotations and reasoning;
//! - keys other than `user_id` in `metadata`.
//!
//! Mapped rather than refused: `thinking` becomes OpenAI's
//! `reasoning_effort` (refused in turn by providers whose API has none), and
//! a reasoning model's `reasoning_content` comes back as thinking blocks
//! (without signatures, which only Anthropic can make).
//!
//! Refused:
//! - `top_k` when the provider is OpenAI-compatible (Gemini, Bedrock and
//!   Anthropic providers take it); `container`, `inference_geo`,
//!   `output_config`, `output_format`, `mcp_servers`, `context_management`;
//! - `max_tokens: 0` (cache pre-warming) and more than 4 `stop_sequences`;
//! - a final assistant message (response prefill): OpenAI would answer after
//!   it rather than continue it;
//! - server tools (a `tools[]` entry whose `type` is not `custom`);
//! - `document`, `search_result`, server-tool and container blocks; image
//!   `file` sources; images inside `tool_result` blocks;
//! - any top-level field the Messages API does not define.

pub mod error;
pub mod from_anthropic;
pub mod from_openai;
pub mod models;
pub mod passthrough;
pub mod to_anthropic;
pub mod to_openai;

pub mod codec;

pub use error::AnthropicError;
