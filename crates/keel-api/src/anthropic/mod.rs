//! The Anthropic Messages API as a client-facing format: pure translations
//! between it and the OpenAI chat completions shape Keel forwards upstream,
//! named by direction ([`from_anthropic`] for requests, [`to_anthropic`] for
//! answers and streams), plus Anthropic's error shape ([`error`]). No I/O.
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
//! Refused:
//! - `top_k`; `thinking` enabled or adaptive; `container`, `inference_geo`,
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
pub mod to_anthropic;

pub use error::{from_openai_error, AnthropicError};
