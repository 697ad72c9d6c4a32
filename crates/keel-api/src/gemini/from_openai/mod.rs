//! OpenAI chat completions requests into Gemini `GenerateContentRequest`s,
//! for a Gemini provider behind an OpenAI client. Every failure is a 400
//! [`ApiError`] naming the field, so the client sees the refusal in the
//! OpenAI shape it speaks.
//!
//! | OpenAI | Gemini |
//! | --- | --- |
//! | `model` | not in the body: the provider puts it in the URL |
//! | `system` / `developer` messages | `systemInstruction` (texts joined by a blank line) |
//! | `messages` | `contents` with roles `user` / `model` (see `messages.rs`) |
//! | `max_completion_tokens`, else `max_tokens` | `generationConfig.maxOutputTokens` |
//! | `temperature` (0 to 2), `top_p` | `generationConfig.temperature`, `topP` |
//! | `top_k` (an extension of OpenAI's shape) | `generationConfig.topK` |
//! | `stop` (string or list, at most 5) | `generationConfig.stopSequences` |
//! | `n` | `generationConfig.candidateCount` |
//! | `seed` (a 32-bit integer) | `generationConfig.seed` |
//! | `presence_penalty`, `frequency_penalty` | `generationConfig.presencePenalty`, `frequencyPenalty` |
//! | `response_format` `json_object` | `generationConfig.responseMimeType: application/json` |
//! | `response_format` `json_schema` | the same plus `responseJsonSchema` (the schema as sent) |
//! | `tools[]` `{type: function, function: {name, description, parameters}}` | `tools[{functionDeclarations: [{name, description, parametersJsonSchema}]}]` |
//! | `tool_choice` none / auto / required / `{function: {name}}` | `toolConfig.functionCallingConfig.mode` NONE / AUTO / ANY / ANY with `allowedFunctionNames: [name]` |
//!
//! Tool parameters go in `parametersJsonSchema`, which takes JSON Schema as
//! OpenAI clients write it, rather than `parameters`, which takes Gemini's
//! OpenAPI subset (upper-case types, no `additionalProperties`…); the
//! response schema likewise goes in `responseJsonSchema`, not
//! `responseSchema`. Gemini documents that it honours only part of JSON
//! Schema there; what it cannot honour it reports itself.
//!
//! `stream` is checked and left out: Gemini streams when the provider calls
//! `streamGenerateContent` instead of `generateContent`.
//!
//! Dropped, because losing them changes nothing the client relies on:
//! `stream_options` (the caller reads `include_usage` itself), `store`,
//! `metadata` (OpenAI's stored-completion tags), `service_tier`,
//! `prompt_cache_key`, `safety_identifier`, `user` (an end-user id for
//! OpenAI's abuse monitoring), `tools[].function.strict`,
//! `response_format.json_schema.name` / `strict` / `description`, message
//! `name`s, image `detail`, `logprobs: false`, an empty `logit_bias`,
//! `response_format: text`, `parallel_tool_calls: true`, and
//! `parallel_tool_calls: false` when there are no tools or `tool_choice` is
//! `none`.
//!
//! Refused, because dropping them would silently change the answer:
//! `logprobs: true` and `top_logprobs` (the answer's log-probabilities are
//! not translated back), a non-empty `logit_bias`, `parallel_tool_calls:
//! false` with tools (Gemini has no switch for it), `reasoning_effort`,
//! `modalities`, `audio`, `prediction`, `web_search_options`, the legacy
//! `functions` / `function_call`, and any other field the chat completions
//! API does not define.

mod messages;

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::openai_request::{
    bad_tool_choice, function_tools, number, present, request_object, required_model, stream,
    top_k, KnownFields, Object,
};

/// Most stop sequences Gemini accepts.
pub const MAX_STOP_SEQUENCES: usize = 5;

/// Fields dropped because losing them changes nothing a client relies on.
const DROPPED: &[&str] = &[
    "stream_options",
    "store",
    "metadata",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
    "user",
];

/// Fields refused outright: Gemini has no equivalent Keel translates.
const REFUSED: &[&str] = &[
    "top_logprobs",
    "reasoning_effort",
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
    "stop",
    "stream",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "n",
    "seed",
    "logprobs",
    "logit_bias",
    "response_format",
    "presence_penalty",
    "frequency_penalty",
];

/// The fields this translation knows, for [`KnownFields::check`].
const FIELDS: KnownFields = KnownFields {
    mapped: MAPPED,
    dropped: DROPPED,
    refused: REFUSED,
    provider: "Gemini",
};

/// Translates an OpenAI chat completions request into a Gemini
/// `GenerateContentRequest` body, so an OpenAI client can be served by a
/// Gemini provider. The model is not part of the body (it is in the URL).
pub fn request(openai: &Value) -> Result<Value, ApiError> {
    let req = request_object(openai)?;
    check_fields(req)?;
    required_model(req)?;
    stream(req)?;
    let messages = present(req, "messages")
        .ok_or_else(|| ApiError::invalid("messages", "messages is required"))?;
    let (system, contents) = messages::translate(messages)?;
    let mut out = Object::new();
    out.insert("contents".into(), Value::Array(contents));
    if let Some(system) = system {
        out.insert(
            "systemInstruction".into(),
            json!({"parts": [{"text": system}]}),
        );
    }
    if let Some(tools) = present(req, "tools") {
        let declarations = translate_tools(tools)?;
        if !declarations.is_empty() {
            out.insert(
                "tools".into(),
                json!([{"functionDeclarations": declarations}]),
            );
        }
    }
    if let Some(config) = tool_config(req)? {
        out.insert("toolConfig".into(), config);
    }
    let config = generation_config(req)?;
    if !config.is_empty() {
        out.insert("generationConfig".into(), Value::Object(config));
    }
    Ok(Value::Object(out))
}

/// Refuses fields with no Gemini equivalent and values that cannot be
/// honoured; unknown fields are refused as OpenAI refuses them.
fn check_fields(req: &Object) -> Result<(), ApiError> {
    FIELDS.check(req)?;
    FIELDS.refuse_logprobs(req)?;
    if present(req, "logit_bias").is_some_and(|v| v.as_object().is_none_or(|m| !m.is_empty())) {
        return Err(FIELDS.unsupported("logit_bias"));
    }
    match present(req, "parallel_tool_calls") {
        None | Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => {
            let has_tools = present(req, "tools")
                .and_then(Value::as_array)
                .is_some_and(|t| !t.is_empty());
            let calls_off = present(req, "tool_choice").and_then(Value::as_str) == Some("none");
            if has_tools && !calls_off {
                return Err(FIELDS.unsupported("parallel_tool_calls"));
            }
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "parallel_tool_calls",
                "parallel_tool_calls must be a boolean",
            ))
        }
    }
    Ok(())
}

/// `generationConfig` from the sampling, length, stop and format fields.
fn generation_config(req: &Object) -> Result<Object, ApiError> {
    let mut config = Object::new();
    if let Some(t) = present(req, "temperature") {
        let x = number(t, "temperature")?;
        if !(0.0..=2.0).contains(&x) {
            return Err(ApiError::invalid(
                "temperature",
                "temperature must be between 0 and 2",
            ));
        }
        config.insert("temperature".into(), t.clone());
    }
    if let Some(p) = present(req, "top_p") {
        number(p, "top_p")?;
        config.insert("topP".into(), p.clone());
    }
    if let Some(k) = top_k(req)? {
        config.insert("topK".into(), Value::from(k));
    }
    if let Some(limit) = max_tokens(req)? {
        config.insert("maxOutputTokens".into(), Value::from(limit));
    }
    if let Some(stop) = stop_sequences(req)? {
        config.insert("stopSequences".into(), stop);
    }
    if let Some(n) = present(req, "n") {
        let n = n
            .as_u64()
            .filter(|n| (1..=i32::MAX as u64).contains(n))
            .ok_or_else(|| ApiError::invalid("n", "n must be a positive integer"))?;
        if n != 1 {
            config.insert("candidateCount".into(), Value::from(n));
        }
    }
    if let Some(seed) = present(req, "seed") {
        let seed = seed
            .as_i64()
            .filter(|s| i32::try_from(*s).is_ok())
            .ok_or_else(|| {
                ApiError::invalid(
                    "seed",
                    "seed must be an integer that fits in 32 bits for this model's provider",
                )
            })?;
        config.insert("seed".into(), Value::from(seed));
    }
    for (key, name) in [
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ] {
        if let Some(p) = present(req, key) {
            let x = number(p, key)?;
            if !(-2.0..=2.0).contains(&x) {
                return Err(ApiError::invalid(
                    key,
                    format!("{key} must be between -2 and 2"),
                ));
            }
            config.insert(name.into(), p.clone());
        }
    }
    if let Some(format) = present(req, "response_format") {
        response_format(format, &mut config)?;
    }
    Ok(config)
}

fn max_tokens(req: &Object) -> Result<Option<u64>, ApiError> {
    let key = if present(req, "max_completion_tokens").is_some() {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    match present(req, key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=i32::MAX as u64).contains(n))
            .map(Some)
            .ok_or_else(|| ApiError::invalid(key, format!("{key} must be a positive integer"))),
    }
}

fn stop_sequences(req: &Object) -> Result<Option<Value>, ApiError> {
    let list = match present(req, "stop") {
        None => return Ok(None),
        Some(Value::String(s)) => vec![Value::from(s.as_str())],
        Some(Value::Array(list)) if list.iter().all(Value::is_string) => list.clone(),
        Some(_) => {
            return Err(ApiError::invalid(
                "stop",
                "stop must be a string or a list of strings",
            ))
        }
    };
    if list.len() > MAX_STOP_SEQUENCES {
        return Err(ApiError::invalid(
            "stop",
            format!("this model's provider accepts at most {MAX_STOP_SEQUENCES} stop sequences"),
        ));
    }
    Ok((!list.is_empty()).then_some(Value::Array(list)))
}

/// `response_format` as `responseMimeType` and, for a schema,
/// `responseJsonSchema`.
fn response_format(format: &Value, config: &mut Object) -> Result<(), ApiError> {
    match format.get("type").and_then(Value::as_str) {
        Some("text") => {}
        Some("json_object") => {
            config.insert("responseMimeType".into(), Value::from("application/json"));
        }
        Some("json_schema") => {
            let schema = format
                .pointer("/json_schema/schema")
                .filter(|s| s.is_object())
                .ok_or_else(|| {
                    ApiError::invalid(
                        "response_format.json_schema.schema",
                        "json_schema.schema must be a JSON Schema object",
                    )
                })?;
            config.insert("responseMimeType".into(), Value::from("application/json"));
            config.insert("responseJsonSchema".into(), schema.clone());
        }
        _ => {
            return Err(ApiError::invalid(
                "response_format",
                "response_format.type must be text, json_object or json_schema",
            ))
        }
    }
    Ok(())
}

/// The `functionDeclarations` for OpenAI `tools`.
fn translate_tools(tools: &Value) -> Result<Vec<Value>, ApiError> {
    let out = function_tools(tools)?
        .into_iter()
        .map(|tool| {
            let mut entry = Object::new();
            entry.insert("name".into(), Value::from(tool.name));
            if let Some(description) = tool.description {
                entry.insert("description".into(), Value::from(description));
            }
            if let Some(parameters) = tool.parameters {
                entry.insert("parametersJsonSchema".into(), parameters.clone());
            }
            Value::Object(entry)
        })
        .collect();
    Ok(out)
}

/// `toolConfig.functionCallingConfig` for `tool_choice`.
fn tool_config(req: &Object) -> Result<Option<Value>, ApiError> {
    let config = match present(req, "tool_choice") {
        None => return Ok(None),
        Some(Value::String(s)) => match s.as_str() {
            "none" => json!({"mode": "NONE"}),
            "auto" => json!({"mode": "AUTO"}),
            "required" => json!({"mode": "ANY"}),
            _ => return Err(bad_tool_choice()),
        },
        Some(Value::Object(o)) => match o.get("function").and_then(|f| f.get("name")) {
            Some(Value::String(name)) if !name.is_empty() => {
                json!({"mode": "ANY", "allowedFunctionNames": [name]})
            }
            _ => return Err(bad_tool_choice()),
        },
        Some(_) => return Err(bad_tool_choice()),
    };
    Ok(Some(json!({"functionCallingConfig": config})))
}
