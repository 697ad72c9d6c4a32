//! Turns a chat request into a [`ChatPlan`]: what every choice answers and
//! what usage to report. Rendering (JSON or SSE) happens elsewhere.
//! The rules are documented on the parent module.

use serde_json::Value;

use crate::schema;
use crate::text;

/// Completion tokens charged for each tool call.
pub const TOOL_CALL_TOKENS: u64 = 10;

/// Everything needed to render one chat completion, streamed or not.
#[derive(Debug, Clone)]
pub(crate) struct ChatPlan {
    pub id: String,
    pub created: u64,
    pub model: String,
    pub fingerprint: String,
    pub choices: Vec<Choice>,
    /// `None` when the upstream must not report usage (`fault-no-usage`).
    pub usage: Option<Usage>,
    /// `Some(top_logprobs)` when the request asked for logprobs.
    pub logprobs: Option<usize>,
    pub stream: bool,
    pub include_usage: bool,
}

/// One choice's answer and why it ended.
#[derive(Debug, Clone)]
pub(crate) struct Choice {
    pub answer: Answer,
    pub finish_reason: &'static str,
}

/// Text (as stream tokens) or tool calls.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    Text(Vec<String>),
    Tools(Vec<ToolCall>),
}

/// One function call the fake model makes.
#[derive(Debug, Clone)]
pub(crate) struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// Token counts to report.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Usage {
    pub prompt: u64,
    pub completion: u64,
    pub cached: u64,
}

/// How a fault model changes the ordinary plan.
#[derive(Debug, Default, Clone)]
pub(crate) struct Overrides {
    /// Fixed reply text instead of the echo.
    pub reply: Option<String>,
    /// Leave usage out entirely.
    pub no_usage: bool,
}

/// Why a request cannot be planned: message and offending parameter.
pub(crate) type PlanError = (String, Option<&'static str>);

/// Builds the plan for a parsed request body.
pub(crate) fn plan(req: &Value, overrides: &Overrides) -> Result<ChatPlan, PlanError> {
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .ok_or_else(|| ("you must provide a model parameter".to_owned(), None))?;
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            (
                "Missing required parameter: 'messages'.".to_owned(),
                Some("messages"),
            )
        })?;
    let n = req
        .get("n")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .clamp(1, 128) as usize;
    let choice = match tool_calls(req) {
        Some(calls) => Choice {
            answer: Answer::Tools(calls),
            finish_reason: "tool_calls",
        },
        None => text_choice(req, messages, overrides),
    };
    let completion: u64 = match &choice.answer {
        Answer::Text(tokens) => tokens.len() as u64,
        Answer::Tools(calls) => TOOL_CALL_TOKENS * calls.len() as u64,
    } * n as u64;
    let prompt = text::prompt_tokens(messages);
    let usage = (!overrides.no_usage).then_some(Usage {
        prompt,
        completion,
        cached: if model == "fake-cached" {
            prompt / 2
        } else {
            0
        },
    });
    let logprobs = (req.get("logprobs").and_then(Value::as_bool) == Some(true)).then(|| {
        req.get("top_logprobs")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .min(20) as usize
    });
    let fingerprint = match req.get("seed").and_then(Value::as_i64) {
        Some(seed) => format!("fp_seed_{seed}"),
        None => "fp_keel_fake".to_owned(),
    };
    let stream = req.get("stream").and_then(Value::as_bool) == Some(true);
    let include_usage = stream
        && req
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            == Some(true);
    Ok(ChatPlan {
        id: text::completion_id(),
        created: text::now_secs(),
        model: text::versioned_model(model),
        fingerprint,
        choices: vec![choice; n],
        usage,
        logprobs,
        stream,
        include_usage,
    })
}

/// The text answer after `response_format`, `stop` and the token limit.
fn text_choice(req: &Value, messages: &[Value], overrides: &Overrides) -> Choice {
    let user = text::last_user_text(messages);
    let user = user.split_whitespace().collect::<Vec<_>>().join(" ");
    let format = req
        .get("response_format")
        .and_then(|f| f.get("type"))
        .and_then(Value::as_str);
    let mut content = match (&overrides.reply, format) {
        (Some(reply), _) => reply.clone(),
        (None, Some("json_object")) => serde_json::json!({ "echo": user }).to_string(),
        (None, Some("json_schema")) => {
            let schema = req
                .pointer("/response_format/json_schema/schema")
                .unwrap_or(&Value::Null);
            schema::default_for(schema).to_string()
        }
        (None, _) => format!("Echo: {user}"),
    };
    let mut finish_reason = "stop";
    if let Some(at) = stop_strings(req)
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| content.find(s.as_str()))
        .min()
    {
        content.truncate(at);
    }
    let mut tokens = text::tokens(&content);
    let limit = req
        .get("max_completion_tokens")
        .or_else(|| req.get("max_tokens"))
        .and_then(Value::as_u64);
    if let Some(limit) = limit {
        if tokens.len() as u64 > limit {
            tokens.truncate(limit as usize);
            finish_reason = "length";
        }
    }
    Choice {
        answer: Answer::Text(tokens),
        finish_reason,
    }
}

/// `stop` as a list, whether given as a string or an array.
fn stop_strings(req: &Value) -> Vec<String> {
    match req.get("stop") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// The tool calls to make, or `None` to answer with text.
fn tool_calls(req: &Value) -> Option<Vec<ToolCall>> {
    let tools = req.get("tools").and_then(Value::as_array)?;
    if tools.is_empty() {
        return None;
    }
    let choice = req.get("tool_choice");
    if choice.and_then(Value::as_str) == Some("none") {
        return None;
    }
    let named = choice
        .and_then(|c| c.pointer("/function/name"))
        .and_then(Value::as_str);
    let selected: Vec<(String, Value)> = match named {
        Some(name) => {
            let params = tools
                .iter()
                .find(|t| t.pointer("/function/name").and_then(Value::as_str) == Some(name))
                .and_then(|t| t.pointer("/function/parameters"))
                .cloned()
                .unwrap_or(Value::Null);
            vec![(name.to_owned(), params)]
        }
        None => {
            let parallel = req.get("parallel_tool_calls").and_then(Value::as_bool) != Some(false);
            let take = if parallel && tools.len() >= 2 { 2 } else { 1 };
            tools
                .iter()
                .take(take)
                .map(|t| {
                    let name = t.pointer("/function/name").and_then(Value::as_str);
                    let params = t.pointer("/function/parameters").cloned();
                    (
                        name.unwrap_or("unnamed").to_owned(),
                        params.unwrap_or(Value::Null),
                    )
                })
                .collect()
        }
    };
    Some(
        selected
            .into_iter()
            .enumerate()
            .map(|(i, (name, params))| ToolCall {
                id: format!("call_{i}_{:012x}", text::fnv1a(name.as_bytes()) >> 16),
                arguments: schema::object_for(&params).to_string(),
                name,
            })
            .collect(),
    )
}
