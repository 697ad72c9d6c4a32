//! Checks of the chat completions fields Keel understands. Each failure names
//! the field (`param`) so the caller can fix it; unknown fields are not checked.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::RawObject;
use crate::error::ApiError;

/// What the gateway needs to know about a chat request.
#[derive(Debug, Clone)]
pub struct ChatFacts<'a> {
    pub model: Cow<'a, str>,
    pub stream: bool,
    /// The client asked for the usage chunk (`stream_options.include_usage`).
    pub include_usage: bool,
    pub n: u32,
    /// `max_completion_tokens`, else `max_tokens`: the most output a
    /// choice may have (budgets reserve it).
    pub max_output_tokens: Option<u64>,
}

const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];

impl<'a> ChatFacts<'a> {
    /// Validates `raw` as a chat completions request.
    pub fn from_raw(raw: &RawObject<'a>) -> Result<Self, ApiError> {
        let model = required_model(raw)?;
        let messages = raw
            .get("messages")
            .ok_or_else(|| ApiError::invalid("messages", "missing required field 'messages'"))?;
        check_messages(messages)?;
        let stream = optional::<bool>(raw, "stream", "a boolean")?.unwrap_or(false);
        let include_usage = match raw.get("stream_options") {
            Some(v) if v.get() != "null" => {
                #[derive(Deserialize)]
                struct StreamOptions {
                    include_usage: Option<bool>,
                }
                let so: StreamOptions = serde_json::from_str(v.get()).map_err(|_| {
                    ApiError::invalid(
                        "stream_options",
                        "'stream_options' must be an object; 'include_usage' must be a boolean",
                    )
                })?;
                if !stream {
                    return Err(ApiError::invalid(
                        "stream_options",
                        "'stream_options' is only allowed when 'stream' is true",
                    ));
                }
                so.include_usage.unwrap_or(false)
            }
            _ => false,
        };
        let n = optional::<u32>(raw, "n", "an integer")?.unwrap_or(1);
        if !(1..=128).contains(&n) {
            return Err(ApiError::invalid("n", "'n' must be between 1 and 128"));
        }
        check_number(raw, "temperature", 0.0, 2.0)?;
        check_number(raw, "top_p", 0.0, 1.0)?;
        check_number(raw, "presence_penalty", -2.0, 2.0)?;
        check_number(raw, "frequency_penalty", -2.0, 2.0)?;
        let max_tokens = optional::<u64>(raw, "max_tokens", "a non-negative integer")?;
        let max_completion =
            optional::<u64>(raw, "max_completion_tokens", "a non-negative integer")?;
        let max_output_tokens = max_completion.or(max_tokens);
        optional::<i64>(raw, "seed", "an integer")?;
        optional::<bool>(raw, "logprobs", "a boolean")?;
        optional::<bool>(raw, "parallel_tool_calls", "a boolean")?;
        optional::<&str>(raw, "user", "a string")?;
        if let Some(top) = optional::<u32>(raw, "top_logprobs", "an integer")? {
            if top > 20 {
                return Err(ApiError::invalid(
                    "top_logprobs",
                    "'top_logprobs' must be between 0 and 20",
                ));
            }
        }
        check_stop(raw)?;
        check_tools(raw)?;
        check_response_format(raw)?;
        Ok(ChatFacts {
            model,
            stream,
            include_usage,
            n,
            max_output_tokens,
        })
    }
}

/// The `model` field: present, a string, not empty.
pub(crate) fn required_model<'a>(raw: &RawObject<'a>) -> Result<Cow<'a, str>, ApiError> {
    let value = raw
        .get("model")
        .ok_or_else(|| ApiError::invalid("model", "missing required field 'model'"))?;
    let raw_model: &'a str = value.get();
    // Borrow when the string has no escapes; decode into an owned one otherwise.
    let model: Cow<'a, str> = match serde_json::from_str::<&'a str>(raw_model) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(
            serde_json::from_str::<String>(raw_model)
                .map_err(|_| ApiError::invalid("model", "'model' must be a string"))?,
        ),
    };
    if model.trim().is_empty() {
        return Err(ApiError::invalid("model", "'model' must not be empty"));
    }
    Ok(model)
}

/// Decodes an optional field as `T`; `null` counts as absent.
pub(crate) fn optional<'a, T: Deserialize<'a>>(
    raw: &RawObject<'a>,
    key: &str,
    expected: &str,
) -> Result<Option<T>, ApiError> {
    match raw.get(key) {
        None => Ok(None),
        Some(v) if v.get() == "null" => Ok(None),
        Some(v) => serde_json::from_str::<T>(v.get())
            .map(Some)
            .map_err(|_| ApiError::invalid(key, format!("'{key}' must be {expected}"))),
    }
}

fn check_number(raw: &RawObject<'_>, key: &str, min: f64, max: f64) -> Result<(), ApiError> {
    if let Some(x) = optional::<f64>(raw, key, "a number")? {
        if !(min..=max).contains(&x) {
            return Err(ApiError::invalid(
                key,
                format!("'{key}' must be between {min} and {max}"),
            ));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct MessageCheck<'a> {
    #[serde(borrow)]
    role: Option<&'a RawValue>,
    #[serde(borrow)]
    content: Option<&'a RawValue>,
    #[serde(borrow)]
    tool_call_id: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct PartCheck<'a> {
    #[serde(rename = "type", borrow)]
    part_type: Option<Cow<'a, str>>,
}

fn check_messages(messages: &RawValue) -> Result<(), ApiError> {
    let list: Vec<&RawValue> = serde_json::from_str(messages.get()).map_err(|_| {
        ApiError::invalid("messages", "'messages' must be an array of message objects")
    })?;
    if list.is_empty() {
        return Err(ApiError::invalid(
            "messages",
            "'messages' must contain at least one message",
        ));
    }
    for (i, item) in list.iter().enumerate() {
        let at = |field: &str| format!("messages[{i}]{field}");
        let msg: MessageCheck = serde_json::from_str(item.get())
            .map_err(|_| ApiError::invalid(at(""), format!("{} must be an object", at(""))))?;
        let role: &str = msg
            .role
            .and_then(|r| serde_json::from_str(r.get()).ok())
            .ok_or_else(|| {
                ApiError::invalid(at(".role"), format!("{} must be a string", at(".role")))
            })?;
        if !ROLES.contains(&role) {
            return Err(ApiError::invalid(
                at(".role"),
                format!(
                    "{} '{role}' is not one of {}",
                    at(".role"),
                    ROLES.join(", ")
                ),
            ));
        }
        // An assistant turn may carry only tool calls (content null or absent).
        let content_optional = role == "assistant";
        match msg.content.map(|c| c.get().as_bytes().first().copied()) {
            None if content_optional => {}
            None => {
                return Err(ApiError::invalid(
                    at(".content"),
                    format!("missing {}", at(".content")),
                ))
            }
            Some(Some(b'"')) => {}
            Some(Some(b'n')) if content_optional => {}
            Some(Some(b'[')) => check_parts(msg.content, &at(".content"))?,
            Some(_) => {
                return Err(ApiError::invalid(
                    at(".content"),
                    format!(
                        "{} must be a string or an array of content parts",
                        at(".content")
                    ),
                ))
            }
        }
        if role == "tool" && msg.tool_call_id.is_none_or(|id| !id.get().starts_with('"')) {
            return Err(ApiError::invalid(
                at(".tool_call_id"),
                format!("{} is required for role 'tool'", at(".tool_call_id")),
            ));
        }
    }
    Ok(())
}

fn check_parts(content: Option<&RawValue>, at: &str) -> Result<(), ApiError> {
    let raw = content.map(RawValue::get).unwrap_or("[]");
    let parts: Vec<PartCheck> = serde_json::from_str(raw)
        .map_err(|_| ApiError::invalid(at, format!("{at} parts must be objects with a 'type'")))?;
    for (j, part) in parts.iter().enumerate() {
        if part.part_type.as_deref().is_none_or(str::is_empty) {
            return Err(ApiError::invalid(
                format!("{at}[{j}].type"),
                format!("{at}[{j}] must have a string 'type'"),
            ));
        }
    }
    Ok(())
}

fn check_stop(raw: &RawObject<'_>) -> Result<(), ApiError> {
    let Some(v) = raw.get("stop").filter(|v| v.get() != "null") else {
        return Ok(());
    };
    let ok = serde_json::from_str::<&str>(v.get()).is_ok()
        || serde_json::from_str::<Vec<Cow<str>>>(v.get()).is_ok_and(|s| s.len() <= 4);
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "stop",
            "'stop' must be a string or an array of up to 4 strings",
        ))
    }
}

fn check_tools(raw: &RawObject<'_>) -> Result<(), ApiError> {
    #[derive(Deserialize)]
    struct ToolCheck<'a> {
        #[serde(rename = "type", borrow)]
        tool_type: Cow<'a, str>,
        function: Option<FunctionCheck<'a>>,
    }
    #[derive(Deserialize)]
    struct FunctionCheck<'a> {
        #[serde(borrow)]
        name: Cow<'a, str>,
    }
    if let Some(v) = raw.get("tools").filter(|v| v.get() != "null") {
        let tools: Vec<&RawValue> = serde_json::from_str(v.get())
            .map_err(|_| ApiError::invalid("tools", "'tools' must be an array"))?;
        for (i, tool) in tools.iter().enumerate() {
            let t: ToolCheck = serde_json::from_str(tool.get()).map_err(|_| {
                ApiError::invalid(
                    format!("tools[{i}]"),
                    format!("tools[{i}] must be an object with a string 'type'"),
                )
            })?;
            if t.tool_type == "function" && t.function.as_ref().is_none_or(|f| f.name.is_empty()) {
                return Err(ApiError::invalid(
                    format!("tools[{i}].function.name"),
                    format!("tools[{i}].function.name is required"),
                ));
            }
        }
    }
    if let Some(v) = raw.get("tool_choice").filter(|v| v.get() != "null") {
        let ok = match serde_json::from_str::<&str>(v.get()) {
            Ok(s) => matches!(s, "none" | "auto" | "required"),
            Err(_) => v.get().starts_with('{'),
        };
        if !ok {
            return Err(ApiError::invalid(
                "tool_choice",
                "'tool_choice' must be \"none\", \"auto\", \"required\" or an object naming a tool",
            ));
        }
    }
    Ok(())
}

fn check_response_format(raw: &RawObject<'_>) -> Result<(), ApiError> {
    #[derive(Deserialize)]
    struct FormatCheck<'a> {
        #[serde(rename = "type", borrow)]
        format_type: Cow<'a, str>,
        json_schema: Option<&'a RawValue>,
    }
    let Some(v) = raw.get("response_format").filter(|v| v.get() != "null") else {
        return Ok(());
    };
    let f: FormatCheck = serde_json::from_str(v.get()).map_err(|_| {
        ApiError::invalid(
            "response_format",
            "'response_format' must be an object with a string 'type'",
        )
    })?;
    match f.format_type.as_ref() {
        "text" | "json_object" => Ok(()),
        "json_schema" if f.json_schema.is_some_and(|s| s.get().starts_with('{')) => Ok(()),
        "json_schema" => Err(ApiError::invalid(
            "response_format.json_schema",
            "'response_format.json_schema' is required when type is 'json_schema'",
        )),
        other => Err(ApiError::invalid(
            "response_format.type",
            format!(
                "'response_format.type' '{other}' is not one of text, json_object, json_schema"
            ),
        )),
    }
}
