//! The identify stage: who is calling (the key from `Authorization: Bearer`
//! or `x-api-key`, as the Anthropic SDK sends it: the master key, compared
//! in constant time, or a virtual key, found by its SHA-256 in memory),
//! then the body, read within its size and time limits.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, Limited};
use keel_api::{ApiError, ErrorKind};
use keel_policy::directory::Snapshot;
use keel_policy::{AuthError, KeyEntry, Principal};
use secrecy::{ExposeSecret, SecretString};

use crate::invocation::Call;
use crate::state::AppState;

pub use keel_policy::principal::MASTER_KEY_ID;

/// The master key's principal, made once.
static MASTER: LazyLock<Arc<Principal>> = LazyLock::new(Principal::master);

/// Who presented which key.
pub enum Caller {
    Master,
    Key(Arc<KeyEntry>),
}

impl Caller {
    /// The caller as records and policy see it.
    pub fn principal(&self) -> Arc<Principal> {
        match self {
            Caller::Master => MASTER.clone(),
            Caller::Key(entry) => entry.principal.clone(),
        }
    }

    /// The virtual key, if the caller used one.
    pub fn key(&self) -> Option<&Arc<KeyEntry>> {
        match self {
            Caller::Master => None,
            Caller::Key(entry) => Some(entry),
        }
    }
}

/// Identifies the caller, then reads the body (keeping an exact-size copy
/// for the record: the read buffer it sits in may be far larger).
pub async fn identify(
    state: &AppState,
    call: &mut Call,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, ApiError> {
    let directory = state.governance.directory.snapshot();
    let now_ms = state.governance.ledger.clock().now_ms();
    let caller = authenticate(headers, &state.master_key, &directory, now_ms)?;
    call.principal = Some(caller.principal());
    let body = read_body(body, headers, state.config.max_body_bytes).await?;
    call.request_body = Some(Bytes::copy_from_slice(&body));
    Ok(body)
}

/// How long a client may take to send its request body.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads the whole request body, refusing more than `max` bytes.
async fn read_body(body: Body, headers: &HeaderMap, max: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorKind::BodyTooLarge,
            format!("The request body is larger than the limit of {max} bytes."),
        )
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(too_large());
    }
    let read = tokio::time::timeout(BODY_READ_TIMEOUT, Limited::new(body, max).collect());
    let Ok(collected) = read.await else {
        return Err(ApiError::new(
            ErrorKind::RequestTimeout,
            format!("The request body did not arrive within {BODY_READ_TIMEOUT:?}."),
        ));
    };
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(e) => Err(ApiError::invalid(
            "body",
            format!("could not read the request body: {e}"),
        )),
    }
}

/// Checks the caller's key against the master key and the directory.
pub fn authenticate(
    headers: &HeaderMap,
    master_key: &SecretString,
    directory: &Snapshot,
    now_ms: i64,
) -> Result<Caller, ApiError> {
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim);
    match presented {
        None | Some("") => Err(ApiError::new(
            ErrorKind::Unauthorized,
            "Missing API key. Send it as 'Authorization: Bearer <key>'.",
        )),
        Some(key) if constant_time_eq(key.as_bytes(), master_key.expose_secret().as_bytes()) => {
            Ok(Caller::Master)
        }
        Some(key) => match directory.authenticate(key, now_ms) {
            Ok(entry) => Ok(Caller::Key(entry)),
            Err(why) => Err(ApiError::new(
                ErrorKind::Unauthorized,
                match why {
                    AuthError::Unknown => "Incorrect API key provided.",
                    AuthError::Revoked => "This API key has been revoked.",
                    AuthError::Expired => "This API key has expired.",
                },
            )),
        },
    }
}

/// Equal-length comparison that does not stop at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn auth(h: &HeaderMap, key: &SecretString) -> Result<Caller, ApiError> {
        authenticate(h, key, &Snapshot::default(), 0)
    }

    #[test]
    fn accepts_bearer_and_x_api_key() {
        let key = SecretString::from("k-123");
        for h in [
            headers(&[("authorization", "Bearer k-123")]),
            headers(&[("x-api-key", "k-123")]),
        ] {
            assert_eq!(auth(&h, &key).unwrap().principal().key_id, MASTER_KEY_ID);
        }
    }

    #[test]
    fn refuses_missing_and_wrong_keys_with_401() {
        let key = SecretString::from("k-123");
        for h in [
            headers(&[]),
            headers(&[("authorization", "Bearer ")]),
            headers(&[("authorization", "Bearer k-124")]),
            headers(&[("authorization", "Basic k-123")]),
            headers(&[("authorization", "Bearer k-1234")]),
        ] {
            let Err(err) = auth(&h, &key) else {
                panic!("accepted")
            };
            assert_eq!(err.status(), 401);
            assert_eq!(err.code.as_deref(), Some("invalid_api_key"));
        }
    }
}
