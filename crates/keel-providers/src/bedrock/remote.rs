//! The network end of the AWS credential chain: the container credentials
//! endpoint (ECS tasks, EKS Pod Identity) and the EC2 instance metadata
//! service (IMDSv2). Both hand out temporary credentials that expire, so
//! they are fetched at start-up and again before they run out (by the
//! gateway, which owns the HTTP client); this module only builds the
//! requests and reads the answers.
//!
//! Chosen after every static source (see [`super::credentials`]) came up
//! empty, as the AWS SDKs do:
//! 1. `AWS_CONTAINER_CREDENTIALS_FULL_URI`, else
//!    `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` under `http://169.254.170.2`,
//!    with `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read at every fetch:
//!    the file is rotated) or `AWS_CONTAINER_AUTHORIZATION_TOKEN` as the
//!    `Authorization` header;
//! 2. unless `AWS_EC2_METADATA_DISABLED=true`, IMDSv2 at
//!    `AWS_EC2_METADATA_SERVICE_ENDPOINT` (default `http://169.254.169.254`):
//!    a session token (`PUT /latest/api/token`), the instance's role name,
//!    then that role's credentials.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, AUTHORIZATION};
use http::{HeaderMap, Method};
use secrecy::SecretString;
use serde::Deserialize;

use super::signing_keys::Credentials;
use crate::UpstreamRequest;

/// Where ECS publishes `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` paths.
const ECS_ENDPOINT: &str = "http://169.254.170.2";
/// The instance metadata service's address on every EC2 instance.
const IMDS_ENDPOINT: &str = "http://169.254.169.254";
/// How long an IMDSv2 session token lives (the 6 hours the SDKs ask for).
const IMDS_TOKEN_TTL_SECONDS: &str = "21600";
const IMDS_TOKEN_HEADER: HeaderName = HeaderName::from_static("x-aws-ec2-metadata-token");
const IMDS_TTL_HEADER: HeaderName = HeaderName::from_static("x-aws-ec2-metadata-token-ttl-seconds");
const IMDS_ROLES_PATH: &str = "/latest/meta-data/iam/security-credentials/";

/// A source of temporary credentials over HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteSource {
    /// The container credentials endpoint: one `GET`.
    Container {
        url: String,
        /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, read at every fetch.
        token_file: Option<String>,
        /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
        token: Option<String>,
    },
    /// IMDSv2 at this endpoint: token, role name, credentials.
    InstanceMetadata { endpoint: String },
}

/// Credentials as fetched, with when they stop working.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub credentials: Credentials,
    /// `None` when the source gave no expiry (they are then fetched again on
    /// the default schedule).
    pub expiration: Option<SystemTime>,
}

/// The remote source the environment points at, if any (see the module
/// doc for the order). `env` reads one variable.
pub fn remote_source(env: &dyn Fn(&str) -> Option<String>) -> Option<RemoteSource> {
    let var = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let container_url = var("AWS_CONTAINER_CREDENTIALS_FULL_URI").or_else(|| {
        var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").map(|path| format!("{ECS_ENDPOINT}{path}"))
    });
    if let Some(url) = container_url {
        return Some(RemoteSource::Container {
            url,
            token_file: var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
            token: var("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
        });
    }
    if var("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return None;
    }
    let endpoint = var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .unwrap_or_else(|| IMDS_ENDPOINT.to_owned())
        .trim_end_matches('/')
        .to_owned();
    Some(RemoteSource::InstanceMetadata { endpoint })
}

impl RemoteSource {
    /// Where the credentials come from, for logs and errors.
    pub fn describe(&self) -> String {
        match self {
            RemoteSource::Container { url, .. } => format!("the container endpoint {url}"),
            RemoteSource::InstanceMetadata { endpoint } => {
                format!("the instance metadata service at {endpoint}")
            }
        }
    }

    /// The container endpoint's request. Fails when the token file cannot
    /// be read.
    pub fn container_request(&self) -> Result<UpstreamRequest, String> {
        let RemoteSource::Container {
            url,
            token_file,
            token,
        } = self
        else {
            return Err("not a container credentials source".to_owned());
        };
        let token = match token_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read the container token file {path}: {e}"))?
                    .trim()
                    .to_owned(),
            ),
            None => token.clone(),
        };
        let mut headers = HeaderMap::new();
        if let Some(token) = token {
            let mut value = HeaderValue::from_str(&token)
                .map_err(|_| "the container authorization token is not a header value")?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        Ok(get(url.clone(), headers))
    }

    /// IMDSv2 step 1: the session token request.
    pub fn imds_token_request(&self) -> Result<UpstreamRequest, String> {
        let endpoint = self.imds_endpoint()?;
        let mut headers = HeaderMap::new();
        headers.insert(
            IMDS_TTL_HEADER,
            HeaderValue::from_static(IMDS_TOKEN_TTL_SECONDS),
        );
        Ok(UpstreamRequest {
            method: Method::PUT,
            url: format!("{endpoint}/latest/api/token"),
            headers,
            body: Bytes::new(),
        })
    }

    /// IMDSv2 step 2 (`role` = `None`): the instance role's name; step 3:
    /// that role's credentials.
    pub fn imds_request(&self, token: &str, role: Option<&str>) -> Result<UpstreamRequest, String> {
        let endpoint = self.imds_endpoint()?;
        let mut headers = HeaderMap::new();
        let mut value = HeaderValue::from_str(token.trim())
            .map_err(|_| "the instance metadata token is not a header value")?;
        value.set_sensitive(true);
        headers.insert(IMDS_TOKEN_HEADER, value);
        Ok(get(
            format!("{endpoint}{IMDS_ROLES_PATH}{}", role.unwrap_or("")),
            headers,
        ))
    }

    fn imds_endpoint(&self) -> Result<&str, String> {
        match self {
            RemoteSource::InstanceMetadata { endpoint } => Ok(endpoint),
            RemoteSource::Container { .. } => Err("not an instance metadata source".to_owned()),
        }
    }
}

/// The first role name in IMDS's role listing (one name per line).
pub fn imds_role(body: &[u8]) -> Result<String, String> {
    String::from_utf8_lossy(body)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| "the instance has no IAM role attached".to_owned())
}

/// Reads the credentials document both sources answer with:
/// `{"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}` (IMDS adds
/// `"Code": "Success"`).
pub fn parse_credentials(body: &[u8]) -> Result<Fetched, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Document {
        code: Option<String>,
        access_key_id: Option<String>,
        secret_access_key: Option<String>,
        token: Option<String>,
        expiration: Option<String>,
    }
    let doc: Document = serde_json::from_slice(body)
        .map_err(|e| format!("the credentials answer is not the expected JSON: {e}"))?;
    if let Some(code) = doc.code.filter(|c| c != "Success") {
        return Err(format!("the credentials source answered {code}"));
    }
    let (Some(id), Some(secret)) = (doc.access_key_id, doc.secret_access_key) else {
        return Err("the credentials answer lacks AccessKeyId or SecretAccessKey".to_owned());
    };
    let expiration = doc
        .expiration
        .map(|e| {
            aws_smithy_types::DateTime::from_str(&e, aws_smithy_types::date_time::Format::DateTime)
                .ok()
                .and_then(|t| SystemTime::try_from(t).ok())
                .ok_or_else(|| format!("the credentials expiry {e:?} is not a date"))
        })
        .transpose()?;
    Ok(Fetched {
        credentials: Credentials {
            access_key_id: id,
            secret_access_key: SecretString::from(secret),
            session_token: doc.token.map(SecretString::from),
        },
        expiration,
    })
}

/// How long to wait before fetching again: 5 minutes before they expire
/// (at least a minute from now), or 15 minutes without an expiry.
pub fn refresh_after(fetched: &Fetched, now: SystemTime) -> Duration {
    const EARLY: Duration = Duration::from_secs(300);
    const MIN: Duration = Duration::from_secs(60);
    match fetched.expiration {
        Some(at) => at
            .duration_since(now)
            .unwrap_or_default()
            .saturating_sub(EARLY)
            .max(MIN),
        None => Duration::from_secs(900),
    }
}

fn get(url: String, headers: HeaderMap) -> UpstreamRequest {
    UpstreamRequest {
        method: Method::GET,
        url,
        headers,
        body: Bytes::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_environment_picks_the_source() {
        assert_eq!(
            remote_source(&env(&[
                (
                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                    "/v2/credentials/abc"
                ),
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok"),
            ])),
            Some(RemoteSource::Container {
                url: "http://169.254.170.2/v2/credentials/abc".into(),
                token_file: None,
                token: Some("tok".into()),
            })
        );
        let full = remote_source(&env(&[
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://127.0.0.1:9/creds",
            ),
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/ignored"),
        ]));
        assert!(
            matches!(full, Some(RemoteSource::Container { url, .. }) if url == "http://127.0.0.1:9/creds")
        );
        assert_eq!(
            remote_source(&env(&[])),
            Some(RemoteSource::InstanceMetadata {
                endpoint: "http://169.254.169.254".into()
            })
        );
        assert_eq!(
            remote_source(&env(&[("AWS_EC2_METADATA_DISABLED", "TRUE")])),
            None
        );
    }

    #[test]
    fn imds_requests_carry_the_session_token() {
        let s = RemoteSource::InstanceMetadata {
            endpoint: "http://imds.test".into(),
        };
        let t = s.imds_token_request().unwrap();
        assert_eq!(
            (t.method.as_str(), t.url.as_str()),
            ("PUT", "http://imds.test/latest/api/token")
        );
        assert_eq!(t.headers["x-aws-ec2-metadata-token-ttl-seconds"], "21600");
        let r = s.imds_request("tok", Some("my-role")).unwrap();
        assert_eq!(
            r.url,
            "http://imds.test/latest/meta-data/iam/security-credentials/my-role"
        );
        assert_eq!(r.headers["x-aws-ec2-metadata-token"], "tok");
        assert_eq!(imds_role(b"my-role\n").unwrap(), "my-role");
        assert!(imds_role(b"\n").is_err());
    }

    #[test]
    fn reads_the_credentials_document() {
        let f = parse_credentials(
            br#"{"Code":"Success","AccessKeyId":"ASIA1","SecretAccessKey":"s","Token":"t","Expiration":"2030-01-01T00:10:00Z"}"#,
        )
        .unwrap();
        assert_eq!(f.credentials.access_key_id, "ASIA1");
        assert_eq!(
            f.credentials
                .session_token
                .as_ref()
                .unwrap()
                .expose_secret(),
            "t"
        );
        let at = f.expiration.unwrap();
        let now = at - Duration::from_secs(600);
        assert_eq!(refresh_after(&f, now), Duration::from_secs(300));
        assert_eq!(refresh_after(&f, at), Duration::from_secs(60));
        assert!(parse_credentials(br#"{"Code":"Failure"}"#).is_err());
        assert!(parse_credentials(br#"{"AccessKeyId":"A"}"#).is_err());
        assert!(parse_credentials(
            br#"{"AccessKeyId":"A","SecretAccessKey":"s","Expiration":"soon"}"#
        )
        .is_err());
    }
}
