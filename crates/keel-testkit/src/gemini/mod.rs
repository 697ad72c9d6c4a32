//! A fake of Google's Gemini API (`/v1beta/models…`), answering Gemini's own
//! request shape by the same predictable rules as the OpenAI fake, so a
//! gateway's Gemini provider can be tested end to end. It reads the native
//! request itself; nothing here shares code with Keel's translations.
//!
//! Routes:
//! - `POST /v1beta/models/{model}:generateContent`;
//! - `POST /v1beta/models/{model}:countTokens`: `{"totalTokens": N}`, N
//!   being the `promptTokenCount` an answer would report;
//! - `POST /v1beta/models/{model}:streamGenerateContent?alt=sse` (without
//!   `alt=sse`, the fragments come as one JSON array, as Google sends them);
//! - `GET /v1beta/models`: `{"models": [{"name": "models/<id>", …}]}` with
//!   the ordinary, [`SAFETY_MODEL`] and fault models.
//!
//! Every request needs the key [`GEMINI_API_KEY`] in `x-goog-api-key` (or in
//! the `key` query parameter): a wrong key gets Google's 400
//! `API_KEY_INVALID`, a missing one Google's 403 `PERMISSION_DENIED`.
//!
//! The rules, so tests can predict the output:
//! - text is `"Echo: <words of the last user text>"`, the last user text
//!   being the text parts of the last `user` (or role-less) content that has
//!   any; with `responseMimeType: application/json` it is
//!   `{"echo":"<words>"}`, or with `responseJsonSchema` / `responseSchema`
//!   an object holding each required property's default (see
//!   [`crate::schema::default_for`]);
//! - `stopSequences` cut the text before the first one found (finish
//!   `STOP`), then `maxOutputTokens` keeps that many words (finish
//!   `MAX_TOKENS`);
//! - function declarations (unless `toolConfig.functionCallingConfig.mode`
//!   is `NONE`) give one `functionCall` part instead of text, without an
//!   `id`: the first `allowedFunctionNames` entry under mode `ANY`, else the
//!   first declared function, its `args` holding each required parameter's
//!   default;
//! - `candidateCount` candidates (at most 8), all alike;
//! - usage: `promptTokenCount` = Σ over `contents` and the system
//!   instruction of (words in their text parts + 3); `candidatesTokenCount`
//!   = Σ over candidates of the words answered, or
//!   [`crate::TOOL_CALL_TOKENS`] per function call; `cachedContentTokenCount`
//!   = `promptTokenCount / 2` for `fake-cached`;
//! - `modelVersion` is `<model>-001`; `responseId` is fresh per answer;
//! - [`SAFETY_MODEL`] blocks every prompt: `promptFeedback.blockReason:
//!   SAFETY`, no candidates, only the prompt's usage;
//! - streams: one `data: {json}\r\n\r\n` event per word (or per function
//!   call) of each candidate, the candidate's last one with its
//!   `finishReason`, `usageMetadata` on the very last event, and no closing
//!   event: the stream just ends;
//! - fault models answer in Gemini's error shape: `fault-500` (500
//!   `INTERNAL`), `fault-429` (429 `RESOURCE_EXHAUSTED`, `retry-after: 7`
//!   and a `RetryInfo` of `7s`), `fault-400` (400 `INVALID_ARGUMENT`);
//!   `fault-cut` drops the connection after three events (or half the
//!   JSON); `fault-garbage-stream` sends events whose data is not JSON;
//!   `fault-hang`, `fault-malformed`, `fault-slow-stream`,
//!   `fault-long-stream` and `fault-no-usage` behave as on the OpenAI routes.

mod plan;
mod render;

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, RETRY_AFTER};
use http::{HeaderMap, Method, StatusCode};
use serde_json::{json, Value};

use crate::body::ReplyBody;
use crate::faults::{self, Fault, FAULT_MODELS};
use crate::models::ORDINARY_MODELS;
use crate::respond::{self, Outcome};
use crate::state::Shared;

/// The API key every Gemini request must carry.
pub const GEMINI_API_KEY: &str = "gemini-test-key";

/// The model whose every prompt is blocked for safety.
pub const SAFETY_MODEL: &str = "fake-safety";

/// The path prefix of every Gemini route.
pub(crate) const PATH_PREFIX: &str = "/v1beta/models";

/// Events `fault-cut` streams before dropping the connection.
const CUT_STREAM_EVENTS: usize = 3;

/// The body `fault-malformed` sends: a response cut off mid-object.
const MALFORMED_BODY: &str = r#"{"candidates":[{"content":{"parts":["#;

/// The header Google reads the key from.
const KEY_HEADER: &str = "x-goog-api-key";

/// Answers one request under [`PATH_PREFIX`].
pub(crate) fn handle(
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: Option<&Value>,
    headers: &HeaderMap,
    shared: &Arc<Shared>,
) -> Outcome {
    if let Some(refusal) = check_key(headers, query) {
        return refusal.into();
    }
    if path == PATH_PREFIX && method == Method::GET {
        return respond::json(StatusCode::OK, &model_list()).into();
    }
    let target = path
        .strip_prefix(PATH_PREFIX)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|rest| rest.split_once(':'));
    if let (&Method::POST, Some((model, "countTokens"))) = (method, target) {
        return count_tokens(model, body);
    }
    let (model, stream) = match (method, target) {
        (&Method::POST, Some((model, "generateContent"))) => (model, false),
        (&Method::POST, Some((model, "streamGenerateContent"))) => (model, true),
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                &format!("Method not found: {method} {path}"),
                "NOT_FOUND",
                vec![],
            )
            .into()
        }
    };
    let Some(req) = body else {
        return error(
            StatusCode::BAD_REQUEST,
            "Invalid JSON payload received.",
            "INVALID_ARGUMENT",
            vec![],
        )
        .into();
    };
    let sse = query.is_some_and(|q| q.split('&').any(|kv| kv == "alt=sse"));
    generate(model, req, stream, sse, headers, shared)
}

/// `countTokens`: `{"totalTokens": N}` with N the prompt count an answer
/// to the same request would report. The request is a
/// `generateContentRequest` (with its `model`) or bare `contents`.
fn count_tokens(model: &str, body: Option<&Value>) -> Outcome {
    let fault = Fault::from_model(model);
    if let Some(outcome) = fault.and_then(immediate) {
        return outcome;
    }
    let request = body.map(|b| b.get("generateContentRequest").unwrap_or(b));
    let contents = request
        .and_then(|r| r.get("contents"))
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty());
    match (request, contents) {
        (Some(request), Some(contents)) => respond::json(
            StatusCode::OK,
            &json!({"totalTokens": plan::prompt_tokens(request, contents)}),
        )
        .into(),
        _ => error(
            StatusCode::BAD_REQUEST,
            "* CountTokensRequest: contents or generateContentRequest is required\n",
            "INVALID_ARGUMENT",
            vec![],
        )
        .into(),
    }
}

/// `generateContent` and `streamGenerateContent`.
fn generate(
    model: &str,
    req: &Value,
    stream: bool,
    sse: bool,
    headers: &HeaderMap,
    shared: &Arc<Shared>,
) -> Outcome {
    let fault = Fault::from_model(model);
    if let Some(outcome) = fault.and_then(immediate) {
        return outcome;
    }
    let plan = match plan::plan(req, model, model == SAFETY_MODEL, &faults::overrides(fault)) {
        Ok(plan) => plan,
        Err(message) => {
            return error(
                StatusCode::BAD_REQUEST,
                &message,
                "INVALID_ARGUMENT",
                vec![],
            )
            .into()
        }
    };
    let cut = fault == Some(Fault::Cut);
    if !stream {
        let value = render::response_json(&plan);
        if cut {
            return faults::cut_json(&value);
        }
        return respond::json(StatusCode::OK, &value).into();
    }
    let mut events = render::stream_events(&plan);
    if cut {
        events.truncate(CUT_STREAM_EVENTS);
    }
    if !sse {
        // Google's stream without `alt=sse`: one JSON array, sent at once.
        if cut {
            return faults::cut_json(&Value::Array(events));
        }
        return respond::json(StatusCode::OK, &Value::Array(events)).into();
    }
    let parts = events.iter().map(render::sse_event).collect();
    let mut body = ReplyBody::parts(parts)
        .paced(faults::delay(fault, headers))
        .tracked(shared);
    if cut {
        body = body.cut();
    }
    respond::sse(body).into()
}

/// Google's answer to a missing or wrong key, or `None` for the right one.
fn check_key(headers: &HeaderMap, query: Option<&str>) -> Option<http::Response<ReplyBody>> {
    let from_query = query.and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("key=")));
    let key = headers
        .get(KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .or(from_query);
    match key {
        Some(GEMINI_API_KEY) => None,
        None => Some(error(
            StatusCode::FORBIDDEN,
            "Method doesn't allow unregistered callers (callers without established identity). \
             Please use API Key or other form of API consumer identity to call this API.",
            "PERMISSION_DENIED",
            vec![],
        )),
        Some(_) => {
            let message = "API key not valid. Please pass a valid API key.";
            Some(error(
                StatusCode::BAD_REQUEST,
                message,
                "INVALID_ARGUMENT",
                vec![
                    json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"}}),
                    json!({"@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                        "locale": "en-US", "message": message}),
                ],
            ))
        }
    }
}

/// An error in Gemini's shape: `{"error":{"code","message","status"}}`, with
/// `details` when there are any.
fn error(
    status: StatusCode,
    message: &str,
    name: &str,
    details: Vec<Value>,
) -> http::Response<ReplyBody> {
    let mut body = json!({"code": status.as_u16(), "message": message, "status": name});
    if !details.is_empty() {
        body["details"] = Value::Array(details);
    }
    respond::json(status, &json!({ "error": body }))
}

/// Faults answered without looking at the request, in Gemini's shapes.
fn immediate(fault: Fault) -> Option<Outcome> {
    let resp = match fault {
        Fault::ServerError => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An internal error has occurred. Please retry or report in \
             https://developers.generativeai.google/guide/troubleshooting",
            "INTERNAL",
            vec![],
        ),
        Fault::RateLimited => {
            let mut resp = error(
                StatusCode::TOO_MANY_REQUESTS,
                "You exceeded your current quota, please check your plan and billing details. \
                 For more information on this error, head to: \
                 https://ai.google.dev/gemini-api/docs/rate-limits.",
                "RESOURCE_EXHAUSTED",
                vec![
                    json!({"@type": "type.googleapis.com/google.rpc.Help", "links": [
                        {"description": "Learn more about Gemini API quotas",
                         "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]}),
                    json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}),
                ],
            );
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("7"));
            resp
        }
        Fault::BadRequest => error(
            StatusCode::BAD_REQUEST,
            "* GenerateContentRequest.contents: contents is not specified\n",
            "INVALID_ARGUMENT",
            vec![],
        ),
        Fault::Hang => return Some(Outcome::Hang),
        Fault::Malformed => respond::with_body(
            StatusCode::OK,
            "application/json",
            ReplyBody::full(MALFORMED_BODY),
        ),
        Fault::GarbageStream => {
            let garbage = Bytes::from_static(b"data: {not json\r\n\r\n");
            respond::sse(ReplyBody::parts(vec![
                garbage.clone(),
                garbage.clone(),
                garbage,
            ]))
        }
        Fault::Cut | Fault::SlowStream | Fault::NoUsage | Fault::LongStream => return None,
    };
    Some(Outcome::Reply(resp))
}

/// `GET /v1beta/models`: every model the fake answers, one page.
fn model_list() -> Value {
    let models: Vec<Value> = ORDINARY_MODELS
        .iter()
        .copied()
        .chain([SAFETY_MODEL])
        .chain(FAULT_MODELS.iter().map(|(name, _)| *name))
        .map(|id| {
            json!({
                "name": format!("models/{id}"),
                "version": "001",
                "displayName": id,
                "description": "A model of the keel-testkit fake Gemini API.",
                "inputTokenLimit": 1_048_576,
                "outputTokenLimit": 65_536,
                "supportedGenerationMethods": ["generateContent", "countTokens"],
            })
        })
        .collect();
    json!({ "models": models })
}
