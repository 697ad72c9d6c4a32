//! Reading an OpenAI chat completions request for translation into another
//! provider's format: the field lookups, checks and pieces every provider
//! translation (`{anthropic,gemini,bedrock}::from_openai`) shares. Errors
//! are 400s naming the field, in the OpenAI shape the client speaks.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// A JSON object of the request.
pub(crate) type Object = Map<String, Value>;

/// The request body as an object.
pub(crate) fn request_object(openai: &Value) -> Result<&Object, ApiError> {
    openai
        .as_object()
        .ok_or_else(|| ApiError::invalid("body", "the request body must be a JSON object"))
}

/// `model`, required and non-empty.
pub(crate) fn required_model(req: &Object) -> Result<&str, ApiError> {
    match present(req, "model") {
        Some(Value::String(m)) if !m.trim().is_empty() => Ok(m),
        Some(_) => Err(ApiError::invalid(
            "model",
            "model must be a non-empty string",
        )),
        None => Err(ApiError::invalid("model", "model is required")),
    }
}

/// `stream`, when set.
pub(crate) fn stream(req: &Object) -> Result<Option<bool>, ApiError> {
    present(req, "stream")
        .map(|s| {
            s.as_bool()
                .ok_or_else(|| ApiError::invalid("stream", "stream must be a boolean"))
        })
        .transpose()
}

/// A field that is present and not `null`.
pub(crate) fn present<'a>(obj: &'a Object, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// A field that must be a number.
pub(crate) fn number(v: &Value, key: &str) -> Result<f64, ApiError> {
    v.as_f64()
        .ok_or_else(|| ApiError::invalid(key, format!("{key} must be a number")))
}

/// `top_k`: not part of OpenAI's API but an extension many compatible
/// servers take, and the field Keel carries an Anthropic client's `top_k`
/// in. `None` when absent or `null`.
pub(crate) fn top_k(request: &Object) -> Result<Option<u64>, ApiError> {
    match present(request, "top_k") {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| ApiError::invalid("top_k", "top_k must be a non-negative integer")),
    }
}

/// The 400 for a field `provider`'s API has no equivalent of.
pub(crate) fn unsupported(key: &str, provider: &str) -> ApiError {
    ApiError::invalid(
        key,
        format!("{key} is not supported by this model's provider ({provider} has no equivalent)"),
    )
}

/// The top-level fields one translation knows: what it maps (or checks and
/// drops itself), what it drops, and what it refuses.
pub(crate) struct KnownFields {
    pub(crate) mapped: &'static [&'static str],
    pub(crate) dropped: &'static [&'static str],
    pub(crate) refused: &'static [&'static str],
    /// The provider named in refusals.
    pub(crate) provider: &'static str,
}

impl KnownFields {
    /// The 400 for a field this provider has no equivalent of.
    pub(crate) fn unsupported(&self, key: &str) -> ApiError {
        unsupported(key, self.provider)
    }

    /// Refuses a refused field, and any field the translation does not
    /// know, as OpenAI refuses unknown arguments; `null` fields pass.
    pub(crate) fn check(&self, req: &Object) -> Result<(), ApiError> {
        for (key, value) in req {
            let key = key.as_str();
            if value.is_null() || self.dropped.contains(&key) || self.mapped.contains(&key) {
                continue;
            }
            if self.refused.contains(&key) {
                return Err(self.unsupported(key));
            }
            return Err(ApiError::invalid(
                key,
                format!("unrecognized request argument: {key}"),
            ));
        }
        Ok(())
    }

    /// Refuses `logprobs` unless it is `false`: no provider here returns
    /// them.
    pub(crate) fn refuse_logprobs(&self, req: &Object) -> Result<(), ApiError> {
        match present(req, "logprobs") {
            Some(v) if v != &Value::Bool(false) => Err(self.unsupported("logprobs")),
            _ => Ok(()),
        }
    }
}

/// Refuses `n` other than 1, for providers that answer with one choice.
pub(crate) fn one_choice(req: &Object) -> Result<(), ApiError> {
    match present(req, "n") {
        Some(n) if n.as_u64() != Some(1) => Err(ApiError::invalid(
            "n",
            "n: only one choice per request is supported by this model's provider",
        )),
        _ => Ok(()),
    }
}

/// The 400 for a `tool_choice` that is none of OpenAI's forms.
pub(crate) fn bad_tool_choice() -> ApiError {
    ApiError::invalid(
        "tool_choice",
        "tool_choice must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": …}}",
    )
}

/// A content part's `type`.
pub(crate) fn part_type(part: &Value) -> Option<&str> {
    part.get("type").and_then(Value::as_str)
}

/// Content that may only hold text: a string or `text` parts, joined.
/// `at` names the message (`messages[i]`).
pub(crate) fn text_only(content: Option<&Value>, at: &str) -> Result<String, ApiError> {
    match content {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for (j, part) in parts.iter().enumerate() {
                match (part_type(part), part.get("text")) {
                    (Some("text"), Some(Value::String(s))) => text.push_str(s),
                    _ => {
                        return Err(ApiError::invalid(
                            format!("{at}.content[{j}]"),
                            "only text parts are allowed here",
                        ))
                    }
                }
            }
            Ok(text)
        }
        Some(_) => Err(ApiError::invalid(
            format!("{at}.content"),
            "content must be a string or a list of parts",
        )),
    }
}

/// One entry of `tools`, checked: a function with a non-empty name, an
/// optional string description and an optional JSON Schema object.
pub(crate) struct FunctionTool<'a> {
    pub(crate) name: &'a str,
    pub(crate) description: Option<&'a str>,
    pub(crate) parameters: Option<&'a Value>,
}

/// The function tools of `tools`; any other kind of tool is refused.
pub(crate) fn function_tools(tools: &Value) -> Result<Vec<FunctionTool<'_>>, ApiError> {
    let list = tools
        .as_array()
        .ok_or_else(|| ApiError::invalid("tools", "tools must be a list"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        let at = format!("tools[{i}]");
        if tool.get("type").and_then(Value::as_str) != Some("function") {
            return Err(ApiError::invalid(
                format!("{at}.type"),
                "only function tools are supported by this model's provider",
            ));
        }
        let function = tool
            .get("function")
            .and_then(Value::as_object)
            .ok_or_else(|| ApiError::invalid(format!("{at}.function"), "function is required"))?;
        let name = match function.get("name") {
            Some(Value::String(n)) if !n.is_empty() => n.as_str(),
            _ => {
                return Err(ApiError::invalid(
                    format!("{at}.function.name"),
                    "the function name must be a non-empty string",
                ))
            }
        };
        let description = match present(function, "description") {
            None => None,
            Some(Value::String(d)) => Some(d.as_str()),
            Some(_) => {
                return Err(ApiError::invalid(
                    format!("{at}.function.description"),
                    "the description must be a string",
                ))
            }
        };
        let parameters = match present(function, "parameters") {
            None => None,
            Some(p @ Value::Object(_)) => Some(p),
            Some(_) => {
                return Err(ApiError::invalid(
                    format!("{at}.function.parameters"),
                    "parameters must be a JSON Schema object",
                ))
            }
        };
        out.push(FunctionTool {
            name,
            description,
            parameters,
        });
    }
    Ok(out)
}

/// A `user` message's content as the provider's blocks: a string or each
/// `text` part through `text`, each `image_url` part through `image`; other
/// parts and empty content are refused. `at` names the message.
pub(crate) fn user_content(
    content: Option<&Value>,
    at: &str,
    text: impl Fn(&str) -> Value,
    image: impl Fn(&Value, &str) -> Result<Value, ApiError>,
) -> Result<Vec<Value>, ApiError> {
    let blocks =
        match content {
            Some(Value::String(s)) => vec![text(s)],
            Some(Value::Array(parts)) => {
                let mut blocks = Vec::with_capacity(parts.len());
                for (j, part) in parts.iter().enumerate() {
                    let at = format!("{at}.content[{j}]");
                    blocks.push(match (part_type(part), part.get("text")) {
                        (Some("text"), Some(Value::String(s))) => text(s),
                        (Some("image_url"), _) => image(part, &at)?,
                        _ => return Err(ApiError::invalid(
                            at,
                            "only text and image_url parts are supported by this model's provider",
                        )),
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

/// One tool call of an assistant message, checked: its id, its function's
/// name and its arguments parsed into an object (`{}` when empty).
pub(crate) struct ToolCall<'a> {
    pub(crate) id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) input: Value,
}

/// An `assistant` message as the provider's blocks: its text through
/// `text` (when not empty), then each tool call through `call`. A message
/// with neither is refused, as are calls without an id or name and
/// arguments that are not a JSON object.
pub(crate) fn assistant_content(
    message: &Object,
    at: &str,
    text: impl Fn(&str) -> Value,
    call: impl Fn(ToolCall<'_>) -> Value,
) -> Result<Vec<Value>, ApiError> {
    let mut blocks = Vec::new();
    let content = text_only(present(message, "content"), at)?;
    if !content.is_empty() {
        blocks.push(text(&content));
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
    for (j, tool_call) in calls.iter().enumerate() {
        let at = format!("{at}.tool_calls[{j}]");
        let field = |pointer: &str, name: &str| {
            tool_call
                .pointer(pointer)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    ApiError::invalid(format!("{at}.{name}"), format!("{name} is required"))
                })
        };
        let id = field("/id", "id")?;
        let name = field("/function/name", "function.name")?;
        let arguments = tool_call
            .pointer("/function/arguments")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let input = if arguments.trim().is_empty() {
            serde_json::json!({})
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
        blocks.push(call(ToolCall { id, name, input }));
    }
    if blocks.is_empty() {
        return Err(ApiError::invalid(
            format!("{at}.content"),
            "an assistant message needs content or tool_calls",
        ));
    }
    Ok(blocks)
}

/// A `tool` message's `tool_call_id`, required.
pub(crate) fn tool_call_id<'a>(message: &'a Object, at: &str) -> Result<&'a str, ApiError> {
    match message.get("tool_call_id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id),
        _ => Err(ApiError::invalid(
            format!("{at}.tool_call_id"),
            "tool_call_id is required",
        )),
    }
}

/// Who wrote a message (`developer` counts as `system`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// The turns of a conversation, each a role and its blocks.
pub(crate) type Turns = Vec<(&'static str, Vec<Value>)>;

/// Walks `messages` as every translation does: each message must be an
/// object with a known role, and is handed to `translate` with its role,
/// the messages before it (to find the call a tool result answers) and its
/// name (`messages[i]`). `translate` gives the role and blocks of the turn
/// it adds to, or `None` when it keeps the message itself (system prompts).
/// Consecutive turns of one role are merged; a conversation with no turns,
/// or no messages, is refused.
pub(crate) fn conversation<'a>(
    messages: &'a Value,
    mut translate: impl FnMut(
        Role,
        &'a Object,
        &'a [Value],
        &str,
    ) -> Result<Option<(&'static str, Vec<Value>)>, ApiError>,
) -> Result<Turns, ApiError> {
    let list = messages
        .as_array()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| ApiError::invalid("messages", "messages must be a non-empty list"))?;
    let mut turns: Turns = Vec::new();
    for (i, message) in list.iter().enumerate() {
        let at = format!("messages[{i}]");
        let message = message
            .as_object()
            .ok_or_else(|| ApiError::invalid(at.as_str(), "a message must be an object"))?;
        let role = match message.get("role").and_then(Value::as_str).unwrap_or("") {
            "system" | "developer" => Role::System,
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "tool" => Role::Tool,
            _ => {
                return Err(ApiError::invalid(
                    format!("{at}.role"),
                    "role must be system, developer, user, assistant or tool",
                ))
            }
        };
        let Some((role, blocks)) = translate(role, message, &list[..i], &at)? else {
            continue;
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
    Ok(turns)
}
