//! Writing one OpenAI `chat.completion.chunk` payload straight to bytes.
//! Every provider stream translation emits one per upstream event, so this
//! skips building a JSON tree for the fixed fields. Keys come out sorted,
//! as a `serde_json::Value` would write them.

use serde::Serialize;
use serde_json::Value;

/// The fields every chunk of one answer shares.
#[derive(Debug, Clone, Copy)]
pub struct ChunkHead<'a> {
    pub id: &'a str,
    pub created: u64,
    pub model: &'a str,
    /// Write `"usage": null` (what OpenAI sends on every chunk but the last
    /// when the client asked for usage).
    pub usage_null: bool,
}

#[derive(Serialize)]
struct Chunk<'a> {
    choices: [Choice<'a>; 1],
    created: u64,
    id: &'a str,
    model: &'a str,
    object: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<()>>,
}

/// The last chunk when usage was asked for: no choices, the usage.
#[derive(Serialize)]
struct UsageChunk<'a> {
    choices: [(); 0],
    created: u64,
    id: &'a str,
    model: &'a str,
    object: &'static str,
    usage: &'a Value,
}

#[derive(Serialize)]
struct Choice<'a> {
    delta: &'a Value,
    finish_reason: Option<&'a str>,
    index: u64,
    logprobs: Option<()>,
}

impl<'a> ChunkHead<'a> {
    /// The head of chunks of answer `id` from `model`, stamped `created`.
    pub fn new(id: &'a str, created: u64, model: &'a str, usage_null: bool) -> Self {
        ChunkHead {
            id,
            created,
            model,
            usage_null,
        }
    }

    /// The chunk for choice `index` carrying `delta` and, when it ends the
    /// choice, its `finish_reason`.
    pub fn chunk(&self, index: u64, delta: &Value, finish_reason: Option<&str>) -> Vec<u8> {
        let chunk = Chunk {
            choices: [Choice {
                delta,
                finish_reason,
                index,
                logprobs: None,
            }],
            created: self.created,
            id: self.id,
            model: self.model,
            object: "chat.completion.chunk",
            usage: self.usage_null.then_some(None),
        };
        // Writing plain structs into a Vec cannot fail.
        serde_json::to_vec(&chunk).unwrap_or_default()
    }

    /// The usage chunk that ends a stream whose client asked for usage:
    /// `"choices": []` and `usage`.
    pub fn usage_chunk(&self, usage: &Value) -> Vec<u8> {
        let chunk = UsageChunk {
            choices: [],
            created: self.created,
            id: self.id,
            model: self.model,
            object: "chat.completion.chunk",
            usage,
        };
        serde_json::to_vec(&chunk).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_what_a_json_tree_would() {
        let head = ChunkHead {
            id: "chatcmpl-1",
            created: 7,
            model: "m",
            usage_null: true,
        };
        let delta = json!({"content": "hi"});
        let expected = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk",
            "created": 7, "model": "m", "usage": null,
            "choices": [{"index": 2, "delta": delta, "logprobs": null, "finish_reason": "stop"}]});
        assert_eq!(
            String::from_utf8(head.chunk(2, &delta, Some("stop"))).unwrap(),
            expected.to_string()
        );
        let quiet = ChunkHead {
            usage_null: false,
            ..head
        };
        let v: Value = serde_json::from_slice(&quiet.chunk(0, &delta, None)).unwrap();
        assert!(v.get("usage").is_none());
        assert!(v["choices"][0]["finish_reason"].is_null());
        let usage = json!({"prompt_tokens": 1});
        let expected = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk",
            "created": 7, "model": "m", "choices": [], "usage": usage});
        assert_eq!(
            String::from_utf8(head.usage_chunk(&usage)).unwrap(),
            expected.to_string()
        );
    }
}
