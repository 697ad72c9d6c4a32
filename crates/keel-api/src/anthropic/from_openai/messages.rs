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
use crate::openai_request::{part_type, present, text_only, Object};

/// How several system or developer messages are joined.
const SYSTEM_SEPARATOR: &str = "\n\n";

/// The system prompt, if any, and the Anthropic turns.
pub(super) fn translate(messages: &Value) -> Result<(Option<String>, Vec<Value>), ApiError> {
    let list = messages
        .as_array()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| ApiError::invalid("messages", "messages must be a non-empty list"))?;
    let mut system = Vec::new();
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (i, message) in list.iter().enumerate() {
        let at = format!("messages[{i}]");
        let message = message
            .as_object()
            .ok_or_else(|| ApiError::invalid(at.as_str(), "a message must be an object"))?;
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        let (role, blocks) = match role {
            "system" | "developer" => {
                system.push(text_only(present(message, "content"), &at)?);
                continue;
            }
            "user" => ("user", user_blocks(present(message, "content"), &at)?),
            "assistant" => ("assistant", assistant_blocks(message, &at)?),
            "tool" => ("user", vec![tool_result(message, &at)?]),
            _ => {
                return Err(ApiError::invalid(
                    format!("{at}.role"),
                    "role must be system, developer, user, assistant or tool",
                ))
            }
        };
        match turns.last_mut() {
            Some((last, pieces)) if *last == role => pieces.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    if turns.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "at least one user or assistant message is required",
        ));
    }
    let system = system.join(SYSTEM_SEPARATOR);
    let turns = turns
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    Ok(((!system.is_empty()).then_some(system), turns))
}

fn user_blocks(content: Option<&Value>, at: &str) -> Result<Vec<Value>, ApiError> {
    let blocks = match content {
        Some(Value::String(s)) => vec![json!({"type": "text", "text": s})],
        Some(Value::Array(parts)) => {
            let mut blocks = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                let at = format!("{at}.content[{j}]");
                blocks.push(match (part_type(part), part.get("text")) {
                    (Some("text"), Some(Value::String(s))) => json!({"type": "text", "text": s}),
                    (Some("image_url"), _) => image(part, &at)?,
                    _ => {
                        return Err(ApiError::invalid(
                            at,
                            "only text and image_url parts are supported by this model's provider",
                        ))
                    }
                });
            }
            blocks
        }
        _ => {
            return Err(ApiError::invalid(
                format!("{at}.content"),
                "content must be a string or a list of parts",
            ))
        }
    };
    if blocks.is_empty() {
        return Err(ApiError::invalid(
            format!("{at}.content"),
            "content must not be empty",
        ));
    }
    Ok(blocks)
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

fn assistant_blocks(message: &Object, at: &str) -> Result<Vec<Value>, ApiError> {
    let mut blocks = Vec::new();
    let text = text_only(present(message, "content"), at)?;
    if !text.is_empty() {
        blocks.push(json!({"type": "text", "text": text}));
    }
    let calls = match present(message, "tool_calls") {
        None => &[][..],
        Some(Value::Array(calls)) => calls.as_slice(),
        Some(_) => {
            return Err(ApiError::invalid(
                format!("{at}.tool_calls"),
                "tool_calls must be a list",
            ))
        }
    };
    for (j, call) in calls.iter().enumerate() {
        let at = format!("{at}.tool_calls[{j}]");
        let field = |pointer: &str, name: &str| {
            call.pointer(pointer)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    ApiError::invalid(format!("{at}.{name}"), format!("{name} is required"))
                })
        };
        let id = field("/id", "id")?;
        let name = field("/function/name", "function.name")?;
        let arguments = call
            .pointer("/function/arguments")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let input = if arguments.trim().is_empty() {
            json!({})
        } else {
            serde_json::from_str::<Value>(arguments)
                .ok()
                .filter(Value::is_object)
                .ok_or_else(|| {
                    ApiError::invalid(
                        format!("{at}.function.arguments"),
                        "arguments must be a JSON object encoded as a string",
                    )
                })?
        };
        blocks.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
    }
    if blocks.is_empty() {
        return Err(ApiError::invalid(
            format!("{at}.content"),
            "an assistant message needs content or tool_calls",
        ));
    }
    Ok(blocks)
}

fn tool_result(message: &Object, at: &str) -> Result<Value, ApiError> {
    let id = match message.get("tool_call_id") {
        Some(Value::String(id)) if !id.is_empty() => id,
        _ => {
            return Err(ApiError::invalid(
                format!("{at}.tool_call_id"),
                "tool_call_id is required",
            ))
        }
    };
    let content = text_only(present(message, "content"), at)?;
    Ok(json!({"type": "tool_result", "tool_use_id": id, "content": content}))
}
