//! The request path: one spine of stages that every endpoint runs through.
//! [`run`] reads top to bottom in the order of the stages:
//!
//! identify → parse → policy → guard_in → cache → plan → attempt loop →
//! guard_out → account → record.
//!
//! It runs without HTTP: it takes the request's headers and body and
//! returns a [`Reply`] that the handler renders. The call is owned by a
//! [`CallGuard`], so every way out, a panic included, leaves exactly one
//! record.

mod account;
mod attempt;
mod cache;
pub mod ending;
mod guard;
pub mod identify;
mod plan;
mod policy;
mod request;
mod stream;
mod translate;
mod unary;

use std::sync::Arc;

use axum::body::Body;
use http::HeaderMap;
use keel_api::ApiError;
use keel_providers::Operation;
use uuid::Uuid;

use crate::ingress::Ingress;
use crate::invocation::{Call, CallGuard, ClientWatch};
use crate::state::AppState;
use crate::trace::TraceContext;
pub use attempt::Answered;
pub use ending::{Failure, Reply};

/// The front doors of the data plane; each names its operation and the
/// wire format its clients speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/chat/completions`.
    ChatCompletions,
    /// `POST /v1/messages` (Anthropic).
    Messages,
    /// `POST /v1/messages/count_tokens` (Anthropic).
    CountTokens,
    /// `POST /v1/embeddings`.
    Embeddings,
}

impl Endpoint {
    /// What the client asks to do.
    pub fn operation(self) -> Operation {
        match self {
            Endpoint::ChatCompletions | Endpoint::Messages => Operation::ChatCompletions,
            Endpoint::CountTokens => Operation::CountTokens,
            Endpoint::Embeddings => Operation::Embeddings,
        }
    }

    /// The wire format its clients speak.
    pub fn ingress(self) -> Ingress {
        match self {
            Endpoint::ChatCompletions | Endpoint::Embeddings => Ingress::OpenAi,
            Endpoint::Messages | Endpoint::CountTokens => Ingress::Anthropic,
        }
    }
}

/// Runs one call through every stage. A client that leaves cannot cancel
/// it half-way: the handler hands an unfinished call to a task of its own
/// (see [`crate::handlers`]).
pub async fn run(
    state: Arc<AppState>,
    endpoint: Endpoint,
    headers: HeaderMap,
    body: Body,
    client: ClientWatch,
) -> Reply {
    let mut call = start(&state, endpoint, &headers, client);
    let answered = async {
        let body = identify::identify(&state, &mut call, &headers, body).await?;
        let mut request = request::parse(&mut call, endpoint, &body)?;
        policy::check_policy(&state, &call, &request)?;
        guard::guard_input(&state, &call, &mut request)?;
        if let Some(hit) = cache::cache_lookup(&state, &call, &request)? {
            return Ok(hit);
        }
        let plan = plan::plan(&state, &request)?;
        let answered = attempt::attempt_loop(&state, &mut call, &mut request, &plan, &headers);
        let answered = answered.await?;
        guard::guard_output(&state, &call, &answered)?;
        account::account(&state, &call, &answered);
        Ok::<_, Failure>(answered)
    }
    .await;
    match answered {
        Ok(answered) => record(call, answered).await,
        Err(failure) => ending::fail(call, failure).await,
    }
}

/// Opens the call and its guard: from here it owes exactly one record.
fn start(
    state: &Arc<AppState>,
    endpoint: Endpoint,
    headers: &HeaderMap,
    client: ClientWatch,
) -> CallGuard {
    let id = Uuid::now_v7();
    let trace = TraceContext::from_headers(headers, &id);
    let mut call = Call::start(endpoint.operation(), endpoint.ingress(), trace, id);
    call.client = client;
    CallGuard::new(state.clone(), call)
}

/// The last stage: the answer goes to the client in its format and the
/// call to the record writer (a stream's record follows its last event).
async fn record(call: CallGuard, answered: Answered) -> Reply {
    match answered {
        Answered::Local(body) => unary::answer_locally(call, body).await,
        Answered::Whole { status, body } => unary::answer(call, status, body).await,
        Answered::Refused {
            status,
            body,
            headers,
        } => ending::upstream_status(call, status, body, headers).await,
        Answered::Stream(upstream) => stream::relay(call, upstream),
    }
}

/// An error for a fault inside Keel.
fn internal(message: impl Into<String>) -> ApiError {
    ApiError::new(keel_api::ErrorKind::Internal, message)
}

#[cfg(test)]
mod tests;
