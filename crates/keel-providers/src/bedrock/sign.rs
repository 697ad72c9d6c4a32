//! SigV4 request signing with the `aws-sigv4` crate, in its default
//! settings for non-S3 services: the path is URI-encoded again for the
//! canonical request (`%3A` in a model id is signed as `%253A`, as Bedrock
//! expects), the session token is signed, and no `x-amz-content-sha256`
//! header is added (the payload hash still is part of the signature).

use std::time::SystemTime;

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;

use super::signing_keys::Credentials;
use secrecy::ExposeSecret;

/// Signs for one service in one region with one set of credentials
/// (converted once into the crate's own type).
pub(super) struct Signer {
    creds: aws_credential_types::Credentials,
    region: String,
    service: &'static str,
}

impl Signer {
    /// Prepares signing for `service` in `region`.
    pub(super) fn new(creds: &Credentials, region: &str, service: &'static str) -> Self {
        let creds = aws_credential_types::Credentials::new(
            creds.access_key_id.clone(),
            creds.secret_access_key.expose_secret().to_owned(),
            creds
                .session_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            None,
            "keel",
        );
        Signer {
            creds,
            region: region.to_owned(),
            service,
        }
    }

    /// The headers to add to a request so it carries a SigV4 signature made
    /// at `time`: `x-amz-date`, `authorization`, and
    /// `x-amz-security-token` with temporary credentials. `headers` are the
    /// request's own headers that are to be signed (`host` is taken from the
    /// URL when absent).
    pub(super) fn sign(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        time: SystemTime,
    ) -> Result<Vec<(&'static str, String)>, String> {
        let identity = self.creds.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.service)
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let request = SignableRequest::new(
            method,
            url,
            headers.iter().copied(),
            SignableBody::Bytes(body),
        )
        .map_err(|e| e.to_string())?;
        let (instructions, _signature) = sign(request, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        let (headers, _params) = instructions.into_parts();
        Ok(headers
            .into_iter()
            .map(|h| (h.name(), h.value().to_owned()))
            .collect())
    }
}
