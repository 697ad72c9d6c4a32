//! Checks a request's authorization the way Bedrock does: a Bedrock API key
//! (`Authorization: Bearer`) or a SigV4 signature, recomputed here by hand
//! (HMAC-SHA256 over the canonical request, as AWS documents the algorithm)
//! with the fake's known credentials, independently of the signer under
//! test.
//!
//! The canonical request is: method, the path with every byte but
//! unreserved ones and `/` percent-encoded (so an already encoded `%3A` is
//! signed as `%253A`, as for every AWS service but S3), the query sorted,
//! each signed header as `name:value` (values trimmed, inner runs of spaces
//! collapsed, repeats joined with `,`), the signed header names, and the hex
//! SHA-256 of the body. Not checked: clock skew, and the value of a session
//! token (it must only be signed).

use hmac::{Hmac, Mac};
use http::request::Parts;
use sha2::{Digest, Sha256};

use super::{BEDROCK_ACCESS_KEY_ID, BEDROCK_API_KEY, BEDROCK_REGION, BEDROCK_SECRET_ACCESS_KEY};

/// Why a request is not authorized: Bedrock's error name and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Denial {
    pub error_type: &'static str,
    pub message: String,
}

/// The start of Bedrock's message for a signature that does not match.
pub(crate) const MISMATCH: &str = "The request signature we calculated does not match the \
    signature you provided. Check your AWS Secret Access Key and signing method. Consult the \
    service documentation for details.";

fn deny(error_type: &'static str, message: impl Into<String>) -> Denial {
    Denial {
        error_type,
        message: message.into(),
    }
}

/// Accepts a request carrying the fake's API key or a valid signature.
pub(crate) fn verify(parts: &Parts, body: &[u8]) -> Result<(), Denial> {
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let Some(auth) = header("authorization") else {
        return Err(deny(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        ));
    };
    if let Some(token) = auth.strip_prefix("Bearer ") {
        return if token.trim() == BEDROCK_API_KEY {
            Ok(())
        } else {
            Err(deny(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ))
        };
    }
    let fields = auth.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(|| {
        deny(
            "IncompleteSignatureException",
            "Unsupported authorization type",
        )
    })?;
    let field = |key: &str| {
        fields
            .split(',')
            .filter_map(|f| f.trim().split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
    };
    let incomplete = |what: &str| {
        deny(
            "IncompleteSignatureException",
            format!("Authorization header requires '{what}' parameter."),
        )
    };
    let credential = field("Credential").ok_or_else(|| incomplete("Credential"))?;
    let signed_headers = field("SignedHeaders").ok_or_else(|| incomplete("SignedHeaders"))?;
    let signature = field("Signature").ok_or_else(|| incomplete("Signature"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, date, region, service, terminator] = scope[..] else {
        return Err(deny("IncompleteSignatureException", "Malformed Credential"));
    };
    if key_id != BEDROCK_ACCESS_KEY_ID {
        return Err(deny(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        ));
    }
    if region != BEDROCK_REGION || service != "bedrock" || terminator != "aws4_request" {
        return Err(deny(
            "InvalidSignatureException",
            format!("Credential should be scoped to a valid region and service, not '{region}/{service}'."),
        ));
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    for required in ["host", "x-amz-date"] {
        if !names.contains(&required) {
            return Err(deny(
                "InvalidSignatureException",
                format!("'{required}' must be a signed header."),
            ));
        }
    }
    if header("x-amz-security-token").is_some() && !names.contains(&"x-amz-security-token") {
        return Err(deny(
            "InvalidSignatureException",
            "'x-amz-security-token' must be a signed header.",
        ));
    }
    let amz_date = header("x-amz-date").unwrap_or_default();
    if !amz_date.starts_with(date) {
        return Err(deny(
            "InvalidSignatureException",
            format!("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{date}' != '{amz_date}'"),
        ));
    }
    let canonical = canonical_request(parts, &names, body);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(
        format!("AWS4{BEDROCK_SECRET_ACCESS_KEY}").as_bytes(),
        date.as_bytes(),
    );
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    let expected = hex(&hmac(&key, string_to_sign.as_bytes()));
    if expected == signature {
        Ok(())
    } else {
        Err(deny(
            "InvalidSignatureException",
            format!(
                "{MISMATCH}\n\nThe Canonical String for this request should have been\n'{canonical}'\n\n\
                 The String-to-Sign should have been\n'{string_to_sign}'\n"
            ),
        ))
    }
}

fn canonical_request(parts: &Parts, names: &[&str], body: &[u8]) -> String {
    let mut query: Vec<&str> = parts
        .uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .collect();
    query.sort_unstable();
    let mut headers = String::new();
    for name in names {
        let values: Vec<String> = parts
            .headers
            .get_all(*name)
            .iter()
            .map(|v| {
                String::from_utf8_lossy(v.as_bytes())
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    format!(
        "{}\n{}\n{}\n{headers}\n{}\n{}",
        parts.method,
        encode_path(parts.uri.path()),
        query.join("&"),
        names.join(";"),
        hex(&Sha256::digest(body))
    )
}

/// Percent-encodes every byte of `path` but unreserved ones and `/`.
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length; the error branch cannot happen.
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signing key and signature of the AWS SigV4 test suite's
    /// `post-vanilla` case, recomputed with this module's functions.
    #[test]
    fn reproduces_the_post_vanilla_signature() {
        let canonical = "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
                         host;x-amz-date\n\
                         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let sts = format!(
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let mut key = hmac(b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", b"20150830");
        for part in ["us-east-1", "service", "aws4_request"] {
            key = hmac(&key, part.as_bytes());
        }
        assert_eq!(
            hex(&hmac(&key, sts.as_bytes())),
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );
    }

    #[test]
    fn paths_are_encoded_again() {
        assert_eq!(
            encode_path("/model/a.b-v1%3A0/converse"),
            "/model/a.b-v1%253A0/converse"
        );
    }
}
