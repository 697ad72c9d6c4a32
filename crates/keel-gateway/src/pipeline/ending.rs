//! The ending half of the request path: what the client gets when a call
//! fails (Keel's own errors and the upstream's error answers, each in the
//! client's format) and the hand-off of the call to the record writer.
//! Everything above calls down into here; nothing here calls back up.

use bytes::Bytes;
use futures_util::stream::BoxStream;
use http::header::{HeaderName, HeaderValue, RETRY_AFTER};
use keel_api::error::error_body;
use keel_api::ApiError;
use keel_providers::Codec;
use uuid::Uuid;

use crate::invocation::{Answer, CallGuard, Ending};
use crate::outcome::ErrorClass;

/// What the pipeline answers; the handler renders it as HTTP.
pub enum Reply {
    /// A whole JSON body.
    Json {
        status: u16,
        body: Bytes,
        invocation: Uuid,
        /// `retry-after` passed on from the provider, rate-limit headers.
        headers: Headers,
    },
    /// An event stream, relayed as the provider sends it.
    Stream {
        invocation: Uuid,
        events: BoxStream<'static, Bytes>,
        headers: Headers,
    },
}

/// Extra response headers (empty for most calls: no allocation).
pub type Headers = Vec<(HeaderName, HeaderValue)>;

/// Headers from `(name, value)` text pairs (the policy stage's rate-limit
/// headers); a pair that is not a valid header is skipped.
pub fn headers_of(pairs: &[(&'static str, String)]) -> Headers {
    pairs
        .iter()
        .filter_map(|(name, value)| {
            Some((
                HeaderName::from_static(name),
                HeaderValue::from_str(value).ok()?,
            ))
        })
        .collect()
}

/// Why a call stopped before it had an answer to give.
pub struct Failure {
    pub error: ApiError,
    /// `retry-after` and rate-limit headers to answer with.
    pub headers: Headers,
    /// The provider produced an answer it bills for (a 2xx body cut while
    /// being read), so the record estimates its tokens.
    pub billable: bool,
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Failure {
        Failure {
            error,
            headers: Headers::new(),
            billable: false,
        }
    }
}

/// Answers with an error Keel decided on, in the client's format, after
/// recording it.
pub async fn fail(call: CallGuard, failure: Failure) -> Reply {
    let Failure {
        error,
        billable,
        headers,
    } = failure;
    let (id, ingress) = (call.id, call.ingress);
    let body = Bytes::from(error.to_json());
    let mut ending = Ending::from_error(&error, error.status(), body, call.started);
    ending.billable = billable;
    call.record(ending).await;
    let (status, body) = ingress.error_body(&error);
    json(status, body, id, headers)
}

/// Answers with an upstream's error status: its status, message and
/// `retry-after` kept, its body passed on when already in the client's
/// shape. An upstream 401/403 means Keel's provider credentials are wrong,
/// which is not the caller's fault: that becomes a 502.
pub async fn upstream_status(
    call: CallGuard,
    status: u16,
    body: Bytes,
    headers: ErrorHeaders,
) -> Reply {
    let ErrorHeaders {
        retry_after,
        detail,
    } = headers;
    let provider = call.provider_name().to_owned();
    let codec = call.codec();
    let message = upstream_message(&body)
        .unwrap_or_else(|| format!("provider '{provider}' returned HTTP {status}"));
    let (status_out, body_out) = match codec {
        // Only 4xx and 5xx are errors a client can act on; anything else
        // (a redirect, say) means the provider is misconfigured.
        _ if !(400..600).contains(&status) => (
            502,
            keel_error(
                &format!("provider '{provider}' answered with unexpected HTTP {status}"),
                "upstream_unexpected_status",
            ),
        ),
        Some(codec) if codec.refuses_credentials(status, &body) => (
            502,
            keel_error(
                &format!(
                    "provider '{provider}' rejected Keel's credentials (HTTP {status}): {message}"
                ),
                "upstream_auth",
            ),
        ),
        Some(codec) => codec
            .error(status, &body, detail.as_deref())
            .unwrap_or_else(|| (status, generic_error(status, &message))),
        None => (status, generic_error(status, &message)),
    };
    let (id, ingress) = (call.id, call.ingress);
    let ending = Ending {
        status: status_out,
        error: Some((ErrorClass::UpstreamStatus, message)),
        answer: Answer::Error {
            body: Bytes::copy_from_slice(&body_out),
        },
        ttft: None,
        latency: call.started.elapsed(),
        billable: false,
        client_gone: false,
    };
    let same_format = codec.is_some_and(|c| ingress.speaks(c));
    call.record(ending).await;
    // The provider's own error body, when it is already in the client's
    // format and its status stands.
    let own = (same_format && status_out == status).then_some(body);
    let body_out = ingress.upstream_error_body(status_out, body_out, own);
    let headers = retry_after.map(|v| (RETRY_AFTER, v)).into_iter().collect();
    json(status_out, body_out, id, headers)
}

/// An error for a fault inside Keel.
pub fn internal(message: impl Into<String>) -> ApiError {
    ApiError::new(keel_api::ErrorKind::Internal, message)
}

/// A JSON reply naming its invocation.
pub fn json(status: u16, body: Bytes, invocation: Uuid, headers: Headers) -> Reply {
    Reply::Json {
        status,
        body,
        invocation,
        headers,
    }
}

/// An upstream error Keel describes itself, in the OpenAI shape.
fn keel_error(message: &str, code: &str) -> Bytes {
    Bytes::from(error_body(message, "upstream_error", None, Some(code)))
}

/// An upstream error body no format recognised, as an OpenAI error.
fn generic_error(status: u16, message: &str) -> Bytes {
    let kind = match status >= 500 {
        true => "server_error",
        false => "invalid_request_error",
    };
    Bytes::from(error_body(message, kind, None, None))
}

/// The headers of an upstream error answer that shape Keel's answer.
pub struct ErrorHeaders {
    /// Passed on, so clients back off as the provider asks.
    retry_after: Option<HeaderValue>,
    /// The header the provider's format details its errors in, if any.
    detail: Option<String>,
}

impl ErrorHeaders {
    /// Reads them off an upstream response.
    pub fn of(headers: &http::HeaderMap, codec: &dyn Codec) -> ErrorHeaders {
        ErrorHeaders {
            retry_after: headers.get(RETRY_AFTER).cloned(),
            detail: codec
                .error_detail_header()
                .and_then(|name| headers.get(name))
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        }
    }
}

/// The message of an upstream error body: `error.message`, or its text.
fn upstream_message(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        error: Inner,
    }
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Inner {
        Object { message: String },
        Text(String),
    }
    /// Bedrock's errors: `{"message": …}`.
    #[derive(serde::Deserialize)]
    struct Bare {
        message: String,
    }
    if let Ok(env) = serde_json::from_slice::<Envelope>(body) {
        return Some(match env.error {
            Inner::Object { message } | Inner::Text(message) => message,
        });
    }
    if let Ok(bare) = serde_json::from_slice::<Bare>(body) {
        return Some(bare.message);
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    (!text.is_empty()).then(|| text.chars().take(500).collect())
}
