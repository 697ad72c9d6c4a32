//! From `keel.toml` text, environment and flags to a checked [`Config`].

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use keel_providers::openai::Flavor;
use keel_providers::ExecutorConfig;
use keel_providers::{anthropic, gemini};
use keel_store::{Durability, WriterConfig};
use secrecy::{ExposeSecret, SecretString};
use toml::Spanned;

use super::raw::{RawConfig, RawCounters, RawGovernance, RawProvider};
use super::{Config, GovernanceConfig, ProviderConfig, ProviderKind};

/// A configuration error that names the file, line and key at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: ", file.display())?,
            (Some(file), None) => write!(f, "{}: ", file.display())?,
            (None, _) => {}
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Values given as flags or `KEEL_*` variables; they win over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub host: Option<IpAddr>,
    pub port: Option<u16>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub durability: Option<String>,
}

/// Reads `file` (if any), applies `overrides`, resolves `env:` secrets with
/// `env`, and checks everything.
pub fn load(
    file: Option<&Path>,
    overrides: Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let text = match file {
        Some(path) => std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: Some(path.to_path_buf()),
            line: None,
            key: String::new(),
            message: format!("cannot read the config file: {e}"),
        })?,
        None => String::new(),
    };
    let ctx = Ctx { file, text: &text };
    let raw: RawConfig = toml::from_str(&text).map_err(|e| ctx.error(e.span(), "", e.message()))?;
    ctx.build(raw, overrides, env)
}

struct Ctx<'a> {
    file: Option<&'a Path>,
    text: &'a str,
}

impl Ctx<'_> {
    fn error(
        &self,
        span: Option<Range<usize>>,
        key: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError {
            file: self.file.map(Path::to_path_buf),
            line: span.map(|s| {
                self.text[..s.start.min(self.text.len())]
                    .matches('\n')
                    .count()
                    + 1
            }),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    fn at<T>(&self, value: &Spanned<T>, key: &str, message: impl Into<String>) -> ConfigError {
        self.error(Some(value.span()), key, message)
    }

    fn positive_ms(
        &self,
        v: &Option<Spanned<u64>>,
        key: &str,
        default_ms: u64,
    ) -> Result<Duration, ConfigError> {
        match v {
            None => Ok(Duration::from_millis(default_ms)),
            Some(s) if *s.get_ref() == 0 => Err(self.at(s, key, "must be greater than 0")),
            Some(s) => Ok(Duration::from_millis(*s.get_ref())),
        }
    }

    fn positive(
        &self,
        v: &Option<Spanned<u64>>,
        key: &str,
        default: u64,
    ) -> Result<usize, ConfigError> {
        match v {
            None => Ok(default as usize),
            Some(s) if *s.get_ref() == 0 => Err(self.at(s, key, "must be greater than 0")),
            Some(s) => Ok(*s.get_ref() as usize),
        }
    }

    /// `[governance]`, with its defaults.
    fn governance(
        &self,
        raw: &RawGovernance,
        counters: &RawCounters,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<GovernanceConfig, ConfigError> {
        let redis_url = match &counters.redis_url {
            Some(u)
                if !(u.get_ref().starts_with("redis://")
                    || u.get_ref().starts_with("rediss://")) =>
            {
                return Err(self.at(
                    u,
                    "counters.redis_url",
                    "must be a redis:// or rediss:// URL",
                ))
            }
            Some(u) => Some(u.get_ref().clone()),
            None => env("KEEL_REDIS_URL").filter(|u| !u.is_empty()),
        };
        let when_redis_down = match &counters.on_redis_down {
            None => keel_policy::WhenDown::FailClosed,
            Some(p) if p.get_ref() == "fail_closed" => keel_policy::WhenDown::FailClosed,
            Some(p) if p.get_ref() == "fail_open" => keel_policy::WhenDown::FailOpen,
            Some(p) => {
                return Err(self.at(
                    p,
                    "counters.on_redis_down",
                    "use \"fail_closed\" or \"fail_open\"",
                ))
            }
        };
        let redis_key_prefix = counters
            .key_prefix
            .as_ref()
            .map(|p| p.get_ref().clone())
            .unwrap_or_else(|| "keel".to_owned());
        let alert_thresholds = match &raw.alert_thresholds {
            None => vec![50, 80, 100],
            Some(t) if t.get_ref().iter().any(|&p| p == 0 || p > 1000) => {
                return Err(self.at(
                    t,
                    "governance.alert_thresholds",
                    "each threshold is a percent between 1 and 1000",
                ))
            }
            Some(t) => t.get_ref().clone(),
        };
        let alert_webhook_url = match &raw.alert_webhook_url {
            Some(u)
                if !(u.get_ref().starts_with("http://") || u.get_ref().starts_with("https://")) =>
            {
                return Err(self.at(
                    u,
                    "governance.alert_webhook_url",
                    "must be an http:// or https:// URL",
                ))
            }
            u => u.as_ref().map(|u| u.get_ref().clone()),
        };
        let alert_webhook_slack = match &raw.alert_webhook_format {
            None => false,
            Some(f) if f.get_ref() == "json" => false,
            Some(f) if f.get_ref() == "slack" => true,
            Some(f) => {
                return Err(self.at(
                    f,
                    "governance.alert_webhook_format",
                    "use \"json\" or \"slack\"",
                ))
            }
        };
        Ok(GovernanceConfig {
            refresh: self.positive_ms(&raw.refresh_ms, "governance.refresh_ms", 500)?,
            default_output_tokens: self.positive(
                &raw.default_output_tokens,
                "governance.default_output_tokens",
                4096,
            )? as u64,
            alert_thresholds,
            alert_webhook_url,
            alert_webhook_slack,
            clock: keel_policy::Clock::system(),
            redis_url,
            redis_key_prefix,
            when_redis_down,
        })
    }

    /// Resolves an `env:NAME` reference.
    fn secret(
        &self,
        v: &Spanned<String>,
        key: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<SecretString, ConfigError> {
        let Some(name) = v.get_ref().strip_prefix("env:") else {
            return Err(self.at(
                v,
                key,
                "secrets are written as env:NAME (the variable that holds the secret), not inline",
            ));
        };
        match env(name) {
            Some(value) if !value.is_empty() => Ok(SecretString::from(value)),
            _ => Err(self.at(v, key, format!("environment variable {name} is not set"))),
        }
    }

    fn build(
        &self,
        raw: RawConfig,
        overrides: Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let host = match (overrides.host, &raw.server.host) {
            (Some(h), _) => h,
            (None, Some(h)) => h.get_ref().parse().map_err(|_| {
                self.at(
                    h,
                    "server.host",
                    "must be an IP address such as 127.0.0.1 or 0.0.0.0",
                )
            })?,
            (None, None) => IpAddr::from([127, 0, 0, 1]),
        };
        let port = overrides
            .port
            .or(raw.server.port.as_ref().map(|p| *p.get_ref()))
            .unwrap_or(4000);
        let master_key = match (&raw.server.master_key, env("KEEL_MASTER_KEY")) {
            (Some(reference), _) => Some(self.secret(reference, "server.master_key", env)?),
            (None, Some(k)) if !k.is_empty() => Some(SecretString::from(k)),
            (None, _) => None,
        };
        let durability_text = overrides.durability.clone().or(raw
            .store
            .durability
            .as_ref()
            .map(|d| d.get_ref().clone()));
        let durability = match durability_text.as_deref() {
            None | Some("batched") => Durability::Batched,
            Some("sync") => Durability::Sync,
            Some(other) => {
                let message = format!("'{other}' is not a durability; use \"batched\" or \"sync\"");
                return Err(match &raw.store.durability {
                    Some(d) if overrides.durability.is_none() => {
                        self.at(d, "store.durability", message)
                    }
                    _ => self.error(None, "durability", message),
                });
            }
        };
        let up = &raw.upstream;
        let executor = ExecutorConfig {
            connect_timeout: self.positive_ms(
                &up.connect_timeout_ms,
                "upstream.connect_timeout_ms",
                5_000,
            )?,
            request_timeout: self.positive_ms(
                &up.request_timeout_ms,
                "upstream.request_timeout_ms",
                600_000,
            )?,
            stream_first_byte_timeout: self.positive_ms(
                &up.stream_first_byte_timeout_ms,
                "upstream.stream_first_byte_timeout_ms",
                600_000,
            )?,
            stream_idle_timeout: self.positive_ms(
                &up.stream_idle_timeout_ms,
                "upstream.stream_idle_timeout_ms",
                300_000,
            )?,
            max_response_bytes: self.positive(
                &up.max_response_bytes,
                "upstream.max_response_bytes",
                64 << 20,
            )?,
        };
        let writer = WriterConfig {
            capacity: self.positive(&raw.store.queue_capacity, "store.queue_capacity", 4096)?,
            flush_interval: self.positive_ms(
                &raw.store.flush_interval_ms,
                "store.flush_interval_ms",
                100,
            )?,
            max_batch: 1024,
            durability,
        };
        let mut providers = Vec::with_capacity(raw.providers.len());
        let mut names = HashSet::new();
        for (i, p) in raw.providers.iter().enumerate() {
            let provider = self.provider(i, p, env)?;
            if !names.insert(provider.name.clone()) {
                return Err(self.at(
                    &p.name,
                    &format!("providers[{i}].name"),
                    "another provider already has this name",
                ));
            }
            providers.push(provider);
        }
        if providers.is_empty() {
            providers.extend(zero_config_provider(env));
        }
        let prices = raw
            .prices
            .into_iter()
            .map(|(model, price)| (model, price.into_inner()))
            .collect::<BTreeMap<_, _>>();
        let governance = self.governance(&raw.governance, &raw.counters, env)?;
        Ok(Config {
            governance,
            host,
            port,
            data_dir: overrides
                .data_dir
                .unwrap_or_else(|| PathBuf::from("keel-data")),
            master_key,
            max_body_bytes: self.positive(
                &raw.server.max_body_bytes,
                "server.max_body_bytes",
                10 << 20,
            )?,
            shutdown_grace: self.positive_ms(
                &raw.server.shutdown_grace_ms,
                "server.shutdown_grace_ms",
                30_000,
            )?,
            record_bodies: raw.server.record_bodies.unwrap_or(true),
            database_url: overrides
                .database_url
                .or(raw.store.database_url.map(Spanned::into_inner)),
            writer,
            executor,
            drain_timeout: self.positive_ms(
                &up.drain_timeout_ms,
                "upstream.drain_timeout_ms",
                30_000,
            )?,
            drain_max_bytes: self.positive(
                &up.drain_max_bytes,
                "upstream.drain_max_bytes",
                4 << 20,
            )?,
            providers,
            prices,
        })
    }

    fn provider(
        &self,
        i: usize,
        p: &RawProvider,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ProviderConfig, ConfigError> {
        let key = |field: &str| format!("providers[{i}].{field}");
        let name = p.name.get_ref().trim();
        if name.is_empty() || name.contains('/') {
            return Err(self.at(
                &p.name,
                &key("name"),
                "must be non-empty and contain no '/'",
            ));
        }
        let api_key = p
            .api_key
            .as_ref()
            .map(|k| self.secret(k, &key("api_key"), env))
            .transpose()?;
        let kind_name = p.kind.as_ref().map(|k| k.get_ref().as_str());
        let (kind, default_base_url) = match kind_name {
            None | Some("openai") => (
                ProviderKind::OpenAi(Flavor::OpenAi),
                Some("https://api.openai.com/v1"),
            ),
            Some("azure") => {
                let version = p.api_version.as_ref().ok_or_else(|| {
                    self.at(
                        &p.name,
                        &key("api_version"),
                        "Azure OpenAI needs an api_version, e.g. \"2024-10-21\"",
                    )
                })?;
                let flavor = Flavor::Azure {
                    api_version: version.get_ref().clone(),
                    deployments: p.deployments.clone().into_iter().collect(),
                };
                (ProviderKind::OpenAi(flavor), None)
            }
            Some("anthropic") => (
                ProviderKind::Anthropic {
                    version: p
                        .anthropic_version
                        .as_ref()
                        .map(|v| v.get_ref().clone())
                        .unwrap_or_else(|| anthropic::DEFAULT_VERSION.to_owned()),
                },
                Some(anthropic::DEFAULT_BASE_URL),
            ),
            Some("gemini") => (ProviderKind::Gemini, Some(gemini::DEFAULT_BASE_URL)),
            Some("bedrock") => (self.bedrock(i, p, env)?, None),
            Some(other) => {
                let kind = p.kind.as_ref().map(|k| k.span());
                return Err(self.error(
                    kind,
                    &key("kind"),
                    format!("unknown kind '{other}'; use \"openai\", \"azure\", \"anthropic\", \"gemini\" or \"bedrock\""),
                ));
            }
        };
        let default_base_url = match &kind {
            ProviderKind::Bedrock { region, .. } => {
                Some(format!("https://bedrock-runtime.{region}.amazonaws.com"))
            }
            _ => default_base_url.map(str::to_owned),
        };
        let base_url = match (&p.base_url, default_base_url) {
            (Some(url), _) => {
                if !(url.get_ref().starts_with("http://") || url.get_ref().starts_with("https://"))
                {
                    return Err(self.at(
                        url,
                        &key("base_url"),
                        "must start with http:// or https://",
                    ));
                }
                url.get_ref().clone()
            }
            (None, Some(default)) => default,
            (None, None) => {
                return Err(self.at(
                    &p.name,
                    &key("base_url"),
                    "this kind of provider needs a base_url",
                ))
            }
        };
        let mut models = p.models.clone();
        if matches!(kind, ProviderKind::OpenAi(Flavor::Azure { .. })) {
            models.extend(
                p.deployments
                    .keys()
                    .filter(|m| !p.models.contains(m))
                    .cloned(),
            );
        }
        if models.is_empty() && !p.discover {
            return Err(self.at(
                &p.name,
                &key("models"),
                "list the models it serves, or set discover = true",
            ));
        }
        Ok(ProviderConfig {
            name: name.to_owned(),
            base_url,
            api_key,
            kind,
            models,
            discover: p.discover,
            headers: p.headers.clone().into_iter().collect(),
            stream_usage: p.stream_usage.unwrap_or(true),
        })
    }
}

impl Ctx<'_> {
    /// The settings only a Bedrock provider has.
    fn bedrock(
        &self,
        i: usize,
        p: &RawProvider,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ProviderKind, ConfigError> {
        let key = |field: &str| format!("providers[{i}].{field}");
        let region = p.region.as_ref().ok_or_else(|| {
            self.at(
                &p.name,
                &key("region"),
                "Bedrock needs a region, e.g. \"us-east-1\"",
            )
        })?;
        let secret = |v: &Option<Spanned<String>>, field: &str| {
            v.as_ref()
                .map(|v| self.secret(v, &key(field), env))
                .transpose()
        };
        let access_key_id = secret(&p.aws_access_key_id, "aws_access_key_id")?;
        let secret_access_key = secret(&p.aws_secret_access_key, "aws_secret_access_key")?;
        if access_key_id.is_some() != secret_access_key.is_some() {
            return Err(self.at(
                &p.name,
                &key("aws_secret_access_key"),
                "aws_access_key_id and aws_secret_access_key go together",
            ));
        }
        Ok(ProviderKind::Bedrock {
            region: region.get_ref().trim().to_owned(),
            access_key_id: access_key_id.map(|k| k.expose_secret().to_owned()),
            secret_access_key,
            session_token: secret(&p.aws_session_token, "aws_session_token")?,
            profile: p.aws_profile.as_ref().map(|v| v.get_ref().clone()),
        })
    }
}

/// With no providers configured, `OPENAI_API_KEY` (and optionally
/// `OPENAI_BASE_URL`) gives one, like the OpenAI SDK's own defaults.
fn zero_config_provider(env: &dyn Fn(&str) -> Option<String>) -> Option<ProviderConfig> {
    let key = env("OPENAI_API_KEY").filter(|k| !k.is_empty())?;
    Some(ProviderConfig {
        name: "openai".to_owned(),
        base_url: env("OPENAI_BASE_URL")
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "https://api.openai.com/v1".to_owned()),
        api_key: Some(SecretString::from(key)),
        kind: ProviderKind::OpenAi(Flavor::OpenAi),
        models: Vec::new(),
        discover: true,
        headers: Vec::new(),
        stream_usage: true,
    })
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
