//! Anthropic Messages requests into OpenAI chat completions requests, checked
//! the way Anthropic checks them so a bad request fails here with the 400 an
//! Anthropic client expects, not later with an OpenAI-shaped one.
//!
//! Field by field (see the parent module for what is dropped or refused):
//!
//! | Anthropic | OpenAI |
//! | --- | --- |
//! | `model` | `model` |
//! | `max_tokens` | `max_tokens` |
//! | `system` (string or text blocks) | a leading `system` message |
//! | `messages` | `messages` (see `messages.rs`) |
//! | `temperature`, `top_p` | same names |
//! | `top_k` | `top_k` (an extension of OpenAI's shape: providers whose API has top-k get it, OpenAI-compatible ones refuse it) |
//! | `thinking` enabled (by `budget_tokens`: under 4096 / under 16384 / more) or adaptive | `reasoning_effort` low / medium / high, or medium |
//! | `stop_sequences` | `stop` |
//! | `stream` | `stream`, plus `stream_options.include_usage` |
//! | `metadata.user_id` | `user` |
//! | `tools[]` `{name, description, input_schema}` | `{type: function, function: {name, description, parameters}}` |
//! | `tool_choice` auto / any / tool / none | `auto` / `required` / `{type: function, function: {name}}` / `none` |
//! | `tool_choice.disable_parallel_tool_use: true` | `parallel_tool_calls: false` |

mod messages;

use serde_json::{json, Map, Value};

use super::error::AnthropicError;

type Object = Map<String, Value>;

/// Top-level fields dropped because losing them changes nothing a client
/// relies on: prompt-caching hints and the capacity tier.
const DROPPED: &[&str] = &["cache_control", "service_tier"];

/// Top-level fields refused because the OpenAI format has no equivalent and
/// dropping them would silently change what the client asked for.
const REFUSED: &[(&str, &str)] = &[
    (
        "container",
        "code execution containers are not available here",
    ),
    (
        "inference_geo",
        "the inference region cannot be guaranteed here",
    ),
    (
        "output_config",
        "output configuration has no equivalent here",
    ),
    (
        "output_format",
        "structured output formats have no equivalent here",
    ),
    ("mcp_servers", "MCP servers are not available here"),
    (
        "context_management",
        "context management is not available here",
    ),
];

/// Fields this module maps.
const MAPPED: &[&str] = &[
    "model",
    "max_tokens",
    "messages",
    "system",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "stream",
    "metadata",
    "tools",
    "tool_choice",
    "thinking",
];

/// Most stop sequences an OpenAI request may carry.
const MAX_STOP_SEQUENCES: usize = 4;

/// Translates an Anthropic Messages request body into an OpenAI chat
/// completions request. Every failure is an Anthropic-shaped 400.
pub fn request(body: &[u8]) -> Result<Value, AnthropicError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("the request body is not valid JSON: {e}")))?;
    let Value::Object(req) = root else {
        return Err(invalid("the request body must be a JSON object"));
    };
    check_known_fields(&req)?;
    let mut out = Object::new();
    let model = required(&req, "model")?
        .as_str()
        .ok_or_else(|| invalid("model: Input should be a valid string"))?;
    if model.trim().is_empty() {
        return Err(invalid("model: String should have at least 1 character"));
    }
    out.insert("model".into(), Value::from(model));

    let mut chat = Vec::new();
    if let Some(system) = messages::system(present(&req, "system"))? {
        chat.push(json!({"role": "system", "content": system}));
    }
    messages::translate(required(&req, "messages")?, &mut chat)?;
    out.insert("messages".into(), Value::Array(chat));
    out.insert("max_tokens".into(), Value::from(max_tokens(&req)?));

    for key in ["temperature", "top_p"] {
        if let Some(v) = present(&req, key) {
            let x = v
                .as_f64()
                .ok_or_else(|| invalid(format!("{key}: Input should be a valid number")))?;
            if !(0.0..=1.0).contains(&x) {
                return Err(invalid(format!("{key}: Input should be between 0 and 1")));
            }
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(v) = present(&req, "top_k") {
        let k = v
            .as_u64()
            .ok_or_else(|| invalid("top_k: Input should be a valid integer"))?;
        // Not OpenAI's, but carried on: Gemini, Bedrock and Anthropic
        // providers map it, and the gateway refuses it for OpenAI-compatible
        // ones.
        out.insert("top_k".into(), Value::from(k));
    }
    if let Some(effort) = reasoning_effort(&req)? {
        out.insert("reasoning_effort".into(), Value::from(effort));
    }
    if let Some(stop) = stop_sequences(&req)? {
        out.insert("stop".into(), stop);
    }
    if let Some(v) = present(&req, "stream") {
        let stream = v
            .as_bool()
            .ok_or_else(|| invalid("stream: Input should be a valid boolean"))?;
        out.insert("stream".into(), Value::Bool(stream));
        if stream {
            out.insert("stream_options".into(), json!({"include_usage": true}));
        }
    }
    if let Some(user) = metadata_user(&req)? {
        out.insert("user".into(), Value::from(user));
    }
    if let Some(tools) = present(&req, "tools") {
        out.insert("tools".into(), translate_tools(tools)?);
    }
    if let Some(choice) = present(&req, "tool_choice") {
        let (choice, parallel) = translate_tool_choice(choice)?;
        out.insert("tool_choice".into(), choice);
        if let Some(parallel) = parallel {
            out.insert("parallel_tool_calls".into(), Value::Bool(parallel));
        }
    }
    Ok(Value::Object(out))
}

/// Refuses fields with no equivalent and fields Anthropic does not define.
fn check_known_fields(req: &Object) -> Result<(), AnthropicError> {
    for (key, value) in req {
        if MAPPED.contains(&key.as_str()) || DROPPED.contains(&key.as_str()) || value.is_null() {
            continue;
        }
        if let Some((_, why)) = REFUSED.iter().find(|(k, _)| k == key) {
            return Err(invalid(format!(
                "{key}: not supported by this gateway ({why})"
            )));
        }
        return Err(invalid(format!("{key}: Extra inputs are not permitted")));
    }
    Ok(())
}

/// Thinking budgets below which `reasoning_effort` is `low`, then `medium`;
/// `high` above (the levels OpenAI-compatible reasoning APIs take).
const EFFORT_BELOW: [(u64, &str); 2] = [(4096, "low"), (16384, "medium")];

/// `thinking` as OpenAI's `reasoning_effort`: `enabled` by its budget (see
/// [`EFFORT_BELOW`]), `adaptive` as `medium`, `disabled` as nothing.
fn reasoning_effort(req: &Object) -> Result<Option<&'static str>, AnthropicError> {
    let Some(thinking) = present(req, "thinking") else {
        return Ok(None);
    };
    match thinking.get("type").and_then(Value::as_str) {
        Some("disabled") => Ok(None),
        Some("adaptive") => Ok(Some("medium")),
        Some("enabled") => {
            let budget = thinking
                .get("budget_tokens")
                .and_then(Value::as_u64)
                .ok_or_else(|| invalid("thinking.budget_tokens: Field required"))?;
            Ok(Some(
                EFFORT_BELOW
                    .iter()
                    .find(|(below, _)| budget < *below)
                    .map_or("high", |(_, effort)| effort),
            ))
        }
        _ => Err(invalid(
            "thinking.type: Input should be 'enabled', 'adaptive' or 'disabled'",
        )),
    }
}

fn max_tokens(req: &Object) -> Result<u64, AnthropicError> {
    let v = required(req, "max_tokens")?;
    let n = v
        .as_u64()
        .or_else(|| {
            v.as_f64()
                .filter(|x| x.fract() == 0.0 && *x >= 0.0)
                .map(|x| x as u64)
        })
        .ok_or_else(|| {
            if v.as_i64().is_some_and(|n| n < 0) {
                invalid("max_tokens: Input should be greater than or equal to 0")
            } else {
                invalid("max_tokens: Input should be a valid integer")
            }
        })?;
    if n == 0 {
        return Err(invalid(
            "max_tokens: 0 (prompt cache pre-warming) is not supported by this gateway",
        ));
    }
    Ok(n)
}

fn stop_sequences(req: &Object) -> Result<Option<Value>, AnthropicError> {
    let Some(v) = present(req, "stop_sequences") else {
        return Ok(None);
    };
    let list = v
        .as_array()
        .ok_or_else(|| invalid("stop_sequences: Input should be a valid list"))?;
    for (i, s) in list.iter().enumerate() {
        if !s.is_string() {
            return Err(invalid(format!(
                "stop_sequences.{i}: Input should be a valid string"
            )));
        }
    }
    if list.len() > MAX_STOP_SEQUENCES {
        return Err(invalid(format!(
            "stop_sequences: at most {MAX_STOP_SEQUENCES} stop sequences are supported by this gateway"
        )));
    }
    Ok((!list.is_empty()).then(|| v.clone()))
}

fn metadata_user(req: &Object) -> Result<Option<&str>, AnthropicError> {
    let Some(v) = present(req, "metadata") else {
        return Ok(None);
    };
    let meta = v
        .as_object()
        .ok_or_else(|| invalid("metadata: Input should be a valid dictionary"))?;
    match present(meta, "user_id") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(invalid("metadata.user_id: Input should be a valid string")),
    }
}

fn translate_tools(tools: &Value) -> Result<Value, AnthropicError> {
    let list = tools
        .as_array()
        .ok_or_else(|| invalid("tools: Input should be a valid list"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        let at = format!("tools.{i}");
        let tool = tool
            .as_object()
            .ok_or_else(|| invalid(format!("{at}: Input should be a valid dictionary")))?;
        match present(tool, "type").map(|t| t.as_str()) {
            None | Some(Some("custom")) => {}
            Some(Some(other)) => {
                return Err(invalid(format!(
                    "{at}.type: server tool '{other}' is not supported by this gateway; \
                     only client tools (name, description, input_schema) are"
                )))
            }
            Some(None) => {
                return Err(invalid(format!(
                    "{at}.type: Input should be a valid string"
                )))
            }
        }
        let name = match tool.get("name") {
            Some(Value::String(s)) if !s.is_empty() => s,
            Some(_) => {
                return Err(invalid(format!(
                    "{at}.name: Input should be a non-empty string"
                )))
            }
            None => return Err(invalid(format!("{at}.name: Field required"))),
        };
        let schema = match tool.get("input_schema") {
            Some(s @ Value::Object(_)) => s,
            Some(_) => {
                return Err(invalid(format!(
                    "{at}.input_schema: Input should be a valid dictionary"
                )))
            }
            None => return Err(invalid(format!("{at}.input_schema: Field required"))),
        };
        let mut function = Object::new();
        function.insert("name".into(), Value::from(name.as_str()));
        match present(tool, "description") {
            None => {}
            Some(d @ Value::String(_)) => {
                function.insert("description".into(), d.clone());
            }
            Some(_) => {
                return Err(invalid(format!(
                    "{at}.description: Input should be a valid string"
                )))
            }
        }
        function.insert("parameters".into(), schema.clone());
        out.push(json!({"type": "function", "function": function}));
    }
    Ok(Value::Array(out))
}

/// The OpenAI `tool_choice`, and `parallel_tool_calls` when the client
/// disabled parallel tool use.
fn translate_tool_choice(choice: &Value) -> Result<(Value, Option<bool>), AnthropicError> {
    let choice = choice
        .as_object()
        .ok_or_else(|| invalid("tool_choice: Input should be a valid dictionary"))?;
    let kind = choice.get("type").and_then(Value::as_str).unwrap_or("");
    let out = match kind {
        "auto" => Value::from("auto"),
        "any" => Value::from("required"),
        "none" => return Ok((Value::from("none"), None)),
        "tool" => match choice.get("name") {
            Some(Value::String(name)) if !name.is_empty() => {
                json!({"type": "function", "function": {"name": name}})
            }
            Some(_) => {
                return Err(invalid(
                    "tool_choice.name: Input should be a non-empty string",
                ))
            }
            None => return Err(invalid("tool_choice.name: Field required")),
        },
        _ => {
            return Err(invalid(
                "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'",
            ))
        }
    };
    let parallel = match present(choice, "disable_parallel_tool_use") {
        None => None,
        Some(Value::Bool(true)) => Some(false),
        Some(Value::Bool(false)) => None,
        Some(_) => {
            return Err(invalid(
                "tool_choice.disable_parallel_tool_use: Input should be a valid boolean",
            ))
        }
    };
    Ok((out, parallel))
}

/// A field that is present and not `null`.
fn present<'a>(obj: &'a Object, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// A required field; absent or `null` is Anthropic's "Field required".
fn required<'a>(obj: &'a Object, key: &str) -> Result<&'a Value, AnthropicError> {
    present(obj, key).ok_or_else(|| invalid(format!("{key}: Field required")))
}

fn invalid(message: impl Into<String>) -> AnthropicError {
    AnthropicError::invalid_request(message)
}

/// A content block as an object.
fn block_object<'a>(block: &'a Value, at: &str) -> Result<&'a Object, AnthropicError> {
    block
        .as_object()
        .ok_or_else(|| invalid(format!("{at}: Input should be a valid dictionary")))
}

/// A content block's `type`.
fn block_type<'a>(block: &'a Object, at: &str) -> Result<&'a str, AnthropicError> {
    match block.get("type") {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(invalid(format!(
            "{at}.type: Input should be a valid string"
        ))),
        None => Err(invalid(format!("{at}.type: Field required"))),
    }
}

/// A required string field of `obj`, `at` naming where `obj` is.
fn string_field<'a>(obj: &'a Object, key: &str, at: &str) -> Result<&'a str, AnthropicError> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(invalid(format!(
            "{at}.{key}: Input should be a valid string"
        ))),
        None => Err(invalid(format!("{at}.{key}: Field required"))),
    }
}
