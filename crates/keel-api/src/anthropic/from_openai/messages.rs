//! The OpenAI `messages` list as Anthropic's `system` string and turns.
//!
//! - `system` and `developer` messages, wherever they stand, are joined into
//!   the one `system` prompt Anthropic accepts;
//! - `user` content (a string, or `text` and `image_url` parts) becomes a user
//!   turn; `data:` image URLs become base64 image blocks, `http(s)` URLs
//!   become URL image sources;
//! - `assistant` content becomes text blocks and its `tool_calls` become
//!   `tool_use` blocks with the ids kept and the `arguments` string parsed
//!   into the `input` object (arguments that are not a JSON object are a 400);
//! - `tool` messages become `tool_result` blocks of a user turn.
//!
//! Consecutive turns of one role are merged, so the results of one batch of
//! tool calls travel in a single user turn, ahead of any user text after them.

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::openai_request::{
    assistant_content, conversation, present, text_only, tool_call_id, user_content, Object, Role,
};

/// How several system or developer messages are joined.
const SYSTEM_SEPARATOR: &str = "\n\n";

/// The system prompt, if any, and the Anthropic turns.
pub(super) fn translate(messages: &Value) -> Result<(Option<String>, Vec<Value>), ApiError> {
    let mut system = Vec::new();
    let turns = conversation(messages, |role, message, _, at| {
        Ok(match role {
            Role::System => {
                system.push(text_only(present(message, "content"), at)?);
                None
            }
            Role::User => Some((
                "user",
                user_content(present(message, "content"), at, text_block, image)?,
            )),
            Role::Assistant => Some((
                "assistant",
                assistant_content(
                    message,
                    at,
                    text_block,
                    |call| json!({"type": "tool_use", "id": call.id, "name": call.name, "input": call.input}),
                )?,
            )),
            Role::Tool => Some(("user", vec![tool_result(message, at)?])),
        })
    })?;
    let system = system.join(SYSTEM_SEPARATOR);
    let turns = turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    Ok(((!system.is_empty()).then_some(system), turns))
}

/// A text block.
fn text_block(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

/// An `image_url` part as an Anthropic image block.
fn image(part: &Value, at: &str) -> Result<Value, ApiError> {
    let url = part
        .pointer("/image_url/url")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid(format!("{at}.image_url.url"), "url is required"))?;
    if let Some(rest) = url.strip_prefix("data:") {
        let (media_type, data) = rest
            .split_once(";base64,")
            .filter(|(m, d)| m.starts_with("image/") && !d.is_empty())
            .ok_or_else(|| {
                ApiError::invalid(
                    format!("{at}.image_url.url"),
                    "a data URL must be data:image/<type>;base64,<data>",
                )
            })?;
        return Ok(json!({"type": "image", "source":
            {"type": "base64", "media_type": media_type, "data": data}}));
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(json!({"type": "image", "source": {"type": "url", "url": url}}));
    }
    Err(ApiError::invalid(
        format!("{at}.image_url.url"),
        "the image URL must be an http(s) or data: URL",
    ))
}

fn tool_result(message: &Object, at: &str) -> Result<Value, ApiError> {
    let id = tool_call_id(message, at)?;
    let content = text_only(present(message, "content"), at)?;
    Ok(json!({"type": "tool_result", "tool_use_id": id, "content": content}))
}
