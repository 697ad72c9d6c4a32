//! Turns an Anthropic Messages request into a [`MessagePlan`]: the content
//! blocks, why the answer stopped and the usage to report. Rendering (JSON
//! or SSE) happens in `render`. The rules are documented on the parent module.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;

use crate::chat::TOOL_CALL_TOKENS;
use crate::schema;
use crate::text;

/// Signature every `thinking` block carries (base64, like Anthropic's), so
/// clients that send thinking blocks back have something to round-trip.
pub const THINKING_SIGNATURE: &str = "ZmFrZS10aGlua2luZy1zaWduYXR1cmU=";

/// Text that starts every thinking block, before the user's words.
pub const THINKING_PREFIX: &str = "Thinking about:";

/// Everything needed to render one message, streamed or not.
#[derive(Debug, Clone)]
pub(crate) struct MessagePlan {
    pub id: String,
    pub model: String,
    pub blocks: Vec<Block>,
    pub stop_reason: &'static str,
    pub stop_sequence: Option<String>,
    pub usage: Usage,
    pub stream: bool,
}

/// One content block of the answer.
#[derive(Debug, Clone)]
pub(crate) enum Block {
    /// Extended thinking, as stream tokens.
    Thinking(Vec<String>),
    /// The answer text, as stream tokens.
    Text(Vec<String>),
    /// A client tool call.
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
}

/// Token counts to report; `input` excludes the cached parts, as Anthropic
/// counts it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_creation: u64,
}

/// Builds the plan for a parsed request body; `reply` replaces the echo
/// (fault models). Errors are `invalid_request_error` messages.
pub(crate) fn plan(req: &Value, reply: Option<&str>) -> Result<MessagePlan, String> {
    let model = required(req, "model")?
        .as_str()
        .ok_or("model: Input should be a valid string")?;
    let messages = required(req, "messages")?
        .as_array()
        .ok_or("messages: Input should be a valid list")?;
    let max_tokens = required(req, "max_tokens")?
        .as_u64()
        .ok_or("max_tokens: Input should be a valid integer")?;
    let user = text::last_user_text(messages)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut blocks = Vec::new();
    let mut output = 0;
    if thinking_enabled(req, model) {
        let tokens = text::tokens(&format!("{THINKING_PREFIX} {user}"));
        output += tokens.len() as u64;
        blocks.push(Block::Thinking(tokens));
    }
    let (stop_reason, stop_sequence) = match tool_uses(req) {
        Some(calls) => {
            output += TOOL_CALL_TOKENS * calls.len() as u64;
            blocks.extend(calls);
            ("tool_use", None)
        }
        None => {
            let content = reply.map_or_else(|| format!("Echo: {user}"), str::to_owned);
            let (tokens, stop_reason, stop_sequence) = text_answer(req, content, max_tokens);
            output += tokens.len() as u64;
            blocks.push(Block::Text(tokens));
            (stop_reason, stop_sequence)
        }
    };
    let total = input_tokens(req);
    let (cache_read, cache_creation) = if model == "fake-cached" {
        (total / 2, total / 4)
    } else {
        (0, 0)
    };
    Ok(MessagePlan {
        id: message_id(),
        model: model.to_owned(),
        blocks,
        stop_reason,
        stop_sequence,
        usage: Usage {
            input: total - cache_read - cache_creation,
            output,
            cache_read,
            cache_creation,
        },
        stream: req.get("stream").and_then(Value::as_bool) == Some(true),
    })
}

/// A field that must be present, with Anthropic's message when it is not.
fn required<'a>(req: &'a Value, field: &str) -> Result<&'a Value, String> {
    req.get(field)
        .filter(|v| !v.is_null())
        .ok_or_else(|| format!("{field}: Field required"))
}

/// Input tokens before caching: Σ over messages of (words + 3), plus the
/// words of `system` (a string or text blocks).
pub(crate) fn input_tokens(req: &Value) -> u64 {
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let system = req
        .get("system")
        .map(text::content_text)
        .unwrap_or_default();
    text::prompt_tokens(messages) + text::words(&system)
}

/// `fake-thinking`, or `thinking: {"type": "enabled", …}` on any model.
fn thinking_enabled(req: &Value, model: &str) -> bool {
    model == "fake-thinking"
        || req.pointer("/thinking/type").and_then(Value::as_str) == Some("enabled")
}

/// The text tokens after `stop_sequences` and `max_tokens`, with the stop
/// reason and the matched stop sequence.
fn text_answer(
    req: &Value,
    mut content: String,
    max_tokens: u64,
) -> (Vec<String>, &'static str, Option<String>) {
    let mut stop_reason = "end_turn";
    let mut stop_sequence = None;
    let first_match = req
        .get("stop_sequences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|s| !s.is_empty())
        .filter_map(|s| content.find(s).map(|at| (at, s)))
        .min_by_key(|(at, _)| *at);
    if let Some((at, seq)) = first_match {
        stop_sequence = Some(seq.to_owned());
        stop_reason = "stop_sequence";
        content.truncate(at);
    }
    let mut tokens = text::tokens(&content);
    if tokens.len() as u64 > max_tokens {
        tokens.truncate(usize::try_from(max_tokens).unwrap_or(usize::MAX));
        stop_reason = "max_tokens";
        stop_sequence = None;
    }
    (tokens, stop_reason, stop_sequence)
}

/// The `tool_use` blocks to answer with, or `None` to answer with text.
fn tool_uses(req: &Value) -> Option<Vec<Block>> {
    let tools = req.get("tools").and_then(Value::as_array)?;
    if tools.is_empty() {
        return None;
    }
    let choice = req.get("tool_choice");
    let kind = choice.and_then(|c| c.get("type")).and_then(Value::as_str);
    if kind == Some("none") {
        return None;
    }
    let name_of = |t: &Value| tool_name(t).to_owned();
    let schema_of = |t: &Value| t.get("input_schema").cloned().unwrap_or(Value::Null);
    let selected: Vec<(String, Value)> = match (kind, choice.and_then(|c| c.get("name"))) {
        (Some("tool"), Some(Value::String(name))) => {
            let schema = tools
                .iter()
                .find(|t| tool_name(t) == name)
                .map(schema_of)
                .unwrap_or(Value::Null);
            vec![(name.clone(), schema)]
        }
        _ => {
            let parallel = choice
                .and_then(|c| c.get("disable_parallel_tool_use"))
                .and_then(Value::as_bool)
                != Some(true);
            let take = if parallel && tools.len() >= 2 { 2 } else { 1 };
            tools
                .iter()
                .take(take)
                .map(|t| (name_of(t), schema_of(t)))
                .collect()
        }
    };
    Some(
        selected
            .into_iter()
            .enumerate()
            .map(|(i, (name, schema))| Block::ToolUse {
                id: tool_use_id(i, &name),
                input: schema::object_for(&schema),
                name,
            })
            .collect(),
    )
}

/// A tool definition's `name` ("unnamed" when missing).
fn tool_name(tool: &Value) -> &str {
    tool.get("name")
        .and_then(Value::as_str)
        .unwrap_or("unnamed")
}

/// The id of the tool call at `index` (0-based among the calls): `toolu_`,
/// then `index + 1` as two digits, then 16 hex digits of the FNV-1a hash of
/// the tool name, so tests can predict ids and replay conversations.
pub fn tool_use_id(index: usize, name: &str) -> String {
    format!(
        "toolu_{:02}{:016x}",
        index + 1,
        text::fnv1a(name.as_bytes())
    )
}

/// A fresh `msg_…` id, unique within the process.
fn message_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mixed = text::fnv1a(&n.to_le_bytes()) ^ text::now_secs().rotate_left(32);
    format!("msg_01Fake{n}x{mixed:016x}")
}
