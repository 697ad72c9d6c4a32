//! HTTP handlers: extract, call the pipeline, render. No gateway logic here.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};
use keel_api::{ApiError, ErrorKind};

use crate::error::{json, json_response, plain_error, INVOCATION_ID_HEADER};
use crate::invocation::ClientWatch;
use crate::pipeline::identify::authenticate;
use crate::pipeline::{self, Endpoint, Reply};
use crate::state::AppState;
use crate::tasks::Tasks;

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
        .nest("/admin/v1", crate::admin::router())
        .fallback(not_found_handler)
        .method_not_allowed_fallback(method_not_allowed_handler)
        .with_state(state)
}

async fn chat_completions_handler(state: State<Arc<AppState>>, request: Request) -> Response {
    call(state, Endpoint::ChatCompletions, request).await
}

async fn messages_handler(state: State<Arc<AppState>>, request: Request) -> Response {
    call(state, Endpoint::Messages, request).await
}

async fn count_tokens_handler(state: State<Arc<AppState>>, request: Request) -> Response {
    call(state, Endpoint::CountTokens, request).await
}

async fn embeddings_handler(state: State<Arc<AppState>>, request: Request) -> Response {
    call(state, Endpoint::Embeddings, request).await
}

/// Every data-plane route: runs the pipeline in place and renders its
/// reply. If the client disconnects, hyper drops this future, but the call
/// is not cut short: [`FinishOnDrop`] hands it to a task of its own, where
/// it finishes with its upstream and leaves its record, marked as a
/// disconnect.
async fn call(
    State(state): State<Arc<AppState>>,
    endpoint: Endpoint,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let (alive, client) = ClientWatch::pair();
    let call = pipeline::run(state.clone(), endpoint, parts.headers, body, client);
    let finishing = FinishOnDrop {
        call: Some(Box::pin(call)),
        alive: Some(alive),
        tasks: state.tasks.clone(),
    };
    match finishing.await {
        Some(reply) => render(reply),
        // A stage panicked; the call's guard recorded it.
        None => plain_error(&ApiError::new(
            ErrorKind::Internal,
            "the request was not completed",
        )),
    }
}

/// A call's pipeline, polled by its handler without a task of its own (no
/// spawn and hand-off per call). Dropped before the pipeline finished (the
/// client left), it tells the pipeline the client is gone and spawns the
/// rest of it. A panic in a stage is caught here: the handler answers 500
/// and the call's guard records it.
struct FinishOnDrop {
    call: Option<Pin<Box<dyn Future<Output = Reply> + Send>>>,
    /// Held while the client waits; dropped, the pipeline sees it gone.
    alive: Option<tokio::sync::oneshot::Sender<()>>,
    tasks: Tasks,
}

impl Future for FinishOnDrop {
    /// The reply, or `None` when a stage panicked.
    type Output = Option<Reply>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Reply>> {
        let this = &mut *self;
        let Some(call) = this.call.as_mut() else {
            return Poll::Ready(None);
        };
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(cx)));
        let reply = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(reply)) => Some(reply),
            Err(_) => None,
        };
        // Dropping a panicked pipeline drops its call guard, which records.
        this.call = None;
        this.alive = None;
        Poll::Ready(reply)
    }
}

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            drop(self.alive.take());
            self.tasks.spawn(async move {
                let _ = call.await;
            });
        }
    }
}

/// The pipeline's reply as HTTP.
fn render(reply: Reply) -> Response {
    match reply {
        Reply::Json {
            status,
            body,
            invocation,
            headers,
        } => json_response(status, body, &invocation, headers),
        Reply::Stream {
            invocation,
            events,
            headers: extra,
        } => {
            let events = events.map(Ok::<_, std::convert::Infallible>);
            let mut resp = Response::new(Body::from_stream(events));
            let headers = resp.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            if let Ok(v) = HeaderValue::from_str(&invocation.hyphenated().to_string()) {
                headers.insert(INVOCATION_ID_HEADER, v);
            }
            for (name, value) in extra {
                headers.insert(name, value);
            }
            resp
        }
    }
}

/// The served models; in Anthropic's shape (and with Anthropic-shaped
/// errors) for a client that sends `anthropic-version`.
async fn models_handler(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let anthropic = headers.contains_key("anthropic-version");
    let directory = state.governance.directory.snapshot();
    let now_ms = state.governance.ledger.clock().now_ms();
    let caller = match authenticate(&headers, &state.master_key, &directory, now_ms) {
        Ok(caller) => caller,
        Err(err) => {
            return match anthropic {
                true => json(
                    err.status(),
                    Bytes::from(
                        keel_api::anthropic::AnthropicError::from_api_error(&err).to_json(),
                    ),
                ),
                false => plain_error(&err),
            }
        }
    };
    let models = state.models();
    let principal = caller.principal();
    if !principal.models.allows_all() {
        return json(
            200,
            models.list_for(|m| principal.models.allows(m), anthropic),
        );
    }
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
