//! Renders a [`Plan`] as a Converse response body or as the ConverseStream
//! event messages.

use bytes::Bytes;
use serde_json::{json, Value};

use super::frame;
use super::plan::{usage_json, Answer, Plan};

/// Size of the input fragments a tool use is streamed in.
const INPUT_FRAGMENT_CHARS: usize = 8;

/// The Converse response.
pub(crate) fn response(plan: &Plan) -> Value {
    let block = match &plan.answer {
        Answer::Text(tokens) => json!({"text": tokens.concat()}),
        Answer::Tool { id, name, input } => {
            json!({"toolUse": {"toolUseId": id, "name": name, "input": input}})
        }
    };
    json!({
        "output": {"message": {"role": "assistant", "content": [block]}},
        "stopReason": plan.stop_reason,
        "usage": usage_json(plan),
        "metrics": {"latencyMs": 0},
    })
}

/// The event messages of a ConverseStream answer, one frame each.
pub(crate) fn stream(plan: &Plan) -> Vec<Bytes> {
    let mut events = vec![frame::event("messageStart", &json!({"role": "assistant"}))];
    match &plan.answer {
        Answer::Text(tokens) => {
            for token in tokens {
                events.push(frame::event(
                    "contentBlockDelta",
                    &json!({"contentBlockIndex": 0, "delta": {"text": token}}),
                ));
            }
        }
        Answer::Tool { id, name, input } => {
            events.push(frame::event(
                "contentBlockStart",
                &json!({"contentBlockIndex": 0,
                    "start": {"toolUse": {"toolUseId": id, "name": name}}}),
            ));
            let chars: Vec<char> = input.to_string().chars().collect();
            for piece in chars.chunks(INPUT_FRAGMENT_CHARS) {
                let piece: String = piece.iter().collect();
                events.push(frame::event(
                    "contentBlockDelta",
                    &json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": piece}}}),
                ));
            }
        }
    }
    events.push(frame::event(
        "contentBlockStop",
        &json!({"contentBlockIndex": 0}),
    ));
    events.push(frame::event(
        "messageStop",
        &json!({"stopReason": plan.stop_reason}),
    ));
    events.push(frame::event(
        "metadata",
        &json!({"usage": usage_json(plan), "metrics": {"latencyMs": 0}}),
    ));
    events.into_iter().map(Bytes::from).collect()
}
