//! The OpenAI `messages` list as Gemini's system instruction and `contents`.
//!
//! - `system` and `developer` messages, wherever they stand, are joined into
//!   the one `systemInstruction` text;
//! - `user` content (a string, or `text` and `image_url` parts) becomes a
//!   `user` turn: `data:` image URLs become `inlineData`, `http(s)` URLs
//!   become `fileData` whose `mimeType` is guessed from the file extension
//!   (png, jpg/jpeg, webp, heic, heif, gif); a URL without one of those is a
//!   400, since Gemini cannot be told what it points at;
//! - `assistant` content becomes a `model` turn of text parts, and its
//!   `tool_calls` become `functionCall` parts with the ids kept and the
//!   `arguments` string parsed into `args` (arguments that are not a JSON
//!   object are a 400);
//! - `tool` messages become `functionResponse` parts of a `user` turn. The
//!   function name Gemini requires comes from the nearest earlier assistant
//!   tool call with the same id (none is a 400). Gemini wants the result as
//!   an object: content that is a JSON object is sent as it is, any other
//!   JSON value or plain text is wrapped as `{"content": …}`.
//!
//! Consecutive turns of one role are merged, so the results of one batch of
//! tool calls travel in a single turn, ahead of any user text after them.

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::openai_request::{
    assistant_content, conversation, present, text_only, tool_call_id, user_content, Object, Role,
};

/// How several system or developer messages are joined.
const SYSTEM_SEPARATOR: &str = "\n\n";

/// File extensions Gemini documents as image types, with their MIME types.
const IMAGE_TYPES: &[(&str, &str)] = &[
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("webp", "image/webp"),
    ("heic", "image/heic"),
    ("heif", "image/heif"),
    ("gif", "image/gif"),
];

/// The system instruction text, if any, and the Gemini `contents`.
pub(super) fn translate(messages: &Value) -> Result<(Option<String>, Vec<Value>), ApiError> {
    let mut system = Vec::new();
    let turns = conversation(messages, |role, message, earlier, at| {
        Ok(match role {
            Role::System => {
                system.push(text_only(present(message, "content"), at)?);
                None
            }
            Role::User => Some((
                "user",
                user_content(present(message, "content"), at, text_part, image)?,
            )),
            Role::Assistant => Some((
                "model",
                assistant_content(
                    message,
                    at,
                    text_part,
                    |call| json!({"functionCall": {"id": call.id, "name": call.name, "args": call.input}}),
                )?,
            )),
            Role::Tool => Some(("user", vec![function_response(message, earlier, at)?])),
        })
    })?;
    let system = system.join(SYSTEM_SEPARATOR);
    let contents = turns
        .into_iter()
        .map(|(role, parts)| json!({"role": role, "parts": parts}))
        .collect();
    Ok(((!system.is_empty()).then_some(system), contents))
}

/// A text part.
fn text_part(text: &str) -> Value {
    json!({"text": text})
}

/// An `image_url` part as `inlineData` (data URLs) or `fileData` (links).
fn image(part: &Value, at: &str) -> Result<Value, ApiError> {
    let field = format!("{at}.image_url.url");
    let url = part
        .pointer("/image_url/url")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid(field.as_str(), "url is required"))?;
    if let Some(rest) = url.strip_prefix("data:") {
        let (mime_type, data) = rest
            .split_once(";base64,")
            .filter(|(m, d)| m.starts_with("image/") && !d.is_empty())
            .ok_or_else(|| {
                ApiError::invalid(
                    field.as_str(),
                    "a data URL must be data:image/<type>;base64,<data>",
                )
            })?;
        return Ok(json!({"inlineData": {"mimeType": mime_type, "data": data}}));
    }
    if url.starts_with("https://") || url.starts_with("http://") {
        let mime_type = guess_image_type(url).ok_or_else(|| {
            ApiError::invalid(
                field.as_str(),
                "this model's provider needs the image type: link to a .png, .jpg, .jpeg, \
                 .webp, .heic, .heif or .gif file, or send a data: URL",
            )
        })?;
        return Ok(json!({"fileData": {"mimeType": mime_type, "fileUri": url}}));
    }
    Err(ApiError::invalid(
        field,
        "the image URL must be an http(s) or data: URL",
    ))
}

/// The image MIME type named by a URL's file extension (query and fragment
/// ignored).
fn guess_image_type(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.rsplit('/').next().unwrap_or(path);
    let (_, ext) = name.rsplit_once('.')?;
    let ext = ext.to_ascii_lowercase();
    IMAGE_TYPES
        .iter()
        .find(|(e, _)| *e == ext)
        .map(|(_, mime)| *mime)
}

/// A `tool` message as a `functionResponse` part; `earlier` are the messages
/// before it, searched for the call it answers.
fn function_response(message: &Object, earlier: &[Value], at: &str) -> Result<Value, ApiError> {
    let id = tool_call_id(message, at)?;
    let name = called_function(earlier, id).ok_or_else(|| {
        ApiError::invalid(
            format!("{at}.tool_call_id"),
            format!("no earlier assistant message has a tool call with id '{id}'"),
        )
    })?;
    let content = text_only(present(message, "content"), at)?;
    let response = match serde_json::from_str::<Value>(&content) {
        Ok(object @ Value::Object(_)) => object,
        Ok(other) => json!({"content": other}),
        Err(_) => json!({"content": content}),
    };
    Ok(json!({"functionResponse": {"id": id, "name": name, "response": response}}))
}

/// The function name of the nearest earlier assistant tool call with `id`.
fn called_function<'a>(earlier: &'a [Value], id: &str) -> Option<&'a str> {
    earlier
        .iter()
        .rev()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
        .filter_map(|m| m.get("tool_calls").and_then(Value::as_array))
        .flatten()
        .find(|call| call.get("id").and_then(Value::as_str) == Some(id))
        .and_then(|call| call.pointer("/function/name"))
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_types_come_from_the_extension() {
        assert_eq!(
            guess_image_type("https://x.test/a/cat.JPG?size=2#top"),
            Some("image/jpeg")
        );
        assert_eq!(guess_image_type("http://x.test/b.webp"), Some("image/webp"));
        assert_eq!(guess_image_type("https://x.test/image"), None);
        assert_eq!(guess_image_type("https://x.test/a.b/file"), None);
        assert_eq!(guess_image_type("https://x.test/doc.pdf"), None);
    }

    #[test]
    fn tool_results_find_the_nearest_call_with_their_id() {
        let earlier = vec![
            json!({"role": "assistant", "tool_calls": [{"id": "call_0", "function": {"name": "old"}}]}),
            json!({"role": "tool", "tool_call_id": "call_0", "content": "x"}),
            json!({"role": "assistant", "tool_calls": [{"id": "call_0", "function": {"name": "new"}}]}),
        ];
        assert_eq!(called_function(&earlier, "call_0"), Some("new"));
        assert_eq!(called_function(&earlier, "call_9"), None);
    }
}
