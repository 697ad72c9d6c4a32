//! Text helpers: the deterministic "tokenizer" (whitespace words), message
//! text extraction, ids and hashes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// Number of whitespace-separated words: the fake upstream's token count.
pub fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// The text of a message `content`: a string, or the `text` of each
/// `{"type":"text","text":…}` part joined with spaces. Other shapes give "".
pub fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// Prompt tokens of a `messages` array: for each message, the words of its
/// content plus 3.
pub fn prompt_tokens(messages: &[Value]) -> u64 {
    messages
        .iter()
        .map(|m| words(&content_text(m.get("content").unwrap_or(&Value::Null))) + 3)
        .sum()
}

/// The text of the last message whose role is `user` ("" when none).
pub fn last_user_text(messages: &[Value]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(|m| content_text(m.get("content").unwrap_or(&Value::Null)))
        .unwrap_or_default()
}

/// Splits text into stream tokens: the first word, then each further word
/// with its leading space, so the tokens concatenate back to the words
/// joined by single spaces.
pub fn tokens(text: &str) -> Vec<String> {
    text.split_whitespace()
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                w.to_owned()
            } else {
                format!(" {w}")
            }
        })
        .collect()
}

/// FNV-1a, for deterministic ids and embedding values.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Seconds since the Unix epoch, for `created`.
pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A fresh `chatcmpl-…` id, unique within the process.
pub fn completion_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mixed = fnv1a(&n.to_le_bytes()) ^ now_secs().rotate_left(32);
    format!("chatcmpl-fake{n}x{mixed:016x}")
}

/// The versioned model id the fake reports, like OpenAI does for aliases.
pub fn versioned_model(requested: &str) -> String {
    format!("{requested}-2024-08-06")
}
