//! The AWS key pair SigV4 signs with, whichever source it came from (the
//! static sources in [`super::credentials`], or a remote one in
//! [`super::remote`]). Its own module so that neither source depends on
//! the other for it.

use std::fmt;

use secrecy::SecretString;

/// An AWS access key pair, optionally with a session token (temporary
/// credentials), for SigV4 signing.
#[derive(Clone)]
pub struct Credentials {
    /// Names the key pair in every signature's scope.
    pub access_key_id: String,
    /// Signs; never sent.
    pub secret_access_key: SecretString,
    /// Sent (and signed) as `x-amz-security-token` with temporary
    /// credentials.
    pub session_token: Option<SecretString>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "** redacted **"),
            )
            .finish()
    }
}
