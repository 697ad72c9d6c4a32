//! Reads a Converse request (checking it as strictly as Bedrock does where a
//! translation bug would show) and decides the answer by the rules on the
//! parent module.

use serde_json::{Map, Value};

use crate::chat::TOOL_CALL_TOKENS;
use crate::schema;
use crate::text;

/// Top-level fields a Converse request may carry.
const FIELDS: &[&str] = &[
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "guardrailConfig",
    "additionalModelRequestFields",
    "additionalModelResponseFieldPaths",
    "promptVariables",
    "requestMetadata",
    "performanceConfig",
    "outputConfig",
    "serviceTier",
];

/// What the fake answers.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// Stream tokens of the text.
    Text(Vec<String>),
    /// One tool use.
    Tool {
        id: String,
        name: String,
        input: Value,
    },
}

/// The answer, why it ended, and the usage to report.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub answer: Answer,
    pub stop_reason: &'static str,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
}

/// Plans the answer to a Converse body for `model`; `reply` replaces the
/// echo (fault models). Errors are ValidationException messages.
pub(crate) fn plan(body: &Value, model: &str, reply: Option<&str>) -> Result<Plan, String> {
    let req = body
        .as_object()
        .ok_or("Malformed input request: the body must be a JSON object")?;
    if let Some(key) = req.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(format!(
            "Malformed input request: extraneous key [{key}] is not permitted, please reformat your input and try again."
        ));
    }
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
        .ok_or("A conversation must start with a user message. Try again with a conversation that starts with a user message.")?;
    let has_tool_blocks = check_messages(messages)?;
    let system = system_texts(req.get("system"))?;
    let config = req.get("inferenceConfig").unwrap_or(&Value::Null);
    let tools = req.get("toolConfig");
    if has_tool_blocks && tools.is_none() {
        return Err(
            "The toolConfig field must be defined when using toolUse and toolResult content blocks."
                .to_owned(),
        );
    }
    let (answer, stop_reason) = match tools {
        Some(tools) => (tool_answer(tools)?, "tool_use"),
        None => text_answer(messages, config, reply)?,
    };
    let output_tokens = match &answer {
        Answer::Text(tokens) => tokens.len() as u64,
        Answer::Tool { .. } => TOOL_CALL_TOKENS,
    };
    let total = messages.iter().map(message_tokens).sum::<u64>()
        + system.iter().map(|s| text::words(s) + 3).sum::<u64>();
    let cache_read_tokens = if model == "fake-cached" { total / 2 } else { 0 };
    Ok(Plan {
        answer,
        stop_reason,
        input_tokens: total - cache_read_tokens,
        output_tokens,
        cache_read_tokens,
    })
}

/// Checks roles, their alternation and the blocks; says whether any block
/// is a tool use or result.
fn check_messages(messages: &[Value]) -> Result<bool, String> {
    let mut previous = None;
    let mut has_tool_blocks = false;
    for (i, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str);
        match (i, role) {
            (0, Some("user")) => {}
            (0, _) => return Err("A conversation must start with a user message. Try again with a conversation that starts with a user message.".to_owned()),
            (_, Some("user" | "assistant")) if role != previous => {}
            (_, Some("user" | "assistant")) => return Err("A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.".to_owned()),
            _ => return Err(format!("messages.{i}.role: the role must be user or assistant")),
        }
        previous = role;
        let blocks = message
            .get("content")
            .and_then(Value::as_array)
            .filter(|c| !c.is_empty())
            .ok_or_else(|| format!("messages.{i}.content: the content must be a non-empty list"))?;
        for (j, block) in blocks.iter().enumerate() {
            let at = format!("messages.{i}.content.{j}");
            let block = block
                .as_object()
                .filter(|b| b.len() == 1)
                .ok_or_else(|| format!("{at}: a content block must have exactly one member"))?;
            if let Some(tool) = block.get("toolUse") {
                has_tool_blocks = true;
                let ok = tool.get("toolUseId").is_some_and(Value::is_string)
                    && tool.get("name").is_some_and(Value::is_string)
                    && tool.get("input").is_some_and(Value::is_object);
                if !ok || role != Some("assistant") {
                    return Err(format!("{at}.toolUse: an assistant toolUse needs toolUseId, name and an input object"));
                }
            } else if let Some(result) = block.get("toolResult") {
                has_tool_blocks = true;
                let ok = result.get("toolUseId").is_some_and(Value::is_string)
                    && result.get("content").is_some_and(Value::is_array);
                if !ok || role != Some("user") {
                    return Err(format!(
                        "{at}.toolResult: a user toolResult needs toolUseId and a content list"
                    ));
                }
            } else if let Some(text) = block.get("text") {
                if !text.is_string() {
                    return Err(format!("{at}.text: the text must be a string"));
                }
            }
        }
    }
    Ok(has_tool_blocks)
}

fn system_texts(system: Option<&Value>) -> Result<Vec<String>, String> {
    let Some(system) = system else {
        return Ok(Vec::new());
    };
    let blocks = system
        .as_array()
        .ok_or("system: the system prompt must be a list")?;
    blocks
        .iter()
        .map(|b| {
            b.get("text")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| "system: each block needs a non-empty text".to_owned())
        })
        .collect()
}

/// Words of a message's text blocks and tool result texts, plus 3.
fn message_tokens(message: &Value) -> u64 {
    let blocks = message.get("content").and_then(Value::as_array);
    let words: u64 = blocks
        .into_iter()
        .flatten()
        .map(|block| {
            if let Some(t) = block.get("text").and_then(Value::as_str) {
                return text::words(t);
            }
            block
                .pointer("/toolResult/content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("text").and_then(Value::as_str))
                .map(text::words)
                .sum()
        })
        .sum();
    words + 3
}

/// The tool use for `toolConfig`: the named tool, else the first.
fn tool_answer(tools: &Value) -> Result<Answer, String> {
    let list = tools
        .get("tools")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty())
        .ok_or("toolConfig.tools: at least one tool is required")?;
    let mut specs = Vec::with_capacity(list.len());
    for (i, tool) in list.iter().enumerate() {
        let spec = tool
            .get("toolSpec")
            .ok_or_else(|| format!("toolConfig.tools.{i}: a tool needs a toolSpec"))?;
        let name = spec
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| format!("toolConfig.tools.{i}.toolSpec.name is required"))?;
        let schema = spec
            .pointer("/inputSchema/json")
            .filter(|s| s.is_object())
            .ok_or_else(|| {
                format!(
                    "toolConfig.tools.{i}.toolSpec.inputSchema.json must be a JSON schema object"
                )
            })?;
        specs.push((name, schema));
    }
    let (name, schema) = match tools
        .pointer("/toolChoice/tool/name")
        .and_then(Value::as_str)
    {
        Some(wanted) => specs
            .iter()
            .find(|(n, _)| *n == wanted)
            .copied()
            .ok_or_else(|| format!("toolConfig.toolChoice: no tool is named {wanted}"))?,
        None => specs[0],
    };
    Ok(Answer::Tool {
        id: format!("tooluse_{:016x}", text::fnv1a(name.as_bytes())),
        name: name.to_owned(),
        input: schema::object_for(schema),
    })
}

/// The echo of the last user text, cut by stop sequences and `maxTokens`.
fn text_answer(
    messages: &[Value],
    config: &Value,
    reply: Option<&str>,
) -> Result<(Answer, &'static str), String> {
    let last_user = messages
        .iter()
        .rev()
        .filter(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| {
            m.get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .find(|t| !t.trim().is_empty())
        .unwrap_or_default();
    let words = last_user.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut content = reply.map_or_else(|| format!("Echo: {words}"), str::to_owned);
    let mut stop_reason = "end_turn";
    let stops = stop_sequences(config)?;
    if let Some(at) = stops.iter().filter_map(|s| content.find(s.as_str())).min() {
        content.truncate(at);
        stop_reason = "stop_sequence";
    }
    let mut tokens = text::tokens(&content);
    match config.get("maxTokens") {
        None => {}
        Some(v) => {
            let limit = v
                .as_u64()
                .filter(|n| *n >= 1)
                .ok_or("inferenceConfig.maxTokens must be an integer of at least 1")?;
            if tokens.len() as u64 > limit {
                tokens.truncate(limit as usize);
                stop_reason = "max_tokens";
            }
        }
    }
    Ok((Answer::Text(tokens), stop_reason))
}

fn stop_sequences(config: &Value) -> Result<Vec<String>, String> {
    match config.get("stopSequences") {
        None => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .map(|s| {
                s.as_str()
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        "inferenceConfig.stopSequences: each must be a non-empty string".to_owned()
                    })
            })
            .collect(),
        Some(_) => Err("inferenceConfig.stopSequences must be a list".to_owned()),
    }
}

/// `usage` as Converse reports it.
pub(crate) fn usage_json(plan: &Plan) -> Value {
    let mut usage = Map::new();
    usage.insert("inputTokens".into(), Value::from(plan.input_tokens));
    usage.insert("outputTokens".into(), Value::from(plan.output_tokens));
    usage.insert(
        "totalTokens".into(),
        Value::from(plan.input_tokens + plan.output_tokens + plan.cache_read_tokens),
    );
    if plan.cache_read_tokens > 0 {
        usage.insert(
            "cacheReadInputTokens".into(),
            Value::from(plan.cache_read_tokens),
        );
        usage.insert("cacheWriteInputTokens".into(), Value::from(0));
    }
    Value::Object(usage)
}
