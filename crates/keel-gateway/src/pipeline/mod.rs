//! The request pipeline. [`chat_completions`] reads top to bottom in the
//! order of the stages: identify → parse → route → forward → record.
//! Every exit, success or not, leaves exactly one record.

pub mod identify;
pub mod stream;
pub mod trace;
pub mod unary;

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use http_body_util::{BodyExt, Limited};
use keel_api::chat::ChatRequest;
use keel_api::embeddings::EmbeddingsRequest;
use keel_api::{ApiError, ErrorKind};
use keel_providers::{Operation, Route};
use uuid::Uuid;

use crate::error::error_response;
use crate::invocation::{Call, Ending, RecordContext};
use crate::state::AppState;
use identify::identify;
use trace::TraceContext;

/// A request ready to go upstream.
pub struct Prepared {
    pub route: Route,
    /// The body in the provider's format (often the client's bytes unchanged).
    pub body: Bytes,
    /// The client asked for the usage chunk itself.
    pub include_usage: bool,
}

/// `POST /v1/chat/completions`.
pub async fn chat_completions(state: &Arc<AppState>, headers: &HeaderMap, body: Body) -> Response {
    let mut call = start(Operation::ChatCompletions, headers);
    let prepared = match prepare_chat(state, &mut call, headers, body).await {
        Ok(p) => p,
        Err(err) => return reject(state, call, err).await,
    };
    if call.stream {
        stream::forward(state, call, prepared).await
    } else {
        unary::forward(state, call, prepared).await
    }
}

/// `POST /v1/embeddings`.
pub async fn embeddings(state: &Arc<AppState>, headers: &HeaderMap, body: Body) -> Response {
    let mut call = start(Operation::Embeddings, headers);
    match prepare_embeddings(state, &mut call, headers, body).await {
        Ok(prepared) => unary::forward(state, call, prepared).await,
        Err(err) => reject(state, call, err).await,
    }
}

fn start(operation: Operation, headers: &HeaderMap) -> Call {
    let id = Uuid::now_v7();
    Call::start(operation, TraceContext::from_headers(headers, &id), id)
}

async fn prepare_chat(
    state: &AppState,
    call: &mut Call,
    headers: &HeaderMap,
    body: Body,
) -> Result<Prepared, ApiError> {
    call.key_id = Some(identify(headers, &state.master_key)?);
    let body = read_body(body, headers, state.config.max_body_bytes).await?;
    call.request_body = Some(Bytes::copy_from_slice(&body));
    let request = ChatRequest::parse(&body)?;
    call.request_is_json = true;
    call.requested_model = Some(request.facts.model.to_string());
    call.stream = request.facts.stream;
    let route = resolve(state, &request.facts.model)?;
    let upstream_body = request
        .upstream_body(&route.upstream_model)
        .map(Bytes::from)
        .unwrap_or(body.clone());
    call.route = Some(route.clone());
    Ok(Prepared {
        route,
        body: upstream_body,
        include_usage: request.facts.include_usage,
    })
}

async fn prepare_embeddings(
    state: &AppState,
    call: &mut Call,
    headers: &HeaderMap,
    body: Body,
) -> Result<Prepared, ApiError> {
    call.key_id = Some(identify(headers, &state.master_key)?);
    let body = read_body(body, headers, state.config.max_body_bytes).await?;
    call.request_body = Some(Bytes::copy_from_slice(&body));
    let request = EmbeddingsRequest::parse(&body)?;
    call.request_is_json = true;
    call.requested_model = Some(request.model.to_string());
    let route = resolve(state, &request.model)?;
    let upstream_body = request
        .upstream_body(&route.upstream_model, body.len())
        .map(Bytes::from)
        .unwrap_or(body.clone());
    call.route = Some(route.clone());
    Ok(Prepared {
        route,
        body: upstream_body,
        include_usage: false,
    })
}

/// Finds the provider for a model name.
fn resolve(state: &AppState, model: &str) -> Result<Route, ApiError> {
    state.models().registry.resolve(model).ok_or_else(|| {
        ApiError {
            param: Some("model".into()),
            ..ApiError::new(
                ErrorKind::UnknownModel,
                format!("The model '{model}' does not exist or is not served by any configured provider."),
            )
        }
    })
}

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
    match Limited::new(body, max).collect().await {
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

/// Answers with an error Keel decided on, after recording it.
pub async fn reject(state: &AppState, call: Call, err: ApiError) -> Response {
    let id = call.id;
    let ending = Ending::from_error(&err, call.started);
    record(state, call, ending).await;
    error_response(&err, &id)
}

/// Hands the finished call to the record writer; in `sync` durability waits
/// until its record is committed.
pub async fn record(state: &AppState, call: Call, ending: Ending) {
    let builder = call.into_record(ending, record_context(state));
    if let Some(committed) = state.sink.submit(builder).await {
        let _ = committed.await;
    }
}

/// What record building needs from the state.
pub fn record_context(state: &AppState) -> RecordContext {
    RecordContext {
        prices: state.prices.clone(),
        record_bodies: state.config.record_bodies,
    }
}
