//! Token usage, normalised across providers, and where each count came from.

use serde::{Deserialize, Serialize};

/// Where a token count came from. A count is never a silent zero: it is either
/// what the provider reported or Keel's own tokenizer estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// Reported by the provider in its `usage` object.
    Provider,
    /// Counted by Keel because the provider reported nothing.
    Estimated,
    /// No tokens were involved (the call never reached a provider).
    #[default]
    None,
}

impl TokenSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenSource::Provider => "provider",
            TokenSource::Estimated => "estimated",
            TokenSource::None => "none",
        }
    }

    pub fn parse(s: &str) -> TokenSource {
        match s {
            "provider" => TokenSource::Provider,
            "estimated" => TokenSource::Estimated,
            _ => TokenSource::None,
        }
    }
}

/// Normalised token usage of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Input tokens served from the provider's prompt cache (a subset of input).
    pub cached_tokens: u64,
    /// Input tokens written to the provider's prompt cache (a subset of
    /// input, priced apart by Anthropic and Bedrock).
    pub cache_write_tokens: u64,
    /// Output tokens spent on hidden reasoning (a subset of output).
    pub reasoning_tokens: u64,
    pub source: TokenSource,
}

/// The OpenAI `usage` object as it comes over the wire.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct OpenAiUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub prompt_tokens_details: Option<PromptTokensDetails>,
    #[serde(default)]
    pub completion_tokens_details: Option<CompletionTokensDetails>,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct PromptTokensDetails {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct CompletionTokensDetails {
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

impl From<&OpenAiUsage> for Usage {
    fn from(u: &OpenAiUsage) -> Self {
        Usage {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
            cached_tokens: u
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            cache_write_tokens: 0,
            reasoning_tokens: u
                .completion_tokens_details
                .as_ref()
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
            source: TokenSource::Provider,
        }
    }
}

/// The cache-write count in a provider's own usage object: Anthropic's
/// `cache_creation_input_tokens` or Bedrock's `cacheWriteInputTokens`
/// (OpenAI and Gemini report none).
pub fn cache_write_tokens(provider_usage: &serde_json::Value) -> u64 {
    ["cache_creation_input_tokens", "cacheWriteInputTokens"]
        .iter()
        .find_map(|k| provider_usage.get(k).and_then(serde_json::Value::as_u64))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_documented_usage_with_details() {
        let wire: OpenAiUsage = serde_json::from_str(
            r#"{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,
                "prompt_tokens_details":{"cached_tokens":4,"audio_tokens":0},
                "completion_tokens_details":{"reasoning_tokens":2,"audio_tokens":0,
                "accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}"#,
        )
        .unwrap();
        let u = Usage::from(&wire);
        assert_eq!(
            (
                u.input_tokens,
                u.output_tokens,
                u.cached_tokens,
                u.reasoning_tokens
            ),
            (19, 10, 4, 2)
        );
        assert_eq!(u.source, TokenSource::Provider);
    }

    #[test]
    fn details_are_optional() {
        let wire: OpenAiUsage =
            serde_json::from_str(r#"{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}"#)
                .unwrap();
        let u = Usage::from(&wire);
        assert_eq!(
            (u.input_tokens, u.output_tokens, u.cached_tokens),
            (5, 1, 0)
        );
    }
}
