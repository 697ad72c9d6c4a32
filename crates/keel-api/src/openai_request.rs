//! Reading an OpenAI chat completions request for translation into another
//! provider's format: the field lookups, checks and pieces every provider
//! translation (`{anthropic,gemini,bedrock}::from_openai`) shares. Errors
//! are 400s naming the field, in the OpenAI shape the client speaks.

use serde_json::{Map, Value};

use crate::error::ApiError;

/// A JSON object of the request.
pub(crate) type Object = Map<String, Value>;

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
