//! Where Bedrock credentials come from, resolved once at start-up, without
//! network calls: the part of the standard AWS chain that can be read
//! synchronously, plus Bedrock API keys.
//!
//! Order (the first source that yields credentials wins):
//! 1. the provider's settings: `api_key` (a Bedrock API key), else
//!    `access_key_id` + `secret_access_key` (+ `session_token`);
//! 2. `AWS_BEARER_TOKEN_BEDROCK` (a Bedrock API key; the AWS SDKs prefer it
//!    over keys when both are set);
//! 3. `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`);
//! 4. the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else
//!    `~/.aws/credentials`), profile from the settings, else `AWS_PROFILE`,
//!    else `default`: its `aws_access_key_id`, `aws_secret_access_key` and
//!    `aws_session_token`.
//!
//! 5. when none of those has any: the container credentials endpoint or the
//!    EC2 instance metadata service ([`super::remote`]), fetched and
//!    refreshed over the network by the gateway.
//!
//! Not covered: the `~/.aws/config` file (its `role_arn`/`source_profile`
//! role assumption, `credential_process`, `sso_*` and `login_session`
//! settings, and keys stored there) and web identity tokens
//! (`AWS_WEB_IDENTITY_TOKEN_FILE`). Static temporary credentials (a session
//! token in the settings, the environment or the file) are not refreshed.

use std::fmt;

use secrecy::SecretString;

use super::remote::{remote_source, RemoteSource};
use super::settings::BedrockSettings;
pub use super::signing_keys::Credentials;

/// The AWS environment variable holding a Bedrock API key.
pub const BEARER_TOKEN_ENV: &str = "AWS_BEARER_TOKEN_BEDROCK";

/// How requests to Bedrock are authorized.
#[derive(Clone)]
pub enum Auth {
    /// SigV4 signatures made with these credentials.
    SigV4(Credentials),
    /// A Bedrock API key, sent as `Authorization: Bearer …`.
    ApiKey(SecretString),
    /// SigV4 with temporary credentials fetched, and refreshed, from here.
    Remote(RemoteSource),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::SigV4(c) => f.debug_tuple("SigV4").field(c).finish(),
            Auth::ApiKey(_) => f.write_str("ApiKey(** redacted **)"),
            Auth::Remote(source) => f.debug_tuple("Remote").field(source).finish(),
        }
    }
}

/// The authorization for `settings`: a Bedrock API key or SigV4 credentials,
/// in the order the module documents. `env` reads an environment variable
/// (`|k| std::env::var(k).ok()` in production), so tests need not touch the
/// process environment.
pub fn load_auth(
    settings: &BedrockSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Auth, String> {
    if let Some(key) = &settings.api_key {
        return Ok(Auth::ApiKey(key.clone()));
    }
    if let Some(creds) = from_settings(settings)? {
        return Ok(Auth::SigV4(creds));
    }
    if let Some(token) = var(env, BEARER_TOKEN_ENV) {
        return Ok(Auth::ApiKey(SecretString::from(token)));
    }
    match load_credentials(settings, env) {
        Ok(creds) => Ok(Auth::SigV4(creds)),
        // Nothing static at all: the network sources come last.
        Err(e) if e.starts_with(NO_CREDENTIALS) => remote_source(env).map(Auth::Remote).ok_or(e),
        Err(e) => Err(e),
    }
}

/// SigV4 credentials for `settings`: explicit settings, then the environment
/// keys, then the shared credentials file (Bedrock API keys are not looked
/// at; see [`load_auth`]).
pub fn load_credentials(
    settings: &BedrockSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Credentials, String> {
    if let Some(creds) = from_settings(settings)? {
        return Ok(creds);
    }
    match (
        var(env, "AWS_ACCESS_KEY_ID"),
        var(env, "AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(id), Some(secret)) => {
            return Ok(Credentials {
                access_key_id: id,
                secret_access_key: SecretString::from(secret),
                session_token: var(env, "AWS_SESSION_TOKEN").map(SecretString::from),
            })
        }
        (Some(_), None) | (None, Some(_)) => {
            return Err(
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together".to_owned(),
            )
        }
        (None, None) => {}
    }
    from_file(settings, env)
}

fn from_settings(settings: &BedrockSettings) -> Result<Option<Credentials>, String> {
    match (&settings.access_key_id, &settings.secret_access_key) {
        (Some(id), Some(secret)) => Ok(Some(Credentials {
            access_key_id: id.clone(),
            secret_access_key: secret.clone(),
            session_token: settings.session_token.clone(),
        })),
        (None, None) => Ok(None),
        _ => Err(format!(
            "provider '{}': access_key_id and secret_access_key must be set together",
            settings.name
        )),
    }
}

/// A set, non-empty environment variable.
fn var(env: &dyn Fn(&str) -> Option<String>, key: &str) -> Option<String> {
    env(key).filter(|v| !v.trim().is_empty())
}

fn from_file(
    settings: &BedrockSettings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Credentials, String> {
    let home = var(env, "HOME").or_else(|| var(env, "USERPROFILE"));
    let path = match var(env, "AWS_SHARED_CREDENTIALS_FILE") {
        Some(p) => match (p.strip_prefix("~/"), &home) {
            (Some(rest), Some(home)) => format!("{home}/{rest}"),
            _ => p,
        },
        None => match &home {
            Some(home) => format!("{home}/.aws/credentials"),
            None => {
                return Err(no_credentials(
                    "no home directory to find ~/.aws/credentials in",
                ))
            }
        },
    };
    let chosen = settings.profile.clone().or_else(|| var(env, "AWS_PROFILE"));
    let profile = chosen.clone().unwrap_or_else(|| "default".to_owned());
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && chosen.is_none() => {
            return Err(no_credentials(&format!("{path} does not exist")))
        }
        Err(e) => return Err(format!("cannot read the AWS credentials file {path}: {e}")),
    };
    let section = profile_section(&text, &profile)
        .ok_or_else(|| format!("the AWS credentials file {path} has no [{profile}] profile"))?;
    let get = |key: &str| {
        section
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(id), Some(secret)) => Ok(Credentials {
            access_key_id: id,
            secret_access_key: SecretString::from(secret),
            session_token: get("aws_session_token").map(SecretString::from),
        }),
        _ => Err(format!(
            "profile [{profile}] of {path} needs aws_access_key_id and aws_secret_access_key \
             (profiles that assume roles or use SSO are not supported)"
        )),
    }
}

/// How the error for "no static credentials anywhere" starts.
const NO_CREDENTIALS: &str = "no AWS credentials found";

fn no_credentials(detail: &str) -> String {
    format!(
        "{NO_CREDENTIALS} ({detail}): set a Bedrock API key or access keys in the \
         provider settings, {BEARER_TOKEN_ENV}, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, \
         or a profile in the shared credentials file, or run where the container or \
         instance metadata credentials endpoint answers"
    )
}

/// The `key = value` lines of `[profile]` in an INI text (the shared
/// credentials file format): `#` and `;` start comment lines, a section
/// header may be followed by a comment, and the last section of a name wins.
fn profile_section(text: &str, profile: &str) -> Option<Vec<(String, String)>> {
    let mut found = None;
    let mut current: Option<Vec<(String, String)>> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            if let Some(done) = current.take() {
                found = Some(done);
            }
            let name = rest.split(']').next().unwrap_or("").trim();
            current = (name == profile).then(Vec::new);
            continue;
        }
        if let (Some(section), Some((k, v))) = (current.as_mut(), line.split_once('=')) {
            section.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    current.or(found)
}

#[cfg(test)]
mod tests;
