//! The OpenAI `messages` list as Converse `system` blocks and turns.
//!
//! - `system` and `developer` messages, wherever they stand, become one
//!   `{text}` system block each (empty ones are left out: Converse refuses
//!   empty system text);
//! - `user` content (a string, or `text` and `image_url` parts) becomes a user
//!   turn of `{text}` and `{image: {format, source: {bytes}}}` blocks; images
//!   must be `data:image/<png|jpeg|gif|webp>;base64,…` URLs, whose base64 is
//!   passed as is (JSON carries Converse's bytes as base64). Bedrock cannot
//!   fetch `http(s)` images, so those are refused;
//! - `assistant` content becomes a `{text}` block, followed (Converse wants
//!   text before tool use) by one `{toolUse: {toolUseId, name, input}}` per
//!   tool call, the `arguments` string parsed into the `input` object
//!   (arguments that are not a JSON object are a 400);
//! - `tool` messages become `{toolResult: {toolUseId, content: [{text}]}}`
//!   blocks of a user turn. The text is passed as the client wrote it rather
//!   than re-parsed into a `{json}` block, so the model reads exactly what
//!   the client sent; `status` is left out (OpenAI has no error flag, and
//!   only some Bedrock models accept it).
//!
//! Converse wants user and assistant turns to alternate, so consecutive turns
//! of one role are merged: the results of one batch of tool calls travel in a
//! single user turn, ahead of any user text after them.

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::openai_request::{
    assistant_content, conversation, present, text_only, tool_call_id, user_content, Object, Role,
};

/// The translated conversation.
pub(super) struct Translated {
    pub system: Vec<Value>,
    pub turns: Vec<Value>,
    /// Some turn holds a `toolUse` or `toolResult` block, which makes
    /// Converse require `toolConfig`.
    pub has_tool_blocks: bool,
}

/// The system blocks and the Converse turns of `messages`.
pub(super) fn translate(messages: &Value) -> Result<Translated, ApiError> {
    let mut system = Vec::new();
    let mut has_tool_blocks = false;
    let turns = conversation(messages, |role, message, _, at| {
        Ok(match role {
            Role::System => {
                let text = text_only(present(message, "content"), at)?;
                if !text.is_empty() {
                    system.push(json!({"text": text}));
                }
                None
            }
            Role::User => Some((
                "user",
                user_content(present(message, "content"), at, text_block, image)?,
            )),
            Role::Assistant => {
                let blocks = assistant_content(
                    message,
                    at,
                    text_block,
                    |call| json!({"toolUse": {"toolUseId": call.id, "name": call.name, "input": call.input}}),
                )?;
                has_tool_blocks |= blocks.iter().any(|b| b.get("toolUse").is_some());
                Some(("assistant", blocks))
            }
            Role::Tool => {
                has_tool_blocks = true;
                Some(("user", vec![tool_result(message, at)?]))
            }
        })
    })?;
    let turns = turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    Ok(Translated {
        system,
        turns,
        has_tool_blocks,
    })
}

/// A text block.
fn text_block(text: &str) -> Value {
    json!({"text": text})
}

/// An `image_url` part as a Converse image block.
fn image(part: &Value, at: &str) -> Result<Value, ApiError> {
    let param = format!("{at}.image_url.url");
    let url = part
        .pointer("/image_url/url")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid(param.as_str(), "url is required"))?;
    let Some(rest) = url.strip_prefix("data:") else {
        return Err(ApiError::invalid(
            param,
            "this model's provider accepts only inline images: send a \
             data:image/<png|jpeg|gif|webp>;base64,… URL",
        ));
    };
    let (media_type, data) = rest
        .split_once(";base64,")
        .filter(|(_, d)| !d.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                param.as_str(),
                "a data URL must be data:image/<type>;base64,<data>",
            )
        })?;
    let format = match media_type {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => {
            return Err(ApiError::invalid(
                param,
                "images must be png, jpeg, gif or webp for this model's provider",
            ))
        }
    };
    Ok(json!({"image": {"format": format, "source": {"bytes": data}}}))
}

fn tool_result(message: &Object, at: &str) -> Result<Value, ApiError> {
    let id = tool_call_id(message, at)?;
    let content = text_only(present(message, "content"), at)?;
    Ok(json!({"toolResult": {"toolUseId": id, "content": [{"text": content}]}}))
}
