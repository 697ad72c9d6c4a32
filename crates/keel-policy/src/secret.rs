//! Virtual key secrets: `sk-keel-` and 64 hex digits (256 random bits from
//! the operating system's generator). Only the SHA-256 is stored, with a
//! short prefix to tell keys apart in listings.

use sha2::{Digest, Sha256};

/// What every virtual key starts with.
pub const KEY_PREFIX: &str = "sk-keel-";

/// Characters of the secret shown in listings (`sk-keel-` and four more).
const VISIBLE: usize = KEY_PREFIX.len() + 4;

/// A new secret, its hash and its visible prefix.
pub struct NewSecret {
    pub secret: String,
    pub sha256: String,
    pub prefix: String,
}

/// Makes a new secret.
pub fn generate() -> NewSecret {
    let secret = format!(
        "{KEY_PREFIX}{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    NewSecret {
        sha256: sha256_hex(&secret),
        prefix: secret[..VISIBLE].to_owned(),
        secret,
    }
}

/// The SHA-256 of a secret as raw bytes (the in-memory index key).
pub fn sha256(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The SHA-256 of a secret as lowercase hex (the stored form).
pub fn sha256_hex(secret: &str) -> String {
    hex(&sha256(secret))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// Parses 64 hex digits back into a hash; None for anything else.
pub fn parse_hex(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let digit = |c: u8| (c as char).to_digit(16);
        out[i] = (digit(pair[0])? * 16 + digit(pair[1])?) as u8;
    }
    Some(out)
}

/// True when `text` has the shape of a virtual key (not whether it exists).
pub fn looks_like_key(text: &str) -> bool {
    text.strip_prefix(KEY_PREFIX)
        .is_some_and(|rest| rest.len() == 64 && rest.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_distinct_well_formed_and_hash_to_what_is_stored() {
        let a = generate();
        let b = generate();
        assert_ne!(a.secret, b.secret);
        assert!(looks_like_key(&a.secret), "{}", a.secret);
        assert!(a.secret.starts_with(&a.prefix));
        assert_eq!(a.prefix.len(), 12);
        assert_eq!(parse_hex(&a.sha256), Some(sha256(&a.secret)));
        assert!(!looks_like_key("sk-keel-short"));
        assert!(parse_hex("zz").is_none());
    }
}
