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
mod answered;
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
use uuid::Uuid;

use crate::invocation::{Call, CallGuard, ClientWatch};
use crate::state::AppState;
use crate::trace::TraceContext;
pub use answered::Answered;
pub use ending::{Failure, Headers, Reply};
pub use request::Endpoint;

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
        policy::check_policy(&state, &mut call, &request).await?;
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

#[cfg(test)]
mod tests;
