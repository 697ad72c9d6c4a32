//! The accept loop and request routing (hyper 1, HTTP/1.1, keep-alive).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::anthropic;
use crate::aws_credentials;
use crate::bedrock;
use crate::body::ReplyBody;
use crate::chat;
use crate::embeddings;
use crate::fast::FastReplies;
use crate::faults::{self, Fault};
use crate::gemini;
use crate::models;
use crate::respond::{self, Outcome};
use crate::state::{ConnectionGuard, RecordedRequest, Shared};

/// Path of the request log endpoints (`GET` lists, `DELETE` clears).
pub const REQUESTS_PATH: &str = "/__requests";

/// What every connection needs.
pub(crate) struct Ctx {
    pub(crate) shared: Arc<Shared>,
    /// Set in bench mode.
    pub(crate) fast: Option<FastReplies>,
}

/// Accepts connections until the task is aborted; aborting also aborts every
/// connection task, because they live in this task's `JoinSet`.
pub(crate) async fn serve(listener: TcpListener, ctx: Arc<Ctx>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, Arc::clone(&ctx)));
                }
                // Out of file descriptors and the like: back off briefly.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, ctx: Arc<Ctx>) {
    // Small SSE events must leave at once, not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let _guard = ConnectionGuard::new(Arc::clone(&ctx.shared));
    let service = service_fn(move |req| handle(req, Arc::clone(&ctx)));
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn handle(req: Request<Incoming>, ctx: Arc<Ctx>) -> Result<Response<ReplyBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Ok(respond::invalid_request(
                "could not read the request body",
                None,
            ))
        }
    };
    if let Some(fast) = &ctx.fast {
        return Ok(fast.respond(&parts, &bytes));
    }
    match route(&parts, &bytes, &ctx.shared) {
        Outcome::Reply(resp) => Ok(resp),
        Outcome::Hang => std::future::pending().await,
    }
}

/// Azure OpenAI addresses a deployment instead of naming the model:
/// `/openai/deployments/{deployment}/chat/completions` (and `/embeddings`)
/// are answered like their `/v1/` twins.
fn azure_alias(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/openai/deployments/") else {
        return path;
    };
    match rest.split_once('/').map(|(_, op)| op) {
        Some("chat/completions") => "/v1/chat/completions",
        Some("embeddings") => "/v1/embeddings",
        _ => path,
    }
}

/// Realistic-mode routing; records every request except the log endpoints.
/// `POST /model/…` is the fake Bedrock runtime ([`bedrock`]).
fn route(parts: &http::request::Parts, bytes: &[u8], shared: &Arc<Shared>) -> Outcome {
    let path = parts.uri.path();
    if path == REQUESTS_PATH {
        return request_log(&parts.method, shared).into();
    }
    let json: Option<Value> = serde_json::from_slice(bytes).ok();
    shared.record(RecordedRequest {
        method: parts.method.to_string(),
        path: path.to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: json.clone().unwrap_or(Value::Null),
    });
    match (&parts.method, azure_alias(path)) {
        (_, path) if aws_credentials::serves(path) => aws_credentials::handle(parts),
        (&Method::GET, "/v1/models") if anthropic::is_anthropic(&parts.headers) => {
            anthropic::models(&parts.headers)
        }
        (&Method::GET, "/v1/models") => respond::json(StatusCode::OK, &models::list()).into(),
        (&Method::POST, anthropic::MESSAGES_PATH) => {
            anthropic::messages(&parts.headers, json, shared)
        }
        (&Method::POST, anthropic::COUNT_TOKENS_PATH) => {
            anthropic::count_tokens(&parts.headers, json)
        }
        (_, path) if path.starts_with("/v1/messages/") => anthropic::not_found(),
        (&Method::POST, "/v1/chat/completions") => match json {
            Some(req) => chat::handle(&req, &parts.headers, shared),
            None => respond::invalid_json().into(),
        },
        (&Method::POST, "/v1/embeddings") => match json {
            Some(req) => {
                let model = req.get("model").and_then(Value::as_str).unwrap_or("");
                Fault::from_model(model)
                    .and_then(faults::immediate)
                    .unwrap_or_else(|| embeddings::handle(&req))
            }
            None => respond::invalid_json().into(),
        },
        (method, path) if path.starts_with(gemini::PATH_PREFIX) => gemini::handle(
            method,
            path,
            parts.uri.query(),
            json.as_ref(),
            &parts.headers,
            shared,
        ),
        (&Method::POST, path) if path.starts_with("/model/") => {
            bedrock::handle(parts, bytes, shared)
        }
        (method, path) => respond::not_found(method.as_str(), path).into(),
    }
}

/// `GET /__requests` (the log as a JSON array) and `DELETE /__requests`.
fn request_log(method: &Method, shared: &Shared) -> Response<ReplyBody> {
    match *method {
        Method::GET => {
            let list: Vec<Value> = shared
                .requests()
                .iter()
                .map(RecordedRequest::to_json)
                .collect();
            respond::json(StatusCode::OK, &Value::Array(list))
        }
        Method::DELETE => {
            shared.clear();
            let mut resp = Response::new(ReplyBody::empty());
            *resp.status_mut() = StatusCode::NO_CONTENT;
            resp
        }
        _ => respond::not_found(method.as_str(), REQUESTS_PATH),
    }
}
