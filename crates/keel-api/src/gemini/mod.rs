//! Google's Gemini API (`generateContent` / `streamGenerateContent`) behind
//! an OpenAI client, as pure translations named by direction, no I/O:
//! - [`from_openai`]: an OpenAI chat completions request into a Gemini
//!   `GenerateContentRequest` (what is mapped, dropped and refused is listed
//!   in its module doc);
//! - [`to_openai`]: a `GenerateContentResponse` into a `chat.completion`, and
//!   the `?alt=sse` stream into `chat.completion.chunk`s;
//! - [`error`]: Gemini's error body (`{"error":{"code","message","status"}}`)
//!   in the OpenAI error shape.
//!
//! Decisions that hold across the modules:
//! - Tool call ids: Gemini may name a `functionCall` with an `id` or not.
//!   A given id is kept; a missing one becomes `call_<responseId>_<n>` (or
//!   `call_<n>` when the answer has no `responseId`), `n` counting the calls
//!   of that candidate from 0, so the same answer always yields the same ids.
//!   On the way back every id is sent as `functionCall.id` and
//!   `functionResponse.id`, and a tool result finds its function name from
//!   the nearest earlier assistant tool call with that id.
//! - A prompt Gemini blocks (`promptFeedback.blockReason`, no candidates) is
//!   an ordinary answer: one choice with empty `content`, a `refusal` naming
//!   the block reason, and `finish_reason: "content_filter"`; the usage
//!   Gemini reports is kept. A client thus learns why nothing came back
//!   without an error it could mistake for an outage.
//! - Thought parts (`thought: true`) are reasoning: they never reach
//!   `content`; their tokens (`thoughtsTokenCount`) are counted in
//!   `completion_tokens` and reported as
//!   `completion_tokens_details.reasoning_tokens`.
//! - `thoughtSignature`s that Gemini attaches to parts are not carried
//!   through the OpenAI shape, which has no place for them.

pub mod error;
pub mod from_openai;
pub mod to_openai;

pub mod codec;

/// The `countTokens` request counting what `generate_request` (a
/// `generateContent` body, see [`from_openai::request`]) would send to
/// `model`: system instruction and tools included.
pub fn count_tokens_request(generate_request: serde_json::Value, model: &str) -> serde_json::Value {
    let mut request = generate_request;
    if let Some(fields) = request.as_object_mut() {
        // Only the input counts; generation settings are not part of it.
        fields.remove("generationConfig");
        let model = model.strip_prefix("models/").unwrap_or(model);
        fields.insert("model".into(), format!("models/{model}").into());
    }
    serde_json::json!({ "generateContentRequest": request })
}

/// The count in a `countTokens` answer (`{"totalTokens": N, …}`).
pub fn count_tokens_answer(body: &serde_json::Value) -> Option<u64> {
    body.get("totalTokens").and_then(serde_json::Value::as_u64)
}
