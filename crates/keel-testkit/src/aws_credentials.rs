//! Fakes of the two network credential sources of the AWS chain, handing
//! out the keys the fake Bedrock runtime accepts (with a session token), so
//! a Bedrock provider with no static credentials can be tested end to end:
//! - the container credentials endpoint: `GET` [`CONTAINER_PATH`]
//!   (`AWS_CONTAINER_CREDENTIALS_FULL_URI`), which requires
//!   `Authorization: `[`CONTAINER_TOKEN`];
//! - IMDSv2 (`AWS_EC2_METADATA_SERVICE_ENDPOINT` = the server's root):
//!   `PUT /latest/api/token` (with a TTL header) gives [`IMDS_TOKEN`], which
//!   the role listing (`GET /latest/meta-data/iam/security-credentials/`,
//!   one role: [`IMDS_ROLE`]) and the role's credentials require.
//!
//! Both answer the document AWS documents: `AccessKeyId`,
//! `SecretAccessKey`, `Token`, `Expiration` (IMDS adds `Code`,
//! `LastUpdated` and `Type`).

use http::request::Parts;
use http::{Method, StatusCode};
use serde_json::{json, Value};

use crate::bedrock::{BEDROCK_ACCESS_KEY_ID, BEDROCK_SECRET_ACCESS_KEY};
use crate::body::ReplyBody;
use crate::respond::{self, Outcome};

/// The container credentials path.
pub const CONTAINER_PATH: &str = "/__aws/container-credentials";
/// The authorization token the container endpoint requires.
pub const CONTAINER_TOKEN: &str = "fake-container-authorization-token";
/// The IMDSv2 session token the fake hands out.
pub const IMDS_TOKEN: &str = "fake-imds-session-token";
/// The instance's role name.
pub const IMDS_ROLE: &str = "keel-fake-role";
/// The session token every fetched credential set carries.
pub const SESSION_TOKEN: &str = "fake-aws-session-token";

const IMDS_TOKEN_PATH: &str = "/latest/api/token";
const IMDS_ROLES_PATH: &str = "/latest/meta-data/iam/security-credentials/";

/// Whether `path` is one of these routes.
pub(crate) fn serves(path: &str) -> bool {
    path == CONTAINER_PATH || path == IMDS_TOKEN_PATH || path.starts_with(IMDS_ROLES_PATH)
}

/// Answers one request on these routes.
pub(crate) fn handle(parts: &Parts) -> Outcome {
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let path = parts.uri.path();
    match (&parts.method, path) {
        (&Method::GET, CONTAINER_PATH) if header("authorization") == Some(CONTAINER_TOKEN) => {
            respond::json(StatusCode::OK, &document(false)).into()
        }
        (&Method::GET, CONTAINER_PATH) => text(StatusCode::UNAUTHORIZED, "unauthorized"),
        (&Method::PUT, IMDS_TOKEN_PATH)
            if header("x-aws-ec2-metadata-token-ttl-seconds").is_some() =>
        {
            text(StatusCode::OK, IMDS_TOKEN)
        }
        (&Method::PUT, IMDS_TOKEN_PATH) => text(StatusCode::BAD_REQUEST, "missing TTL"),
        (&Method::GET, _) if header("x-aws-ec2-metadata-token") != Some(IMDS_TOKEN) => {
            text(StatusCode::UNAUTHORIZED, "")
        }
        (&Method::GET, IMDS_ROLES_PATH) => text(StatusCode::OK, IMDS_ROLE),
        (&Method::GET, p) if p.strip_prefix(IMDS_ROLES_PATH) == Some(IMDS_ROLE) => {
            respond::json(StatusCode::OK, &document(true)).into()
        }
        (method, path) => respond::not_found(method.as_str(), path).into(),
    }
}

/// The credentials document; far from expiring, so a test never sees a
/// refresh.
fn document(imds: bool) -> Value {
    let mut doc = json!({
        "AccessKeyId": BEDROCK_ACCESS_KEY_ID,
        "SecretAccessKey": BEDROCK_SECRET_ACCESS_KEY,
        "Token": SESSION_TOKEN,
        "Expiration": "2099-01-01T00:00:00Z",
    });
    if imds {
        doc["Code"] = json!("Success");
        doc["LastUpdated"] = json!("2026-01-01T00:00:00Z");
        doc["Type"] = json!("AWS-HMAC");
    }
    doc
}

fn text(status: StatusCode, body: &'static str) -> Outcome {
    respond::with_body(
        status,
        "text/plain",
        ReplyBody::full(body.as_bytes().to_vec()),
    )
    .into()
}
