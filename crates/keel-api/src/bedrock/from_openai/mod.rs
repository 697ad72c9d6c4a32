//! OpenAI chat completions requests into Bedrock Converse request bodies, for
//! a Bedrock provider behind an OpenAI client. Every failure is a 400
//! [`ApiError`] naming the field, so the client sees the refusal in the
//! OpenAI shape it speaks.
//!
//! | OpenAI | Converse |
//! | --- | --- |
//! | `model` | checked, then left out: the model id goes in the URL |
//! | `system` / `developer` messages | `system: [{text}]`, one block each |
//! | `messages` | `messages` (see `messages.rs`) |
//! | `max_completion_tokens`, else `max_tokens` | `inferenceConfig.maxTokens` |
//! | `temperature` (at most 1), `top_p` | `inferenceConfig.temperature`, `.topP` |
//! | `stop` (string or list) | `inferenceConfig.stopSequences` |
//! | `top_k` | `additionalModelRequestFields.top_k` |
//! | `tools[]` `{type: function, function: {name, description, parameters}}` | `toolConfig.tools[].toolSpec {name, description, inputSchema: {json}}` |
//! | `tool_choice` auto / required / `{function: {name}}` | `toolConfig.toolChoice` `{auto: {}}` / `{any: {}}` / `{tool: {name}}` |
//! | `response_format` `json_schema` | `outputConfig.textFormat` `{type: json_schema, structure: {jsonSchema: {schema (a JSON string), name, description}}}` |
//!
//! Converse needs no `maxTokens` (the model's maximum is the default), so
//! none is invented.
//!
//! `tool_choice: "none"`: Converse has no such choice. Without tool calls or
//! results in the conversation the tools are left out, which is exactly
//! "none". With them, Converse requires `toolConfig` (it answers "The
//! toolConfig field must be defined when using toolUse and toolResult content
//! blocks"), and sending the tools would let the model call them, so the
//! request is refused. For the same reason a conversation holding tool calls
//! or results without any `tools` is refused naming `tools`.
//!
//! `additionalModelRequestFields` carries only `top_k` (an extension of
//! OpenAI's shape, and what an Anthropic client's `top_k` becomes), under
//! the name Claude and Mistral models on Bedrock take; a model without it
//! refuses the request with a `ValidationException`. Every other field it
//! could carry is specific to one model family and would be rejected by the
//! others, so OpenAI fields without a Converse equivalent are refused instead.
//!
//! Dropped, because losing them changes nothing the client relies on:
//! `stream` (the URL chooses streaming), `stream_options` (the caller reads
//! `include_usage` itself; Bedrock always reports usage), `store`,
//! `metadata`, `service_tier`, `prompt_cache_key`, `safety_identifier`,
//! `user` (an abuse-monitoring hint; Converse's `requestMetadata` restricts
//! the characters of its values), `tools[].function.strict`, message
//! `name`s, `n: 1`, `logprobs: false`, `response_format: text`,
//! `parallel_tool_calls: true` (the default), and `presence_penalty` /
//! `frequency_penalty` of 0.
//!
//! Refused, because dropping them would silently change the answer: `n`
//! above 1, `logprobs: true`, `top_logprobs`, `response_format`
//! `json_object` (Converse constrains output only to a schema), non-zero
//! penalties, `seed`, `logit_bias`, `temperature` above 1,
//! `parallel_tool_calls: false` (Converse cannot forbid parallel calls),
//! `reasoning_effort`, `modalities`, `audio`, `prediction`,
//! `web_search_options`, the legacy `functions` / `function_call`, and any
//! other field the chat completions API does not define.

mod messages;

use serde_json::{json, Value};

use crate::error::ApiError;
use crate::openai_request::{
    bad_tool_choice, function_tools, number, one_choice, present, request_object, required_model,
    stream, top_k, KnownFields, Object,
};

/// Fields dropped because losing them changes nothing a client relies on.
const DROPPED: &[&str] = &[
    "stream_options",
    "store",
    "metadata",
    "service_tier",
    "prompt_cache_key",
    "safety_identifier",
];

/// Fields refused outright: Converse has no equivalent.
const REFUSED: &[&str] = &[
    "seed",
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
    provider: "Bedrock",
};

/// Translates an OpenAI chat completions request into a Converse (or
/// ConverseStream: the body is the same) request body, so an OpenAI client
/// can be served by Bedrock. The model id is not part of the body.
pub fn request(openai: &Value) -> Result<Value, ApiError> {
    let req = request_object(openai)?;
    check_fields(req)?;
    required_model(req)?;
    stream(req)?;
    if present(req, "user").is_some_and(|u| !u.is_string()) {
        return Err(ApiError::invalid("user", "user must be a string"));
    }
    let messages = present(req, "messages")
        .ok_or_else(|| ApiError::invalid("messages", "messages is required"))?;
    let translated = messages::translate(messages)?;
    let mut out = Object::new();
    out.insert("messages".into(), Value::Array(translated.turns));
    if !translated.system.is_empty() {
        out.insert("system".into(), Value::Array(translated.system));
    }
    if let Some(config) = inference_config(req)? {
        out.insert("inferenceConfig".into(), config);
    }
    if let Some(k) = top_k(req)? {
        out.insert(
            "additionalModelRequestFields".into(),
            serde_json::json!({ "top_k": k }),
        );
    }
    if let Some(config) = tool_config(req, translated.has_tool_blocks)? {
        out.insert("toolConfig".into(), config);
    }
    if let Some(config) = output_config(req)? {
        out.insert("outputConfig".into(), config);
    }
    Ok(Value::Object(out))
}

/// Refuses fields with no Converse equivalent and values that cannot be
/// honoured; unknown fields are refused as OpenAI refuses them.
fn check_fields(req: &Object) -> Result<(), ApiError> {
    FIELDS.check(req)?;
    one_choice(req)?;
    FIELDS.refuse_logprobs(req)?;
    for key in ["presence_penalty", "frequency_penalty"] {
        if present(req, key).is_some_and(|v| v.as_f64() != Some(0.0)) {
            return Err(FIELDS.unsupported(key));
        }
    }
    if present(req, "logit_bias").is_some_and(|v| v.as_object().is_none_or(|m| !m.is_empty())) {
        return Err(FIELDS.unsupported("logit_bias"));
    }
    match present(req, "parallel_tool_calls") {
        None | Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => {
            return Err(ApiError::invalid(
                "parallel_tool_calls",
                "parallel_tool_calls: false is not supported by this model's provider \
                 (Bedrock cannot forbid parallel tool calls)",
            ))
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

/// `inferenceConfig`, or `None` when the client set none of its fields.
fn inference_config(req: &Object) -> Result<Option<Value>, ApiError> {
    let mut config = Object::new();
    let key = if present(req, "max_completion_tokens").is_some() {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    if let Some(v) = present(req, key) {
        let n = v
            .as_u64()
            .filter(|n| (1..=u64::from(i32::MAX as u32)).contains(n))
            .ok_or_else(|| ApiError::invalid(key, format!("{key} must be a positive integer")))?;
        config.insert("maxTokens".into(), Value::from(n));
    }
    if let Some(t) = present(req, "temperature") {
        let x = number(t, "temperature")?;
        if !(0.0..=1.0).contains(&x) {
            return Err(ApiError::invalid(
                "temperature",
                "temperature must be between 0 and 1 for this model's provider",
            ));
        }
        config.insert("temperature".into(), t.clone());
    }
    if let Some(p) = present(req, "top_p") {
        let x = number(p, "top_p")?;
        if !(0.0..=1.0).contains(&x) {
            return Err(ApiError::invalid("top_p", "top_p must be between 0 and 1"));
        }
        config.insert("topP".into(), p.clone());
    }
    if let Some(stop) = stop_sequences(req)? {
        config.insert("stopSequences".into(), stop);
    }
    Ok((!config.is_empty()).then_some(Value::Object(config)))
}

/// `stop` as a list of non-empty strings (Converse refuses empty ones).
fn stop_sequences(req: &Object) -> Result<Option<Value>, ApiError> {
    let list = match present(req, "stop") {
        None => return Ok(None),
        Some(Value::String(s)) => vec![Value::from(s.as_str())],
        Some(Value::Array(list)) => list.clone(),
        Some(_) => {
            return Err(ApiError::invalid(
                "stop",
                "stop must be a string or a list of strings",
            ))
        }
    };
    if list.iter().any(|s| s.as_str().is_none_or(str::is_empty)) {
        return Err(ApiError::invalid(
            "stop",
            "stop sequences must be non-empty strings",
        ));
    }
    Ok((!list.is_empty()).then_some(Value::Array(list)))
}

/// `toolConfig` from `tools` and `tool_choice`, or `None` for no tools.
fn tool_config(req: &Object, has_tool_blocks: bool) -> Result<Option<Value>, ApiError> {
    let tools = match present(req, "tools") {
        None => None,
        Some(tools) => Some(translate_tools(tools)?),
    };
    let choice = tool_choice(req)?;
    let Some(tools) = tools.filter(|t| !t.is_empty()) else {
        if has_tool_blocks {
            return Err(ApiError::invalid(
                "tools",
                "this model's provider needs the tools listed when the conversation holds \
                 tool calls or tool results",
            ));
        }
        if matches!(choice, Choice::Required | Choice::Named(_)) {
            return Err(ApiError::invalid(
                "tool_choice",
                "tool_choice needs tools to choose from",
            ));
        }
        return Ok(None);
    };
    let tool_choice = match choice {
        Choice::Unset => None,
        Choice::Auto => Some(json!({"auto": {}})),
        Choice::Required => Some(json!({"any": {}})),
        Choice::Named(name) => Some(json!({"tool": {"name": name}})),
        Choice::None if has_tool_blocks => {
            return Err(ApiError::invalid(
                "tool_choice",
                "tool_choice \"none\" is not supported by this model's provider when the \
                 conversation holds tool calls or tool results (Bedrock needs the tools \
                 listed, and would then let the model call them)",
            ))
        }
        Choice::None => return Ok(None),
    };
    let mut config = json!({"tools": tools});
    if let Some(choice) = tool_choice {
        config["toolChoice"] = choice;
    }
    Ok(Some(config))
}

fn translate_tools(tools: &Value) -> Result<Vec<Value>, ApiError> {
    let out = function_tools(tools)?
        .into_iter()
        .map(|tool| {
            let mut spec = Object::new();
            spec.insert("name".into(), Value::from(tool.name));
            if let Some(description) = tool.description.filter(|d| !d.is_empty()) {
                spec.insert("description".into(), Value::from(description));
            }
            let schema = tool
                .parameters
                .cloned()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            spec.insert("inputSchema".into(), json!({"json": schema}));
            json!({"toolSpec": spec})
        })
        .collect();
    Ok(out)
}

/// The client's `tool_choice`.
enum Choice {
    Unset,
    None,
    Auto,
    Required,
    Named(String),
}

fn tool_choice(req: &Object) -> Result<Choice, ApiError> {
    match present(req, "tool_choice") {
        None => Ok(Choice::Unset),
        Some(Value::String(s)) => match s.as_str() {
            "none" => Ok(Choice::None),
            "auto" => Ok(Choice::Auto),
            "required" => Ok(Choice::Required),
            _ => Err(bad_tool_choice()),
        },
        Some(Value::Object(o)) => match o.get("function").and_then(|f| f.get("name")) {
            Some(Value::String(name)) if !name.is_empty() => Ok(Choice::Named(name.clone())),
            _ => Err(bad_tool_choice()),
        },
        Some(_) => Err(bad_tool_choice()),
    }
}

/// `outputConfig` for `response_format: json_schema`; `text` needs none.
fn output_config(req: &Object) -> Result<Option<Value>, ApiError> {
    let Some(format) = present(req, "response_format") else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_schema") => {
            let spec = format
                .get("json_schema")
                .and_then(Value::as_object)
                .ok_or_else(|| {
                    ApiError::invalid("response_format.json_schema", "json_schema is required")
                })?;
            let schema = spec
                .get("schema")
                .filter(|s| s.is_object())
                .ok_or_else(|| {
                    ApiError::invalid(
                        "response_format.json_schema.schema",
                        "schema must be a JSON Schema object",
                    )
                })?;
            let mut definition = Object::new();
            definition.insert("schema".into(), Value::from(schema.to_string()));
            for key in ["name", "description"] {
                match spec.get(key) {
                    None | Some(Value::Null) => {}
                    Some(v @ Value::String(_)) => {
                        definition.insert(key.into(), v.clone());
                    }
                    Some(_) => {
                        return Err(ApiError::invalid(
                            format!("response_format.json_schema.{key}"),
                            format!("{key} must be a string"),
                        ))
                    }
                }
            }
            Ok(Some(json!({"textFormat": {
                "type": "json_schema",
                "structure": {"jsonSchema": definition},
            }})))
        }
        Some("json_object") => Err(ApiError::invalid(
            "response_format",
            "response_format json_object is not supported by this model's provider \
             (use json_schema with a schema)",
        )),
        _ => Err(ApiError::invalid(
            "response_format",
            "response_format type must be text or json_schema",
        )),
    }
}
