//! Forwarding a non-streaming call: send, read the whole answer, check it is
//! what the format promises, pass the provider's bytes back unchanged.

use std::sync::Arc;

use axum::response::Response;
use bytes::Bytes;
use http::header::{HeaderValue, RETRY_AFTER};
use keel_api::anthropic::from_openai_error;
use keel_api::assemble::{summarize_response, summarize_value, ResponseSummary};
use keel_api::error::error_body;
use keel_api::{bedrock, gemini};
use keel_api::{ApiError, ErrorKind};
use keel_providers::{Operation, Route, WireFormat};
use keel_store::Outcome;
use serde_json::Value;

use super::{fail, formats, record, reject, Prepared};
use crate::error::{from_upstream, json_response};
use crate::invocation::{Answer, Call, Ending, Ingress};
use crate::state::AppState;

/// Sends a prepared call and answers with the provider's response.
pub async fn forward(state: &Arc<AppState>, mut call: Call, p: Prepared) -> Response {
    let timeout = state.executor.config().request_timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    let provider = p.route.provider.clone();
    let request = match p.upstream_request(call.operation, call.stream) {
        Ok(r) => r,
        Err(err) => return reject(state, call, err).await,
    };
    call.attempts = 1;
    let response = match state.executor.send(request, timeout).await {
        Ok(r) => r,
        Err(e) => return reject(state, call, from_upstream(e, provider.name())).await,
    };
    let status = response.status().as_u16();
    let error_headers = ErrorHeaders::of(response.headers());
    let body = match state.executor.read_body(response, deadline).await {
        Ok(b) => b,
        Err(e) => {
            // A 2xx answer cut mid-body was generated, and billed, upstream.
            let billable = (200..300).contains(&status);
            return fail(state, call, from_upstream(e, provider.name()), billable).await;
        }
    };
    if !(200..300).contains(&status) {
        return upstream_status(state, call, status, body, error_headers).await;
    }
    let (reply, summary) = match read_answer(&call, &p.route, &body) {
        Ok(answer) => answer,
        Err(err) => return reject(state, call, err).await,
    };
    let id = call.id;
    let ending = Ending {
        status,
        outcome: Outcome::Ok,
        error: None,
        answer: Answer::Body {
            // A copy of exactly the body: the response's own buffer may be a
            // slice of a much larger read buffer, pinned while queued.
            body: Bytes::copy_from_slice(&body),
            summary: Some(summary),
        },
        ttft: None,
        latency: call.started.elapsed(),
        billable: true,
    };
    record(state, call, ending).await;
    json_response(status, reply, &id, None)
}

/// Answers with a body Keel produced itself (a local token count), after
/// recording it.
pub async fn answer_locally(state: &AppState, call: Call, body: Bytes) -> Response {
    let id = call.id;
    let ending = Ending {
        status: 200,
        outcome: Outcome::Ok,
        error: None,
        answer: Answer::Body {
            body: body.clone(),
            summary: None,
        },
        ttft: None,
        latency: call.started.elapsed(),
        billable: false,
    };
    record(state, call, ending).await;
    json_response(200, body, &id, None)
}

/// A provider's successful answer: what the client gets (in its format) and
/// the record's summary of it.
fn read_answer(
    call: &Call,
    route: &Route,
    body: &Bytes,
) -> Result<(Bytes, ResponseSummary), ApiError> {
    let provider = route.provider.name();
    let format = route.provider.format();
    let malformed = || {
        ApiError::new(
            ErrorKind::UpstreamMalformed,
            format!("provider '{provider}' returned a response that is not valid JSON of the expected shape"),
        )
    };
    if call.operation == Operation::CountTokens {
        // A count, in Anthropic's `{"input_tokens": n}`: nothing to bill.
        let value: Value = serde_json::from_slice(body).map_err(|_| malformed())?;
        let reply = match format {
            WireFormat::Gemini => {
                let count = gemini::count_tokens_answer(&value).ok_or_else(malformed)?;
                Bytes::from(serde_json::json!({ "input_tokens": count }).to_string())
            }
            _ => body.clone(),
        };
        return Ok((reply, ResponseSummary::default()));
    }
    if format == WireFormat::OpenAi && call.ingress == Ingress::OpenAi {
        // The common case reads only what the record needs.
        let summary = summarize_response(body).ok_or_else(malformed)?;
        return Ok((body.clone(), summary));
    }
    let requested = call.requested_model.as_deref().unwrap_or_default();
    let answer = formats::provider_answer(format, body, requested).map_err(|e| match e.kind {
        ErrorKind::UpstreamMalformed => ApiError::new(
            ErrorKind::UpstreamMalformed,
            format!("provider '{provider}': {}", e.message),
        ),
        _ => e,
    })?;
    let mut summary = summarize_value(&answer.openai).ok_or_else(malformed)?;
    if answer.raw_usage.is_some() {
        summary.raw_usage = answer.raw_usage;
    }
    let reply = match call.ingress {
        Ingress::OpenAi => Bytes::from(serde_json::to_vec(&answer.openai).unwrap_or_default()),
        // Same format: the provider's own bytes.
        Ingress::Anthropic if format == WireFormat::Anthropic => body.clone(),
        Ingress::Anthropic => anthropic_reply(&answer.openai, requested)?,
    };
    Ok((reply, summary))
}

/// An OpenAI-shaped answer as an Anthropic `message`.
fn anthropic_reply(openai: &Value, requested_model: &str) -> Result<Bytes, ApiError> {
    let message =
        keel_api::anthropic::to_anthropic::response(openai, requested_model).map_err(|e| {
            ApiError::new(
                ErrorKind::UpstreamMalformed,
                format!(
                    "the provider's answer cannot be expressed as a message: {}",
                    e.message
                ),
            )
        })?;
    Ok(Bytes::from(
        serde_json::to_vec(&message).unwrap_or_default(),
    ))
}

/// Answers with an upstream's error status: its status, message and
/// `retry-after` kept, its body passed on when already in the OpenAI shape.
/// An upstream 401/403 means Keel's provider credentials are wrong, which is
/// not the caller's fault: that becomes a 502.
pub async fn upstream_status(
    state: &AppState,
    call: Call,
    status: u16,
    body: Bytes,
    headers: ErrorHeaders,
) -> Response {
    let ErrorHeaders {
        retry_after,
        error_type,
    } = headers;
    let provider = call
        .route
        .as_ref()
        .map(|r| r.provider.name().to_owned())
        .unwrap_or_default();
    let format = call
        .route
        .as_ref()
        .map_or(WireFormat::OpenAi, |r| r.provider.format());
    let message = upstream_message(&body)
        .unwrap_or_else(|| format!("provider '{provider}' returned HTTP {status}"));
    let generic = || {
        Bytes::from(error_body(
            &message,
            if status >= 500 {
                "server_error"
            } else {
                "invalid_request_error"
            },
            None,
            None,
        ))
    };
    let (status_out, body_out) = match status {
        // Only 4xx and 5xx are errors a client can act on; anything else
        // (a redirect, say) means the provider is misconfigured.
        _ if !(400..600).contains(&status) => (
            502,
            Bytes::from(error_body(
                &format!("provider '{provider}' answered with unexpected HTTP {status}"),
                "upstream_error",
                None,
                Some("upstream_unexpected_status"),
            )),
        ),
        _ if formats::refuses_credentials(format, status, &body) => (
            502,
            Bytes::from(error_body(
                &format!(
                    "provider '{provider}' rejected Keel's credentials (HTTP {status}): {message}"
                ),
                "upstream_error",
                None,
                Some("upstream_auth"),
            )),
        ),
        _ => formats::openai_error(format, status, &body, error_type.as_deref())
            .unwrap_or_else(|| (status, generic())),
    };
    let outcome = if (400..500).contains(&status_out) && status_out != 429 {
        Outcome::ClientError
    } else {
        Outcome::UpstreamError
    };
    let id = call.id;
    let ending = Ending {
        status: status_out,
        outcome,
        error: Some(("upstream_status", message)),
        answer: Answer::Error {
            body: Bytes::copy_from_slice(&body_out),
        },
        ttft: None,
        latency: call.started.elapsed(),
        billable: false,
    };
    let ingress = call.ingress;
    record(state, call, ending).await;
    let body_out = match ingress {
        Ingress::OpenAi => body_out,
        // The provider's own error, in the client's own format.
        Ingress::Anthropic if format == WireFormat::Anthropic && status_out == status => body,
        Ingress::Anthropic => Bytes::from(from_openai_error(status_out, &body_out).to_json()),
    };
    json_response(status_out, body_out, &id, retry_after)
}

/// The headers of an upstream error answer that shape Keel's answer.
pub struct ErrorHeaders {
    /// Passed on, so clients back off as the provider asks.
    retry_after: Option<HeaderValue>,
    /// Bedrock names its error type in `x-amzn-ErrorType`.
    error_type: Option<String>,
}

impl ErrorHeaders {
    /// Reads them off an upstream response.
    pub fn of(headers: &http::HeaderMap) -> ErrorHeaders {
        ErrorHeaders {
            retry_after: headers.get(RETRY_AFTER).cloned(),
            error_type: headers
                .get(bedrock::error::ERROR_TYPE_HEADER)
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
