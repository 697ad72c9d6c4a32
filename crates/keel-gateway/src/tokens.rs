//! Token estimates for calls whose provider reported no usage. Uses OpenAI's
//! tokenizers (tiktoken): exact for OpenAI models, an estimate for others,
//! which is why such counts are labelled `estimated`.

use std::sync::OnceLock;

use serde_json::Value;
use tiktoken_rs::CoreBPE;

/// The encoding for a model: `o200k_base` for the GPT-4o / o-series / GPT-5
/// generation, `cl100k_base` for everything else.
fn encoder(model: &str) -> Option<&'static CoreBPE> {
    static O200K: OnceLock<Option<CoreBPE>> = OnceLock::new();
    static CL100K: OnceLock<Option<CoreBPE>> = OnceLock::new();
    let newer = ["gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4", "chatgpt-4o"]
        .iter()
        .any(|p| model.starts_with(p));
    if newer {
        O200K
            .get_or_init(|| tiktoken_rs::o200k_base().ok())
            .as_ref()
    } else {
        CL100K
            .get_or_init(|| tiktoken_rs::cl100k_base().ok())
            .as_ref()
    }
}

/// Texts longer than this, or with a run of this many bytes without white
/// space, are estimated by length: byte-pair merging grows quadratically
/// with the length of one word, and one huge word must not stall the writer.
const MAX_EXACT_BYTES: usize = 256 << 10;
const MAX_EXACT_WORD: usize = 1 << 10;

/// Tokens in `text` for `model`.
pub fn count_text(model: &str, text: &str) -> u64 {
    let by_length = || text.len().div_ceil(4) as u64;
    if text.len() > MAX_EXACT_BYTES || text.split_whitespace().any(|w| w.len() > MAX_EXACT_WORD) {
        return by_length();
    }
    match encoder(model) {
        Some(bpe) => bpe.encode_ordinary(text).len() as u64,
        // No tokenizer: about four characters a token.
        None => by_length(),
    }
}

/// Prompt tokens of a chat request, after OpenAI's published recipe:
/// 3 per message for the framing, the tokens of each text, 3 to prime the reply.
pub fn count_chat_prompt(model: &str, request: &Value) -> u64 {
    let Some(messages) = request.get("messages").and_then(Value::as_array) else {
        return 0;
    };
    let mut total = 3;
    for m in messages {
        total += 3;
        if let Some(role) = m.get("role").and_then(Value::as_str) {
            total += count_text(model, role);
        }
        total += count_content(model, m.get("content"));
        if let Some(calls) = m.get("tool_calls") {
            total += count_text(model, &calls.to_string());
        }
    }
    if let Some(tools) = request.get("tools") {
        total += count_text(model, &tools.to_string());
    }
    total
}

/// Completion tokens of an assembled chat response (all choices).
pub fn count_chat_completion(model: &str, response: &Value) -> u64 {
    let Some(choices) = response.get("choices").and_then(Value::as_array) else {
        return 0;
    };
    choices
        .iter()
        .map(|c| {
            let msg = c.get("message");
            let content = count_content(model, msg.and_then(|m| m.get("content")));
            let calls = msg
                .and_then(|m| m.get("tool_calls"))
                .and_then(Value::as_array)
                .map(|calls| {
                    calls
                        .iter()
                        .map(|tc| {
                            let f = tc.get("function");
                            let name = f
                                .and_then(|f| f.get("name"))
                                .and_then(Value::as_str)
                                .unwrap_or("");
                            let args = f
                                .and_then(|f| f.get("arguments"))
                                .and_then(Value::as_str)
                                .unwrap_or("");
                            count_text(model, name) + count_text(model, args)
                        })
                        .sum::<u64>()
                })
                .unwrap_or(0);
            content + calls
        })
        .sum()
}

/// Input tokens of an embeddings request (strings or token arrays).
pub fn count_embeddings_input(model: &str, request: &Value) -> u64 {
    match request.get("input") {
        Some(Value::String(s)) => count_text(model, s),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => count_text(model, s),
                Value::Array(tokens) => tokens.len() as u64,
                Value::Number(_) => 1,
                _ => 0,
            })
            .sum(),
        _ => 0,
    }
}

fn count_content(model: &str, content: Option<&Value>) -> u64 {
    match content {
        Some(Value::String(s)) => count_text(model, s),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .map(|t| count_text(model, t))
            .sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn counts_like_tiktoken() {
        // "hello world" is two tokens in both encodings.
        assert_eq!(count_text("gpt-4o", "hello world"), 2);
        assert_eq!(count_text("gpt-3.5-turbo", "hello world"), 2);
    }

    #[test]
    fn one_huge_word_is_estimated_by_length() {
        let word = "a".repeat(1 << 20);
        assert_eq!(count_text("gpt-4o", &word), (1 << 20) / 4);
    }

    #[test]
    fn chat_prompt_follows_the_recipe() {
        let req = json!({"messages": [{"role": "user", "content": "hello world"}]});
        // 3 (priming) + 3 (message) + 1 ("user") + 2 ("hello world")
        assert_eq!(count_chat_prompt("gpt-4o", &req), 9);
    }

    #[test]
    fn completion_counts_text_and_tool_calls() {
        let resp = json!({"choices": [{"message": {"content": "hello world", "tool_calls": [
            {"function": {"name": "get", "arguments": "{}"}}]}}]});
        assert!(count_chat_completion("gpt-4o", &resp) >= 4);
        assert_eq!(
            count_embeddings_input("x", &json!({"input": [[1, 2, 3], [4]]})),
            4
        );
    }
}
