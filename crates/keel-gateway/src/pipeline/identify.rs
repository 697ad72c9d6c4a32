//! Who is calling: the key from `Authorization: Bearer` (or `x-api-key`, as
//! the Anthropic SDK sends it), compared in constant time.

use http::HeaderMap;
use keel_api::{ApiError, ErrorKind};
use secrecy::{ExposeSecret, SecretString};

/// The key id records carry for the master key.
pub const MASTER_KEY_ID: &str = "master";

/// Checks the caller's key; returns the key id.
pub fn identify(headers: &HeaderMap, master_key: &SecretString) -> Result<&'static str, ApiError> {
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
            Ok(MASTER_KEY_ID)
        }
        Some(_) => Err(ApiError::new(
            ErrorKind::Unauthorized,
            "Incorrect API key provided.",
        )),
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

    #[test]
    fn accepts_bearer_and_x_api_key() {
        let key = SecretString::from("k-123");
        assert_eq!(
            identify(&headers(&[("authorization", "Bearer k-123")]), &key).unwrap(),
            MASTER_KEY_ID
        );
        assert_eq!(
            identify(&headers(&[("x-api-key", "k-123")]), &key).unwrap(),
            MASTER_KEY_ID
        );
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
            let err = identify(&h, &key).unwrap_err();
            assert_eq!(err.status(), 401);
            assert_eq!(err.code.as_deref(), Some("invalid_api_key"));
        }
    }
}
