//! The request pipeline. [`chat_completions`] reads top to bottom in the
//! order of the stages: identify → parse → route → forward → record.
//! Every exit, success or not, leaves exactly one record.

pub mod formats;
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
use keel_api::anthropic::from_anthropic;
use keel_api::anthropic::passthrough::{self, MessagesEndpoint};
use keel_api::chat::ChatRequest;
use keel_api::embeddings::EmbeddingsRequest;
use keel_api::{ApiError, ErrorKind};
use keel_providers::{CallSpec, Operation, Route, UpstreamRequest, WireFormat};
use uuid::Uuid;

use crate::error::error_response_for;
use crate::invocation::{Call, ClientWatch, Ending, Ingress, RecordContext};
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
    /// Choices asked for (`n`).
    pub choices: u32,
    /// The client's headers, for the few a provider forwards.
    pub client_headers: HeaderMap,
}

impl Prepared {
    /// The provider's HTTP request for this call.
    fn upstream_request(
        &self,
        operation: Operation,
        stream: bool,
    ) -> Result<UpstreamRequest, ApiError> {
        let spec = CallSpec {
            operation,
            upstream_model: &self.route.upstream_model,
            stream,
            client_headers: &self.client_headers,
        };
        self.route
            .provider
            .request(spec, self.body.clone())
            .map_err(|e| {
                ApiError::new(
                    ErrorKind::Internal,
                    format!(
                        "could not build the request for provider '{}': {e}",
                        self.route.provider.name()
                    ),
                )
            })
    }
}

/// `POST /v1/chat/completions`. Runs in a task of its own (see
/// [`crate::handlers`]), so a client that leaves cannot cancel it half-way.
pub async fn chat_completions(
    state: Arc<AppState>,
    headers: HeaderMap,
    body: Body,
    client: ClientWatch,
) -> Response {
    chat(state, headers, body, client, Ingress::OpenAi).await
}

/// `POST /v1/messages`: an Anthropic Messages call, translated to the
/// OpenAI shape for any provider and back for the client; run like
/// [`chat_completions`].
pub async fn messages(
    state: Arc<AppState>,
    headers: HeaderMap,
    body: Body,
    client: ClientWatch,
) -> Response {
    chat(state, headers, body, client, Ingress::Anthropic).await
}

/// `POST /v1/messages/count_tokens`: an Anthropic or Gemini provider
/// counts; for any other the count is Keel's tokenizer estimate of the
/// prompt. Run like [`chat_completions`].
pub async fn count_tokens(
    state: Arc<AppState>,
    headers: HeaderMap,
    body: Body,
    client: ClientWatch,
) -> Response {
    let state = &state;
    let headers = &headers;
    let mut call = start(Operation::CountTokens, headers, client);
    call.ingress = Ingress::Anthropic;
    let prepared = match prepare_count_tokens(state, &mut call, headers, body).await {
        Ok(p) => p,
        Err(err) => return reject(state, call, err).await,
    };
    match prepared {
        Counted::Upstream(prepared) => unary::forward(state, call, prepared).await,
        Counted::Locally(answer) => unary::answer_locally(state, call, answer).await,
    }
}

/// Where a token count comes from.
enum Counted {
    /// The provider counts.
    Upstream(Prepared),
    /// Keel counted: the `{"input_tokens": n}` body.
    Locally(Bytes),
}

async fn prepare_count_tokens(
    state: &AppState,
    call: &mut Call,
    headers: &HeaderMap,
    body: Body,
) -> Result<Counted, ApiError> {
    let body = admit(state, call, headers, body).await?;
    let head = passthrough::head(&body, MessagesEndpoint::CountTokens).map_err(invalid_request)?;
    call.request_is_json = true;
    let route = route(state, call, &head.model)?;
    let upstream_body = match route.provider.format() {
        // Anthropic counts the request as the client sent it.
        WireFormat::Anthropic => head
            .upstream_body(&route.upstream_model)
            .map(Bytes::from)
            .unwrap_or_else(|| body.clone()),
        format => {
            // The same checks as a Messages call. Generation settings are not
            // part of a count: max_tokens is filled in, thinking (which a
            // translated route would refuse) left out.
            let mut with_max: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(&body)
                    .map_err(|e| ApiError::invalid("body", e.to_string()))?;
            with_max.insert("max_tokens".into(), 1.into());
            with_max.remove("thinking");
            let as_body = serde_json::to_vec(&with_max).unwrap_or_default();
            let openai = from_anthropic::request(&as_body).map_err(invalid_request)?;
            if format != WireFormat::Gemini {
                let count = crate::tokens::count_chat_prompt(&route.upstream_model, &openai);
                return Ok(Counted::Locally(Bytes::from(
                    serde_json::json!({ "input_tokens": count }).to_string(),
                )));
            }
            // Gemini counts with its own tokenizer.
            let generate = keel_api::gemini::from_openai::request(&openai)?;
            let count = keel_api::gemini::count_tokens_request(generate, &route.upstream_model);
            Bytes::from(serde_json::to_vec(&count).unwrap_or_default())
        }
    };
    Ok(Counted::Upstream(Prepared {
        client_headers: forwarded_headers(&route, headers),
        body: upstream_body,
        route,
        include_usage: false,
        choices: 1,
    }))
}

/// A chat call in the client's format, stage by stage.
async fn chat(
    state: Arc<AppState>,
    headers: HeaderMap,
    body: Body,
    client: ClientWatch,
    ingress: Ingress,
) -> Response {
    let state = &state;
    let headers = &headers;
    let mut call = start(Operation::ChatCompletions, headers, client);
    call.ingress = ingress;
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

/// `POST /v1/embeddings`, run like [`chat_completions`].
pub async fn embeddings(
    state: Arc<AppState>,
    headers: HeaderMap,
    body: Body,
    client: ClientWatch,
) -> Response {
    let state = &state;
    let headers = &headers;
    let mut call = start(Operation::Embeddings, headers, client);
    match prepare_embeddings(state, &mut call, headers, body).await {
        Ok(prepared) => unary::forward(state, call, prepared).await,
        Err(err) => reject(state, call, err).await,
    }
}

fn start(operation: Operation, headers: &HeaderMap, client: ClientWatch) -> Call {
    let id = Uuid::now_v7();
    let mut call = Call::start(operation, TraceContext::from_headers(headers, &id), id);
    call.client = client;
    call
}

async fn prepare_chat(
    state: &AppState,
    call: &mut Call,
    headers: &HeaderMap,
    body: Body,
) -> Result<Prepared, ApiError> {
    let body = admit(state, call, headers, body).await?;
    match call.ingress {
        Ingress::OpenAi => prepare_openai_chat(state, call, headers, body),
        Ingress::Anthropic => prepare_anthropic_chat(state, call, headers, body),
    }
}

/// An OpenAI chat body, for a provider of any format.
fn prepare_openai_chat(
    state: &AppState,
    call: &mut Call,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Prepared, ApiError> {
    let request = ChatRequest::parse(&body)?;
    call.request_is_json = true;
    call.stream = request.facts.stream;
    let route = route(state, call, &request.facts.model)?;
    let body = to_provider(&request, &route, &body)?;
    Ok(Prepared {
        client_headers: forwarded_headers(&route, headers),
        body,
        route,
        include_usage: request.facts.include_usage,
        choices: request.facts.n,
    })
}

/// An Anthropic Messages body: forwarded as it is to an Anthropic provider,
/// translated to the OpenAI shape (and on to the provider's) otherwise. Its
/// client never asks for (or sees) OpenAI's usage chunk.
fn prepare_anthropic_chat(
    state: &AppState,
    call: &mut Call,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Prepared, ApiError> {
    let head = passthrough::head(&body, MessagesEndpoint::Messages).map_err(invalid_request)?;
    call.request_is_json = true;
    call.stream = head.stream;
    let route = route(state, call, &head.model)?;
    let body = if route.provider.format() == WireFormat::Anthropic {
        head.upstream_body(&route.upstream_model)
            .map(Bytes::from)
            .unwrap_or_else(|| body.clone())
    } else {
        let translated = from_anthropic::request(&body).map_err(invalid_request)?;
        if route.provider.format() == WireFormat::OpenAi && translated.get("top_k").is_some() {
            // OpenAI's API has no top-k: refused rather than sent on to be
            // rejected, or silently ignored, by the server.
            return Err(ApiError::invalid(
                "top_k",
                "top_k: top-k sampling is not available for this model's provider (an OpenAI-compatible API)",
            ));
        }
        let openai = Bytes::from(serde_json::to_vec(&translated).unwrap_or_default());
        to_provider(&ChatRequest::parse(&openai)?, &route, &openai)?
    };
    Ok(Prepared {
        client_headers: forwarded_headers(&route, headers),
        body,
        route,
        include_usage: false,
        choices: 1,
    })
}

/// The client's headers when the routed provider reads some of them
/// (e.g. `anthropic-beta`); an empty map (no copy) otherwise.
fn forwarded_headers(route: &Route, headers: &HeaderMap) -> HeaderMap {
    if route.provider.reads_client_headers() {
        headers.clone()
    } else {
        HeaderMap::new()
    }
}

/// An OpenAI chat request as the routed provider's body. `original` is the
/// body `request` was parsed from; unchanged bytes are sent as they are.
fn to_provider(
    request: &ChatRequest<'_>,
    route: &Route,
    original: &Bytes,
) -> Result<Bytes, ApiError> {
    let format = route.provider.format();
    // Only OpenAI-compatible streams report usage on request; the others
    // always do.
    let ask_usage = format == WireFormat::OpenAi && route.provider.stream_usage();
    let openai = match request.upstream_body(&route.upstream_model, ask_usage) {
        Some(rewritten) => Bytes::from(rewritten),
        // Bytes clones share the buffer.
        None => original.clone(),
    };
    formats::provider_request(format, openai)
}

/// A 400 found while reading an Anthropic request, answered in its shape.
fn invalid_request(err: keel_api::anthropic::AnthropicError) -> ApiError {
    ApiError::new(ErrorKind::InvalidRequest, err.message)
}

async fn prepare_embeddings(
    state: &AppState,
    call: &mut Call,
    headers: &HeaderMap,
    body: Body,
) -> Result<Prepared, ApiError> {
    let body = admit(state, call, headers, body).await?;
    let request = EmbeddingsRequest::parse(&body)?;
    call.request_is_json = true;
    let route = route(state, call, &request.model)?;
    let upstream_body = request.upstream_body(&route.upstream_model, body.len());
    Ok(Prepared {
        client_headers: forwarded_headers(&route, headers),
        body: upstream_body.map(Bytes::from).unwrap_or(body),
        route,
        include_usage: false,
        choices: 1,
    })
}

/// Identifies the caller, then reads the body (keeping an exact-size copy
/// for the record: the read buffer it sits in may be far larger).
async fn admit(
    state: &AppState,
    call: &mut Call,
    headers: &HeaderMap,
    body: Body,
) -> Result<Bytes, ApiError> {
    call.key_id = Some(identify(headers, &state.master_key)?);
    let body = read_body(body, headers, state.config.max_body_bytes).await?;
    call.request_body = Some(Bytes::copy_from_slice(&body));
    Ok(body)
}

/// Resolves the requested model and notes both names on the call.
fn route(state: &AppState, call: &mut Call, model: &str) -> Result<Route, ApiError> {
    call.requested_model = Some(model.to_owned());
    let route = resolve(state, model)?;
    call.route = Some(route.clone());
    Ok(route)
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

/// How long a client may take to send its request body.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

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
    let read = tokio::time::timeout(BODY_READ_TIMEOUT, Limited::new(body, max).collect());
    let Ok(collected) = read.await else {
        return Err(ApiError::new(
            ErrorKind::RequestTimeout,
            format!("The request body did not arrive within {BODY_READ_TIMEOUT:?}."),
        ));
    };
    match collected {
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
    fail(state, call, err, false).await
}

/// Like [`reject`], for a failure after the provider produced (and billed)
/// an answer when `billable`.
pub async fn fail(state: &AppState, call: Call, err: ApiError, billable: bool) -> Response {
    let (id, ingress) = (call.id, call.ingress);
    let mut ending = Ending::from_error(&err, call.started);
    ending.billable = billable;
    record(state, call, ending).await;
    error_response_for(ingress, &err, &id)
}

/// Hands the finished call to the record writer; in `sync` durability waits
/// until its record is committed.
pub async fn record(state: &AppState, mut call: Call, mut ending: Ending) {
    if call.client.gone() {
        ending.client_gone();
    }
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
