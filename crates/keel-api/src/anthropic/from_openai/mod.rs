//! OpenAI chat completions requests into Anthropic Messages requests, for a
//! native Anthropic provider behind an OpenAI client. Every failure is a 400
//! [`ApiError`] naming the field, so the client sees the refusal in the
//! OpenAI shape it speaks.
//!
//! | OpenAI | Anthropic |
//! | --- | --- |
//! | `model` | `model` |
//! | `system` / `developer` messages | `system` (texts joined by a blank line) |
//! | `messages` | `messages` (see `messages.rs`) |
//! | `max_completion_tokens`, else `max_tokens` | `max_tokens`, [`DEFAULT_MAX_TOKENS`] when both are absent |
//! | `temperature` (at most 1), `top_p` | same names |
//! | `top_k` (an extension of OpenAI's shape) | `top_k` |
//! | `stop` (string or list) | `stop_sequences` |
//! | `stream` | `stream` |
//! | `user` | `metadata.user_id` |
//! | `tools[]` `{type: function, function: {name, description, parameters}}` | `{name, description, input_schema}` |
//! | `tool_choice` none / auto / required / `{function: {name}}` | none / auto / any / tool |
//! | `parallel_tool_calls: false` | `tool_choice.disable_parallel_tool_use: true` |
//! | `reasoning_effort` low / medium / high | `thinking: {type: enabled, budget_tokens}` of [`THINKING_BUDGETS`]; `none` / `minimal`: no thinking |
//!
//! With `reasoning_effort`, `max_completion_tokens` keeps OpenAI's meaning
//! (reasoning included): the budget is cut to half of it (never under
//! Anthropic's smallest budget, 1024), and a limit of 1024 or less is
//! refused. Without a limit,
//! `max_tokens` is the budget plus [`DEFAULT_MAX_TOKENS`]. `temperature`
//! other than 1 and `top_k` are refused with it, as Anthropic refuses them
//! with thinking. The answer's thinking comes back as `reasoning_content`
//! (see [`super::to_openai`]). A conversation that continues after tool
//! calls made while thinking needs Anthropic's signed thinking blocks, which
//! OpenAI messages cannot carry: Anthropic refuses it, and its 400 reaches
//! the client.
//!
//! Anthropic requires `max_tokens`; OpenAI does not, so a request without it
//! gets [`DEFAULT_MAX_TOKENS`].
//!
//! Dropped, because losing them changes nothing the client relies on:
//! `stream_options` (the caller reads `include_usage` itself), `store`,
//! `metadata` (OpenAI's stored-completion tags), `service_tier`,
//! `prompt_cache_key`, `safety_identifier`, `tools[].function.strict`,
//! message `name`s, `n: 1`, `logprobs: false`, `response_format: text`, and
//! `presence_penalty` / `frequency_penalty` of 0.
//!
//! Refused, because dropping them would silently change the answer: `n` above
//! 1, `logprobs: true`, `top_logprobs`, `response_format` `json_object` or
//! `json_schema`, non-zero penalties, `seed`, `logit_bias`, `temperature`
//! above 1, `modalities`, `audio`, `prediction`,
//! `web_search_options`, the legacy `functions` / `function_call`, and any
//! other field the chat completions API does not define.

mod messages;

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::openai_request::{
    bad_tool_choice, function_tools, number, one_choice, present, request_object, required_model,
    stream, top_k, KnownFields, Object,
};

/// The `max_tokens` sent when the client set no limit: Anthropic requires one.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// Thinking budgets (tokens) for OpenAI's `reasoning_effort` levels.
pub const THINKING_BUDGETS: [(&str, u64); 3] = [("low", 1024), ("medium", 4096), ("high", 16384)];

/// Anthropic's smallest thinking budget.
const MIN_THINKING_BUDGET: u64 = 1024;

/// Fields dropped because losing them changes nothing a client relies on.
const DROPPED: &[&str] = &[
    "stream_options",
    "store",
    "metadata",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
];

/// Fields refused outright: Anthropic has no equivalent.
const REFUSED: &[&str] = &[
    "seed",
    "top_logprobs",
    "modalities",
    "audio",
    "prediction",
    "web_search_options",
    "functions",
    "function_call",
];

/// Fields this module maps, or checks and then drops.
const MAPPED: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "top_k",
    "reasoning_effort",
    "stop",
    "stream",
    "user",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "n",
    "logprobs",
    "response_format",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
];

/// The fields this translation knows, for [`KnownFields::check`].
const FIELDS: KnownFields = KnownFields {
    mapped: MAPPED,
    dropped: DROPPED,
    refused: REFUSED,
    provider: "Anthropic",
};

/// Translates an OpenAI chat completions request into an Anthropic Messages
/// request, so an OpenAI client can be served by an Anthropic provider.
pub fn request(openai: &Value) -> Result<Value, ApiError> {
    let req = request_object(openai)?;
    check_fields(req)?;
    let mut out = Object::new();
    out.insert("model".into(), Value::from(required_model(req)?));
    let messages = present(req, "messages")
        .ok_or_else(|| ApiError::invalid("messages", "messages is required"))?;
    let (system, turns) = messages::translate(messages)?;
    if let Some(system) = system {
        out.insert("system".into(), Value::from(system));
    }
    out.insert("messages".into(), Value::Array(turns));
    let budget = thinking_budget(req)?;
    let (limit, budget) = limit_and_budget(req, budget)?;
    out.insert("max_tokens".into(), Value::from(limit));
    if let Some(budget) = budget {
        out.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    }
    if let Some(t) = present(req, "temperature") {
        let x = number(t, "temperature")?;
        if !(0.0..=1.0).contains(&x) {
            return Err(ApiError::invalid(
                "temperature",
                "temperature must be between 0 and 1 for this model's provider",
            ));
        }
        if budget.is_some() && x != 1.0 {
            return Err(ApiError::invalid(
                "temperature",
                "temperature cannot be set with reasoning_effort for this model's provider",
            ));
        }
        out.insert("temperature".into(), t.clone());
    }
    if let Some(p) = present(req, "top_p") {
        number(p, "top_p")?;
        out.insert("top_p".into(), p.clone());
    }
    if let Some(k) = top_k(req)? {
        if budget.is_some() {
            return Err(ApiError::invalid(
                "top_k",
                "top_k cannot be set with reasoning_effort for this model's provider",
            ));
        }
        out.insert("top_k".into(), Value::from(k));
    }
    if let Some(stop) = stop_sequences(req)? {
        out.insert("stop_sequences".into(), stop);
    }
    if let Some(s) = stream(req)? {
        out.insert("stream".into(), Value::Bool(s));
    }
    match present(req, "user") {
        None => {}
        Some(Value::String(u)) => {
            out.insert("metadata".into(), json!({"user_id": u}));
        }
        Some(_) => return Err(ApiError::invalid("user", "user must be a string")),
    }
    if let Some(tools) = present(req, "tools") {
        out.insert("tools".into(), translate_tools(tools)?);
    }
    if let Some(choice) = tool_choice(req)? {
        out.insert("tool_choice".into(), choice);
    }
    Ok(Value::Object(out))
}

/// Refuses fields with no Anthropic equivalent and values that cannot be
/// honoured; unknown fields are refused as OpenAI refuses them.
fn check_fields(req: &Object) -> Result<(), ApiError> {
    FIELDS.check(req)?;
    one_choice(req)?;
    FIELDS.refuse_logprobs(req)?;
    if let Some(format) = present(req, "response_format") {
        if format.get("type").and_then(Value::as_str) != Some("text") {
            return Err(FIELDS.unsupported("response_format"));
        }
    }
    for key in ["presence_penalty", "frequency_penalty"] {
        if present(req, key).is_some_and(|v| v.as_f64() != Some(0.0)) {
            return Err(FIELDS.unsupported(key));
        }
    }
    if present(req, "logit_bias").is_some_and(|v| v.as_object().is_none_or(|m| !m.is_empty())) {
        return Err(FIELDS.unsupported("logit_bias"));
    }
    Ok(())
}

/// The thinking budget `reasoning_effort` asks for (`None`: no thinking).
fn thinking_budget(req: &Object) -> Result<Option<u64>, ApiError> {
    let Some(effort) = present(req, "reasoning_effort") else {
        return Ok(None);
    };
    match effort.as_str() {
        Some("none" | "minimal") => Ok(None),
        Some(level) => THINKING_BUDGETS
            .iter()
            .find(|(name, _)| *name == level)
            .map(|(_, budget)| Some(*budget))
            .ok_or_else(|| {
                ApiError::invalid(
                    "reasoning_effort",
                    "reasoning_effort must be none, minimal, low, medium or high",
                )
            }),
        None => Err(ApiError::invalid(
            "reasoning_effort",
            "reasoning_effort must be a string",
        )),
    }
}

/// `max_tokens` and the thinking budget that fits under it (see the module
/// doc).
fn limit_and_budget(req: &Object, budget: Option<u64>) -> Result<(u64, Option<u64>), ApiError> {
    let limit = max_tokens(req)?;
    let Some(budget) = budget else {
        return Ok((limit, None));
    };
    let explicit = ["max_completion_tokens", "max_tokens"]
        .into_iter()
        .find(|k| present(req, k).is_some());
    match explicit {
        None => Ok((DEFAULT_MAX_TOKENS + budget, Some(budget))),
        Some(key) if limit <= MIN_THINKING_BUDGET => Err(ApiError::invalid(
            key,
            format!(
                "{key} must be above {MIN_THINKING_BUDGET} with reasoning_effort for this model's provider"
            ),
        )),
        // Half the limit at most (the answer needs room too), never under
        // Anthropic's minimum, always under the limit.
        Some(_) => Ok((
            limit,
            Some(
                budget
                    .min((limit / 2).max(MIN_THINKING_BUDGET))
                    .min(limit - 1),
            ),
        )),
    }
}

fn max_tokens(req: &Object) -> Result<u64, ApiError> {
    let key = if present(req, "max_completion_tokens").is_some() {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    match present(req, key) {
        None => Ok(DEFAULT_MAX_TOKENS),
        Some(v) => v
            .as_u64()
            .filter(|n| *n > 0)
            .ok_or_else(|| ApiError::invalid(key, format!("{key} must be a positive integer"))),
    }
}

fn stop_sequences(req: &Object) -> Result<Option<Value>, ApiError> {
    match present(req, "stop") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(json!([s]))),
        Some(Value::Array(list)) if list.iter().all(Value::is_string) => {
            Ok((!list.is_empty()).then(|| Value::Array(list.clone())))
        }
        Some(_) => Err(ApiError::invalid(
            "stop",
            "stop must be a string or a list of strings",
        )),
    }
}

fn translate_tools(tools: &Value) -> Result<Value, ApiError> {
    let out = function_tools(tools)?
        .into_iter()
        .map(|tool| {
            let mut entry = Object::new();
            entry.insert("name".into(), Value::from(tool.name));
            if let Some(description) = tool.description {
                entry.insert("description".into(), Value::from(description));
            }
            let schema = tool
                .parameters
                .cloned()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            entry.insert("input_schema".into(), schema);
            Value::Object(entry)
        })
        .collect();
    Ok(Value::Array(out))
}

/// The Anthropic `tool_choice`, folding in `parallel_tool_calls: false`.
fn tool_choice(req: &Object) -> Result<Option<Value>, ApiError> {
    let serial = match present(req, "parallel_tool_calls") {
        None => false,
        Some(Value::Bool(b)) => !b,
        Some(_) => {
            return Err(ApiError::invalid(
                "parallel_tool_calls",
                "parallel_tool_calls must be a boolean",
            ))
        }
    };
    let mut choice = match present(req, "tool_choice") {
        None if serial && present(req, "tools").is_some() => json!({"type": "auto"}),
        None => return Ok(None),
        Some(Value::String(s)) => match s.as_str() {
            "none" => return Ok(Some(json!({"type": "none"}))),
            "auto" => json!({"type": "auto"}),
            "required" => json!({"type": "any"}),
            _ => return Err(bad_tool_choice()),
        },
        Some(Value::Object(o)) => match o.get("function").and_then(|f| f.get("name")) {
            Some(Value::String(name)) if !name.is_empty() => {
                json!({"type": "tool", "name": name})
            }
            _ => return Err(bad_tool_choice()),
        },
        Some(_) => return Err(bad_tool_choice()),
    };
    if serial {
        choice["disable_parallel_tool_use"] = Value::Bool(true);
    }
    Ok(Some(choice))
}
