//! What a Bedrock provider is configured with.

use secrecy::SecretString;

/// Settings of one Bedrock provider (one account and region).
#[derive(Clone)]
pub struct BedrockSettings {
    /// The configured name, used in `provider/model` and in records.
    pub name: String,
    /// The AWS region, e.g. `us-east-1`: part of the default URL and of
    /// every signature.
    pub region: String,
    /// Overrides `https://bedrock-runtime.{region}.amazonaws.com` (a VPC
    /// endpoint, a proxy, a fake).
    pub base_url: Option<String>,
    /// Explicit access key id; with `secret_access_key` or not at all.
    pub access_key_id: Option<String>,
    /// The secret of `access_key_id`.
    pub secret_access_key: Option<SecretString>,
    /// The session token of temporary explicit keys.
    pub session_token: Option<SecretString>,
    /// The shared credentials file profile, instead of `AWS_PROFILE`.
    pub profile: Option<String>,
    /// A Bedrock API key, used instead of signing.
    pub api_key: Option<SecretString>,
}

impl BedrockSettings {
    /// Settings with only a name and a region; credentials then come from
    /// the environment or the shared credentials file.
    pub fn new(name: &str, region: &str) -> Self {
        BedrockSettings {
            name: name.to_owned(),
            region: region.to_owned(),
            base_url: None,
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            profile: None,
            api_key: None,
        }
    }
}
