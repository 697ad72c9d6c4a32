//! Configuration: `keel.toml` (optional) plus `KEEL_*` environment and flags,
//! checked in two phases: [`raw`] mirrors the file, [`Config`] is what runs,
//! with secrets resolved and every error naming its key and line.

pub mod raw;
mod resolve;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use keel_providers::openai::Flavor;
use keel_providers::ExecutorConfig;
use keel_store::WriterConfig;
use secrecy::SecretString;

pub use raw::RawPrice;
pub use resolve::{load, ConfigError, Overrides};

/// The running configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub host: IpAddr,
    pub port: u16,
    pub data_dir: PathBuf,
    /// `None`: a key is created under the data dir on first start.
    pub master_key: Option<SecretString>,
    pub max_body_bytes: usize,
    pub shutdown_grace: Duration,
    pub record_bodies: bool,
    pub database_url: Option<String>,
    pub writer: WriterConfig,
    pub executor: ExecutorConfig,
    pub drain_timeout: Duration,
    pub drain_max_bytes: usize,
    pub providers: Vec<ProviderConfig>,
    pub prices: BTreeMap<String, RawPrice>,
    pub governance: GovernanceConfig,
}

/// Keys, budgets and their alerts.
#[derive(Debug, Clone)]
pub struct GovernanceConfig {
    /// How often each node checks the store for changes made elsewhere.
    pub refresh: Duration,
    /// Output tokens reserved when a call sets no `max_tokens`: the bound
    /// on how far such a call can overshoot a budget.
    pub default_output_tokens: u64,
    /// Percent of a budget at which an alert goes out, once per period.
    pub alert_thresholds: Vec<u32>,
    pub alert_webhook_url: Option<String>,
    /// Send a Slack-compatible body (`{"text": …}`) instead of Keel's JSON.
    pub alert_webhook_slack: bool,
    /// The system clock; tests move a manual one across periods and expiries.
    pub clock: keel_policy::Clock,
    /// Shared counters in Redis (`[counters] redis_url`, `KEEL_REDIS_URL`);
    /// none: this node's memory.
    pub redis_url: Option<String>,
    pub redis_key_prefix: String,
    /// What a node does while Redis does not answer.
    pub when_redis_down: keel_policy::WhenDown,
}

/// What kind of API a provider speaks, with the settings only that kind has.
#[derive(Debug, Clone)]
pub enum ProviderKind {
    /// OpenAI or a server copying its API; Azure OpenAI.
    OpenAi(Flavor),
    /// Anthropic's Messages API.
    Anthropic {
        /// `anthropic-version` when the client names none.
        version: String,
    },
    /// Google's Gemini API (`generateContent`).
    Gemini,
    /// AWS Bedrock's Converse API, SigV4-signed (or a Bedrock API key in
    /// `api_key`).
    Bedrock {
        region: String,
        /// Explicit keys; without them the AWS credential chain is read at
        /// start-up (environment, then the shared credentials file).
        access_key_id: Option<String>,
        secret_access_key: Option<SecretString>,
        session_token: Option<SecretString>,
        profile: Option<String>,
    },
}

/// One provider, validated.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: String,
    pub base_url: String,
    pub api_key: Option<SecretString>,
    pub kind: ProviderKind,
    pub models: Vec<String>,
    pub discover: bool,
    pub headers: Vec<(String, String)>,
    /// Ask for usage on streams (`stream_options.include_usage`).
    pub stream_usage: bool,
}
