//! `keel.toml` as written: every table and key, unknown keys refused, each
//! value's position kept so a bad one can be pointed at.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub upstream: RawUpstream,
    #[serde(default)]
    pub providers: Vec<RawProvider>,
    #[serde(default)]
    pub prices: BTreeMap<String, Spanned<RawPrice>>,
    #[serde(default)]
    pub governance: RawGovernance,
    #[serde(default)]
    pub counters: RawCounters,
}

/// `[counters]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCounters {
    /// `redis://…`: budgets and rate limits shared by every node.
    pub redis_url: Option<Spanned<String>>,
    /// Prefix of every Redis key Keel writes.
    pub key_prefix: Option<Spanned<String>>,
    /// `fail_closed` or `fail_open`.
    pub on_redis_down: Option<Spanned<String>>,
}

/// `[governance]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGovernance {
    /// How often each node checks the store for changed keys, teams and budgets.
    pub refresh_ms: Option<Spanned<u64>>,
    /// Output tokens reserved for a call that sets no `max_tokens`.
    pub default_output_tokens: Option<Spanned<u64>>,
    /// Budget alert thresholds in percent.
    pub alert_thresholds: Option<Spanned<Vec<u32>>>,
    /// Where budget alerts are POSTed.
    pub alert_webhook_url: Option<Spanned<String>>,
    /// `json` (Keel's own body) or `slack` (a Slack-compatible `text`).
    pub alert_webhook_format: Option<Spanned<String>>,
}

/// `[server]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub host: Option<Spanned<String>>,
    pub port: Option<Spanned<u16>>,
    /// `env:NAME` reference to the master key.
    pub master_key: Option<Spanned<String>>,
    pub max_body_bytes: Option<Spanned<u64>>,
    /// How long SIGTERM waits for in-flight requests.
    pub shutdown_grace_ms: Option<Spanned<u64>>,
    /// Keep request/response bodies in records.
    pub record_bodies: Option<bool>,
}

/// `[store]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    pub database_url: Option<Spanned<String>>,
    pub durability: Option<Spanned<String>>,
    pub flush_interval_ms: Option<Spanned<u64>>,
    pub queue_capacity: Option<Spanned<u64>>,
}

/// `[upstream]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub connect_timeout_ms: Option<Spanned<u64>>,
    pub request_timeout_ms: Option<Spanned<u64>>,
    pub stream_first_byte_timeout_ms: Option<Spanned<u64>>,
    pub stream_idle_timeout_ms: Option<Spanned<u64>>,
    /// After a client leaves a stream, how long Keel keeps reading for usage.
    pub drain_timeout_ms: Option<Spanned<u64>>,
    /// …and how many bytes at most.
    pub drain_max_bytes: Option<Spanned<u64>>,
    pub max_response_bytes: Option<Spanned<u64>>,
}

/// `[[providers]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub name: Spanned<String>,
    /// `openai` (any OpenAI-compatible API, the default), `azure`,
    /// `anthropic`, `gemini` or `bedrock`.
    pub kind: Option<Spanned<String>>,
    /// Required for `openai`-compatible servers other than OpenAI's and for
    /// `azure`; the vendor's own API root otherwise.
    pub base_url: Option<Spanned<String>>,
    pub api_key: Option<Spanned<String>>,
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub discover: bool,
    pub api_version: Option<Spanned<String>>,
    /// `anthropic-version` sent when the client names none.
    pub anthropic_version: Option<Spanned<String>>,
    /// Bedrock: the AWS region (required).
    pub region: Option<Spanned<String>>,
    /// Bedrock: explicit keys (`env:NAME`); else the AWS credential chain.
    pub aws_access_key_id: Option<Spanned<String>>,
    pub aws_secret_access_key: Option<Spanned<String>>,
    pub aws_session_token: Option<Spanned<String>>,
    /// Bedrock: the shared credentials file profile.
    pub aws_profile: Option<Spanned<String>>,
    #[serde(default)]
    pub deployments: BTreeMap<String, String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Ask for usage on streams (default true); turn off for servers that
    /// reject `stream_options`.
    pub stream_usage: Option<bool>,
}

/// `[prices."model"]`: USD per million tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrice {
    pub input: f64,
    pub output: f64,
    pub cached_input: Option<f64>,
    pub cache_write: Option<f64>,
}
