//! The attempt loop: the plan's candidates tried in order, each with the
//! request translated for it, until one answers. Unary and streaming calls
//! share it; a stream is handed on once its headers arrive, so it is never
//! retried after its first byte went to the client. Every try is noted on
//! the call (provider, status, error class, latency) for the record.
//!
//! When to move on to the next candidate is [`worth_another_candidate`]:
//! today only when the provider could not be reached, so nothing was sent
//! that could be billed twice. Routing widens it (timeouts, 429, 5xx).

use std::time::Instant;

use http::header::CONTENT_TYPE;
use http::HeaderMap;
use keel_api::{ApiError, ErrorKind};
use keel_providers::executor::{body_stream, UpstreamResponse};
use keel_providers::{Plan, Route, UpstreamError};

use super::answered::Answered;
use super::ending::{internal, ErrorHeaders, Failure};
use super::request::Request;
use super::translate::{self, Prepared};
use crate::error::from_upstream;
use crate::invocation::Call;
use crate::outcome::ErrorClass;
use crate::state::AppState;

/// A failed try, and whether the next candidate may be tried.
struct Tried {
    failure: Failure,
    next: bool,
}

impl<E: Into<Failure>> From<E> for Tried {
    fn from(error: E) -> Tried {
        Tried {
            failure: error.into(),
            next: false,
        }
    }
}

/// Tries the plan's candidates in order until one answers.
pub async fn attempt_loop(
    state: &AppState,
    call: &mut Call,
    request: &mut Request<'_>,
    plan: &Plan,
    headers: &HeaderMap,
) -> Result<Answered, Failure> {
    let mut last = None;
    for candidate in plan.candidates() {
        match attempt(state, call, request, candidate, headers).await {
            Ok(answered) => return Ok(answered),
            Err(Tried { failure, next }) if next => last = Some(failure),
            Err(Tried { failure, .. }) => return Err(failure),
        }
    }
    Err(last.unwrap_or_else(|| internal("the call's plan has no candidate").into()))
}

/// One try: translate for the candidate, send, receive its answer.
async fn attempt(
    state: &AppState,
    call: &mut Call,
    request: &mut Request<'_>,
    candidate: &Route,
    headers: &HeaderMap,
) -> Result<Answered, Tried> {
    call.route = Some(candidate.clone());
    let upstream = match translate::for_candidate(call, request, candidate, headers)? {
        Prepared::Upstream(upstream) => upstream,
        Prepared::Local(answer) => return Ok(Answered::Local(answer)),
    };
    let config = state.executor.config();
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + config.request_timeout;
    let limit = match call.stream {
        true => config.stream_first_byte_timeout,
        false => config.request_timeout,
    };
    let response = match state.executor.send(upstream, limit).await {
        Ok(response) => response,
        Err(e) => {
            let next = worth_another_candidate(&e);
            let error = from_upstream(e, candidate.provider.name());
            call.note_attempt(candidate, None, Some(error.kind.into()), started);
            return Err(Tried {
                failure: error.into(),
                next,
            });
        }
    };
    let status = response.status().as_u16();
    let ok = (200..300).contains(&status);
    let class = (!ok).then_some(ErrorClass::UpstreamStatus);
    call.note_attempt(candidate, Some(status), class, started);
    Ok(receive(state, call, candidate, response, deadline).await?)
}

/// Whether a failed try may go on to the next candidate.
fn worth_another_candidate(error: &UpstreamError) -> bool {
    match error {
        // Nothing reached the provider: nothing can be billed twice.
        UpstreamError::Connect(_) => true,
        UpstreamError::Timeout | UpstreamError::Broken(_) | UpstreamError::TooLarge(_) => false,
    }
}

/// Reads what a provider answered: a stream is handed on once its headers
/// are checked; a whole answer (or an error) is read by the deadline.
async fn receive(
    state: &AppState,
    call: &Call,
    candidate: &Route,
    response: UpstreamResponse,
    deadline: tokio::time::Instant,
) -> Result<Answered, Failure> {
    let status = response.status().as_u16();
    let ok = (200..300).contains(&status);
    let codec = candidate.provider.codec();
    let provider = candidate.provider.name();
    let is_stream = || {
        response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with(codec.framing().content_type()))
    };
    if call.stream && ok && is_stream() {
        return Ok(Answered::Stream(body_stream(response)));
    }
    let headers = ErrorHeaders::of(response.headers(), codec);
    let body = match state.executor.read_body(response, deadline).await {
        Ok(body) => body,
        Err(e) => {
            return Err(Failure {
                headers: Vec::new(),
                error: from_upstream(e, provider),
                // A whole 2xx answer cut mid-body was generated, and billed,
                // upstream.
                billable: ok && !call.stream,
            });
        }
    };
    match (ok, call.stream) {
        (false, _) => Ok(Answered::Refused {
            status,
            body,
            headers,
        }),
        (true, false) => Ok(Answered::Whole { status, body }),
        (true, true) => Err(ApiError::new(
            ErrorKind::UpstreamMalformed,
            format!("provider '{provider}' answered a streaming request without an event stream"),
        )
        .into()),
    }
}
