//! HTTP handlers: extract, call the pipeline, render. No gateway logic here.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};
use keel_api::{ApiError, ErrorKind};

use crate::error::{json, plain_error};
use crate::invocation::ClientWatch;
use crate::pipeline;
use crate::pipeline::identify::identify;
use crate::state::AppState;

/// Every route Keel serves.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions_handler))
        .route("/chat/completions", post(chat_completions_handler))
        .route("/v1/messages", post(messages_handler))
        .route("/v1/messages/count_tokens", post(count_tokens_handler))
        .route("/v1/embeddings", post(embeddings_handler))
        .route("/embeddings", post(embeddings_handler))
        .route("/v1/models", get(models_handler))
        .route("/models", get(models_handler))
        .route("/health/live", get(live_handler))
        .route("/health/ready", get(ready_handler))
        .route("/metrics", get(metrics_handler))
        .fallback(not_found_handler)
        .method_not_allowed_fallback(method_not_allowed_handler)
        .with_state(state)
}

async fn chat_completions_handler(
    State(state): State<Arc<AppState>>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let (alive, client) = ClientWatch::pair();
    let call = pipeline::chat_completions(state.clone(), parts.headers, body, client);
    detached(&state, call, alive).await
}

async fn messages_handler(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let (alive, client) = ClientWatch::pair();
    let call = pipeline::messages(state.clone(), parts.headers, body, client);
    detached(&state, call, alive).await
}

async fn count_tokens_handler(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let (alive, client) = ClientWatch::pair();
    let call = pipeline::count_tokens(state.clone(), parts.headers, body, client);
    detached(&state, call, alive).await
}

async fn embeddings_handler(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let (alive, client) = ClientWatch::pair();
    let call = pipeline::embeddings(state.clone(), parts.headers, body, client);
    detached(&state, call, alive).await
}

/// Runs a call in a task of its own and waits for its response. If the
/// client disconnects, hyper drops this future (and `alive` with it), but the
/// call runs on: it finishes with its upstream and leaves its record, marked
/// as a disconnect.
async fn detached(
    state: &AppState,
    call: impl std::future::Future<Output = Response> + Send + 'static,
    alive: tokio::sync::oneshot::Sender<()>,
) -> Response {
    let (tx, rx) = tokio::sync::oneshot::channel();
    state.tasks.spawn(async move {
        let _ = tx.send(call.await);
    });
    let response = rx.await;
    drop(alive);
    response.unwrap_or_else(|_| {
        plain_error(&ApiError::new(
            ErrorKind::Internal,
            "the request was not completed",
        ))
    })
}

/// The served models; in Anthropic's shape (and with Anthropic-shaped
/// errors) for a client that sends `anthropic-version`.
async fn models_handler(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let anthropic = headers.contains_key("anthropic-version");
    if let Err(err) = identify(&headers, &state.master_key) {
        return match anthropic {
            true => json(
                err.status(),
                Bytes::from(keel_api::anthropic::AnthropicError::from_api_error(&err).to_json()),
            ),
            false => plain_error(&err),
        };
    }
    let models = state.models();
    json(
        200,
        match anthropic {
            true => models.anthropic_list_body.clone(),
            false => models.list_body.clone(),
        },
    )
}

async fn live_handler() -> Response {
    json(200, Bytes::from_static(br#"{"status":"ok"}"#))
}

/// Ready when the store answers, at least one model is served, and Keel is
/// not shutting down.
async fn ready_handler(State(state): State<Arc<AppState>>) -> Response {
    let store_ok = matches!(
        tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await,
        Ok(Ok(()))
    );
    let models = state.models().registry.len();
    let shutting_down = state.shutdown.is_cancelled();
    let ready = store_ok && models > 0 && !shutting_down;
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "store": { "backend": state.store.backend(), "ok": store_ok },
        "providers": state.models().registry.providers().len(),
        "models": models,
        "shutting_down": shutting_down,
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(status.as_u16(), Bytes::from(body.to_string()))
}

async fn metrics_handler(State(state): State<Arc<AppState>>) -> Response {
    let mut resp = state.metrics.render().into_response();
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

async fn not_found_handler(request: Request) -> Response {
    plain_error(&ApiError::new(
        ErrorKind::NotFound,
        format!(
            "Unknown route: {} {}",
            request.method(),
            request.uri().path()
        ),
    ))
}

async fn method_not_allowed_handler(request: Request) -> Response {
    plain_error(&ApiError::new(
        ErrorKind::MethodNotAllowed,
        format!(
            "Method {} is not allowed on {}",
            request.method(),
            request.uri().path()
        ),
    ))
}
