//! The `system` prompt and the `messages` list. Consecutive turns of one role
//! are merged first, as Anthropic does, so an assistant turn's tool calls stay
//! in one OpenAI message and its results can follow it directly.
//!
//! - user turn: its `tool_result` blocks become `role: tool` messages (in
//!   block order, ahead of everything else), then the remaining `text` and
//!   `image` blocks become one user message;
//! - assistant turn: `text` blocks are concatenated into `content`, `tool_use`
//!   blocks become `tool_calls` (ids kept exactly, `input` serialised as the
//!   `arguments` string); `thinking` blocks are dropped.

use serde_json::{json, Value};

use super::{block_object, block_type, invalid, present, string_field, AnthropicError, Object};

/// How `system` text blocks are joined into one system message.
const SYSTEM_SEPARATOR: &str = "\n\n";

/// Block types Anthropic defines that have no OpenAI equivalent.
const UNSUPPORTED_BLOCKS: &[&str] = &[
    "document",
    "search_result",
    "server_tool_use",
    "web_search_tool_result",
    "web_fetch_tool_result",
    "code_execution_tool_result",
    "bash_code_execution_tool_result",
    "text_editor_code_execution_tool_result",
    "tool_search_tool_result",
    "container_upload",
    "mcp_tool_use",
    "mcp_tool_result",
];

/// `media_type`s Anthropic accepts for base64 images.
const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    User,
    Assistant,
}

enum Piece<'a> {
    Text(&'a str),
    ImageUrl(String),
    ToolUse {
        id: &'a str,
        name: &'a str,
        arguments: String,
    },
    ToolResult {
        id: &'a str,
        content: String,
    },
}

struct Turn<'a> {
    role: Role,
    pieces: Vec<Piece<'a>>,
    /// The turn is one message whose content was a plain string.
    plain: bool,
}

/// The system prompt as one string; `None` when absent or empty.
pub(super) fn system(system: Option<&Value>) -> Result<Option<String>, AnthropicError> {
    let text = match system {
        None => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(blocks)) => {
            let mut texts = Vec::with_capacity(blocks.len());
            for (i, block) in blocks.iter().enumerate() {
                let at = format!("system.{i}");
                let block = block_object(block, &at)?;
                if block_type(block, &at)? != "text" {
                    return Err(invalid(format!("{at}.type: Input should be 'text'")));
                }
                texts.push(string_field(block, "text", &at)?);
            }
            texts.join(SYSTEM_SEPARATOR)
        }
        Some(_) => {
            return Err(invalid(
                "system: Input should be a valid string or list of text blocks",
            ))
        }
    };
    Ok((!text.is_empty()).then_some(text))
}

/// Appends the OpenAI messages for the Anthropic `messages` list to `out`.
pub(super) fn translate(messages: &Value, out: &mut Vec<Value>) -> Result<(), AnthropicError> {
    let list = messages
        .as_array()
        .ok_or_else(|| invalid("messages: Input should be a valid list"))?;
    if list.is_empty() {
        return Err(invalid("messages: at least one message is required"));
    }
    let mut turns: Vec<Turn> = Vec::with_capacity(list.len());
    for (i, message) in list.iter().enumerate() {
        let turn = read_message(message, i)?;
        match turns.last_mut() {
            Some(last) if last.role == turn.role => {
                last.plain = false;
                last.pieces.extend(turn.pieces);
            }
            _ => turns.push(turn),
        }
    }
    if turns.last().is_some_and(|t| t.role == Role::Assistant) {
        return Err(invalid(
            "messages: a final assistant message (response prefill) is not supported by this \
             gateway; the last message must use the \"user\" role",
        ));
    }
    for turn in turns {
        match turn.role {
            Role::User => emit_user(turn, out),
            Role::Assistant => emit_assistant(turn, out),
        }
    }
    Ok(())
}

fn read_message(message: &Value, i: usize) -> Result<Turn<'_>, AnthropicError> {
    let at = format!("messages.{i}");
    let message = message
        .as_object()
        .ok_or_else(|| invalid(format!("{at}: Input should be a valid dictionary")))?;
    let role = match message.get("role").and_then(Value::as_str) {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        _ => {
            return Err(invalid(format!(
                "{at}.role: Input should be 'user' or 'assistant'"
            )))
        }
    };
    let empty = || {
        invalid(format!(
            "{at}: all messages must have non-empty content except for the optional final \
             assistant message"
        ))
    };
    let (pieces, plain) = match message.get("content") {
        None | Some(Value::Null) => return Err(invalid(format!("{at}.content: Field required"))),
        Some(Value::String(s)) if s.is_empty() => return Err(empty()),
        Some(Value::String(s)) => (vec![Piece::Text(s.as_str())], true),
        Some(Value::Array(blocks)) if blocks.is_empty() => return Err(empty()),
        Some(Value::Array(blocks)) => {
            let mut pieces = Vec::with_capacity(blocks.len());
            for (j, block) in blocks.iter().enumerate() {
                if let Some(piece) = read_block(block, role, &format!("{at}.content.{j}"))? {
                    pieces.push(piece);
                }
            }
            (pieces, false)
        }
        Some(_) => {
            return Err(invalid(format!(
                "{at}.content: Input should be a valid string or list of content blocks"
            )))
        }
    };
    Ok(Turn {
        role,
        pieces,
        plain,
    })
}

/// One content block; `None` for blocks that are dropped.
fn read_block<'a>(
    block: &'a Value,
    role: Role,
    at: &str,
) -> Result<Option<Piece<'a>>, AnthropicError> {
    let block = block_object(block, at)?;
    let kind = block_type(block, at)?;
    let piece = match (kind, role) {
        ("text", _) => {
            let text = string_field(block, "text", at)?;
            if text.is_empty() {
                return Err(invalid(format!(
                    "{at}: text content blocks must be non-empty"
                )));
            }
            Piece::Text(text)
        }
        ("image", Role::User) => Piece::ImageUrl(image_url(block, at)?),
        ("tool_use", Role::Assistant) => read_tool_use(block, at)?,
        ("tool_result", Role::User) => read_tool_result(block, at)?,
        ("thinking" | "redacted_thinking", Role::Assistant) => return Ok(None),
        ("image" | "tool_result", Role::Assistant) => {
            return Err(invalid(format!(
                "{at}: {kind} blocks are only allowed in user messages"
            )))
        }
        ("tool_use" | "thinking" | "redacted_thinking", Role::User) => {
            return Err(invalid(format!(
                "{at}: {kind} blocks are only allowed in assistant messages"
            )))
        }
        (other, _) if UNSUPPORTED_BLOCKS.contains(&other) => {
            return Err(invalid(format!(
                "{at}.type: '{other}' blocks are not supported by this gateway"
            )))
        }
        (other, _) => {
            return Err(invalid(format!(
                "{at}.type: Input tag '{other}' does not match any of the expected content \
                 block types"
            )))
        }
    };
    Ok(Some(piece))
}

fn image_url(block: &Object, at: &str) -> Result<String, AnthropicError> {
    let source = match block.get("source") {
        Some(Value::Object(s)) => s,
        Some(_) => {
            return Err(invalid(format!(
                "{at}.source: Input should be a valid dictionary"
            )))
        }
        None => return Err(invalid(format!("{at}.source: Field required"))),
    };
    let at = format!("{at}.source");
    match source.get("type").and_then(Value::as_str) {
        Some("base64") => {
            let media_type = source.get("media_type").and_then(Value::as_str);
            let media_type = media_type
                .filter(|m| IMAGE_TYPES.contains(m))
                .ok_or_else(|| {
                    invalid(format!(
                    "{at}.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or \
                     'image/webp'"
                ))
                })?;
            let data = string_field(source, "data", &at)?;
            Ok(format!("data:{media_type};base64,{data}"))
        }
        Some("url") => Ok(string_field(source, "url", &at)?.to_owned()),
        Some("file") => Err(invalid(format!(
            "{at}.type: file sources are not supported by this gateway; send the image as \
             base64 or url"
        ))),
        _ => Err(invalid(format!(
            "{at}.type: Input should be 'base64' or 'url'"
        ))),
    }
}

fn read_tool_use<'a>(block: &'a Object, at: &str) -> Result<Piece<'a>, AnthropicError> {
    let id = string_field(block, "id", at)?;
    let name = string_field(block, "name", at)?;
    let input = match block.get("input") {
        Some(input @ Value::Object(_)) => input,
        Some(_) => {
            return Err(invalid(format!(
                "{at}.input: Input should be a valid dictionary"
            )))
        }
        None => return Err(invalid(format!("{at}.input: Field required"))),
    };
    Ok(Piece::ToolUse {
        id,
        name,
        arguments: input.to_string(),
    })
}

/// A tool result as the text of a `role: tool` message. Text blocks are
/// joined by newlines; an error result is marked with a leading "Error".
fn read_tool_result<'a>(block: &'a Object, at: &str) -> Result<Piece<'a>, AnthropicError> {
    let id = string_field(block, "tool_use_id", at)?;
    let mut content = match present(block, "content") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::with_capacity(parts.len());
            for (k, part) in parts.iter().enumerate() {
                let at = format!("{at}.content.{k}");
                let part = block_object(part, &at)?;
                match block_type(part, &at)? {
                    "text" => texts.push(string_field(part, "text", &at)?),
                    "image" => {
                        return Err(invalid(format!(
                            "{at}: images inside tool_result blocks are not supported by this \
                             gateway"
                        )))
                    }
                    other => {
                        return Err(invalid(format!(
                            "{at}.type: '{other}' blocks are not supported inside tool_result \
                             blocks by this gateway"
                        )))
                    }
                }
            }
            texts.join("\n")
        }
        Some(_) => {
            return Err(invalid(format!(
                "{at}.content: Input should be a valid string or list of content blocks"
            )))
        }
    };
    match present(block, "is_error") {
        None | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true)) if content.is_empty() => content = "Error".into(),
        Some(Value::Bool(true)) => content = format!("Error: {content}"),
        Some(_) => {
            return Err(invalid(format!(
                "{at}.is_error: Input should be a valid boolean"
            )))
        }
    }
    Ok(Piece::ToolResult { id, content })
}

fn emit_user(turn: Turn<'_>, out: &mut Vec<Value>) {
    let mut parts = Vec::with_capacity(turn.pieces.len());
    let mut text_only = None;
    for piece in turn.pieces {
        match piece {
            Piece::ToolResult { id, content } => {
                out.push(json!({"role": "tool", "tool_call_id": id, "content": content}));
            }
            Piece::Text(text) => {
                text_only = Some(text);
                parts.push(json!({"type": "text", "text": text}));
            }
            Piece::ImageUrl(url) => {
                parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
            }
            // Refused while reading: tool_use never reaches a user turn.
            Piece::ToolUse { .. } => {}
        }
    }
    match (turn.plain, text_only) {
        (true, Some(text)) => out.push(json!({"role": "user", "content": text})),
        _ if parts.is_empty() => {}
        _ => out.push(json!({"role": "user", "content": parts})),
    }
}

fn emit_assistant(turn: Turn<'_>, out: &mut Vec<Value>) {
    let mut text: Option<String> = None;
    let mut calls = Vec::new();
    for piece in turn.pieces {
        match piece {
            Piece::Text(t) => text.get_or_insert_with(String::new).push_str(t),
            Piece::ToolUse {
                id,
                name,
                arguments,
            } => calls.push(json!({
                "id": id,
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            })),
            // Refused while reading: these never reach an assistant turn.
            Piece::ImageUrl(_) | Piece::ToolResult { .. } => {}
        }
    }
    if text.is_none() && calls.is_empty() {
        // Only dropped blocks (thinking): nothing to send.
        return;
    }
    let mut message = json!({"role": "assistant", "content": text});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    out.push(message);
}
