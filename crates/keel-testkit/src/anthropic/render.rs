//! Renders a [`MessagePlan`] as a Message object or as the named SSE events
//! of a streamed message, in the shapes Anthropic documents.

use bytes::Bytes;
use serde_json::{json, Value};

use super::plan::{Block, MessagePlan, Usage, THINKING_SIGNATURE};
use super::respond::event;
use crate::chat::render::{fragments, ARGUMENT_FRAGMENT_CHARS};

/// The `usage` object with `output_tokens` = `output`.
fn usage_json(u: Usage, output: u64) -> Value {
    json!({
        "input_tokens": u.input,
        "cache_creation_input_tokens": u.cache_creation,
        "cache_read_input_tokens": u.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": u.cache_creation,
            "ephemeral_1h_input_tokens": 0
        },
        "output_tokens": output,
        "service_tier": "standard"
    })
}

/// A finished content block.
fn block_json(block: &Block) -> Value {
    match block {
        Block::Thinking(tokens) => json!({
            "type": "thinking",
            "thinking": tokens.concat(),
            "signature": THINKING_SIGNATURE
        }),
        Block::Text(tokens) => json!({"type": "text", "text": tokens.concat()}),
        Block::ToolUse { id, name, input } => {
            json!({"type": "tool_use", "id": id, "name": name, "input": input})
        }
    }
}

/// The Message object around `content`, with the stop fields and usage
/// given (the stream's `message_start` has them empty).
fn message_json(
    plan: &MessagePlan,
    content: Vec<Value>,
    stop: (Option<&str>, Option<&str>),
    output: u64,
) -> Value {
    json!({
        "id": plan.id,
        "type": "message",
        "role": "assistant",
        "model": plan.model,
        "content": content,
        "stop_reason": stop.0,
        "stop_sequence": stop.1,
        "usage": usage_json(plan.usage, output),
    })
}

/// The non-streamed Message object.
pub(crate) fn message(plan: &MessagePlan) -> Value {
    let content = plan.blocks.iter().map(block_json).collect();
    let stop = (Some(plan.stop_reason), plan.stop_sequence.as_deref());
    message_json(plan, content, stop, plan.usage.output)
}

/// A block as `content_block_start` announces it: empty text or thinking,
/// a tool call with empty `input`.
fn block_start_json(block: &Block) -> Value {
    match block {
        Block::Thinking(_) => json!({"type": "thinking", "thinking": ""}),
        Block::Text(_) => json!({"type": "text", "text": ""}),
        Block::ToolUse { id, name, .. } => {
            json!({"type": "tool_use", "id": id, "name": name, "input": {}})
        }
    }
}

/// The deltas that fill a block: a `text_delta` per word, a
/// `thinking_delta` per word then one `signature_delta`, or for a tool call
/// an empty `input_json_delta` then 8-character fragments of the input JSON.
fn block_deltas(block: &Block) -> Vec<Value> {
    match block {
        Block::Thinking(tokens) => tokens
            .iter()
            .map(|t| json!({"type": "thinking_delta", "thinking": t}))
            .chain(std::iter::once(
                json!({"type": "signature_delta", "signature": THINKING_SIGNATURE}),
            ))
            .collect(),
        Block::Text(tokens) => tokens
            .iter()
            .map(|t| json!({"type": "text_delta", "text": t}))
            .collect(),
        Block::ToolUse { input, .. } => {
            let json = input.to_string();
            std::iter::once(String::new())
                .chain(fragments(&json, ARGUMENT_FRAGMENT_CHARS))
                .map(|piece| json!({"type": "input_json_delta", "partial_json": piece}))
                .collect()
        }
    }
}

/// The events of a streamed message, in the documented order:
/// `message_start`, a `ping` after the first `content_block_start`, per
/// block start / deltas / stop, then `message_delta` and `message_stop`.
pub(crate) fn stream_events(plan: &MessagePlan) -> Vec<Bytes> {
    let start = message_json(plan, Vec::new(), (None, None), 1);
    let mut events = vec![event(
        "message_start",
        &json!({"type": "message_start", "message": start}),
    )];
    for (index, block) in plan.blocks.iter().enumerate() {
        events.push(event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block_start_json(block)}),
        ));
        if index == 0 {
            events.push(event("ping", &json!({"type": "ping"})));
        }
        for delta in block_deltas(block) {
            events.push(event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": delta}),
            ));
        }
        events.push(event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        ));
    }
    events.push(event(
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": {"stop_reason": plan.stop_reason, "stop_sequence": plan.stop_sequence},
            "usage": {"output_tokens": plan.usage.output}
        }),
    ));
    events.push(event("message_stop", &json!({"type": "message_stop"})));
    events
}
