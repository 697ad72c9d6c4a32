//! A fake AWS Bedrock runtime (Converse and ConverseStream) on the same
//! server: `POST /model/{modelId}/converse` and `/converse-stream`. It shares
//! no code with Keel's Bedrock translation, and frames its streams itself.
//!
//! Every request must be authorized as Bedrock requires: a SigV4 signature
//! (service `bedrock`, region [`BEDROCK_REGION`]) made with
//! [`BEDROCK_ACCESS_KEY_ID`] / [`BEDROCK_SECRET_ACCESS_KEY`], which the fake
//! recomputes, or `Authorization: Bearer` [`BEDROCK_API_KEY`]. Otherwise it
//! answers 403 in Bedrock's error shape (`{"message": …}` with the name in
//! `x-amzn-ErrorType`): `InvalidSignatureException` (with the canonical
//! request and string to sign it expected, as Bedrock does),
//! `UnrecognizedClientException` for unknown keys,
//! `MissingAuthenticationTokenException` without `Authorization`.
//!
//! The rules, so tests can predict the output (those of the OpenAI fake,
//! restated for Converse):
//! - the request is checked where Bedrock would refuse it (400
//!   `ValidationException`): only Converse's top-level fields, a first
//!   message from the user, alternating roles, one member per block, tool
//!   uses and results only with a `toolConfig`;
//! - text is `"Echo: <words of the last user message that has text>"`;
//!   `stopSequences` cut it before the first match (`stopReason`
//!   `stop_sequence`), then `maxTokens` keeps that many words (`max_tokens`),
//!   else `end_turn`;
//! - a `toolConfig` gives one `toolUse` instead: the tool named by
//!   `toolChoice.tool`, else the first tool, with `input` built from its
//!   schema ([`crate::schema::object_for`]) and `toolUseId`
//!   `tooluse_<hash of the name>`; `stopReason` `tool_use`;
//! - usage: `inputTokens` = Σ over messages of (words of their text blocks
//!   and tool result texts + 3) + Σ over system blocks of (words + 3);
//!   `outputTokens` = the answer's words, or 10 for a tool use. For the model
//!   `fake-cached`, half the input (rounded down) is reported as
//!   `cacheReadInputTokens` instead (with `cacheWriteInputTokens: 0`);
//!   `totalTokens` adds all of them; `metrics.latencyMs` is 0;
//! - ConverseStream answers `application/vnd.amazon.eventstream`:
//!   `messageStart`, a `contentBlockDelta` per word (for a tool use: a
//!   `contentBlockStart` and `input` fragments of 8 characters),
//!   `contentBlockStop`, `messageStop`, then `metadata` with the usage;
//! - fault models: `fault-500` (500 `InternalServerException`), `fault-429`
//!   (429 `ThrottlingException`), `fault-400` (400 `ValidationException`),
//!   `fault-hang` (no answer), `fault-cut` (half a JSON body, or a stream
//!   cut after `messageStart` and three deltas), `fault-garbage-stream` (a
//!   `messageStart`, then a frame whose message CRC is wrong). Faults are
//!   answered after the authorization check.

mod frame;
mod plan;
mod render;
mod sigv4;

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::request::Parts;
use http::{Response, StatusCode};
use serde_json::{json, Value};

use crate::body::ReplyBody;
use crate::faults::{self, Fault, CUT_REPLY};
use crate::respond::Outcome;
use crate::state::Shared;

/// The access key id the fake accepts signatures from.
pub const BEDROCK_ACCESS_KEY_ID: &str = "AKIAKEELFAKEBEDROCK1";
/// The secret key of [`BEDROCK_ACCESS_KEY_ID`].
pub const BEDROCK_SECRET_ACCESS_KEY: &str = "keel/fake/bedrock/secret/key/0123456789ab";
/// The region signatures must be scoped to.
pub const BEDROCK_REGION: &str = "us-east-1";
/// The Bedrock API key the fake accepts as a bearer token.
pub const BEDROCK_API_KEY: &str = "ABSK-keel-fake-bedrock-api-key";

/// The `x-amzn-RequestId` of every answer.
const REQUEST_ID: &str = "00000000-0000-4000-8000-00000000bedc";
/// Content deltas `fault-cut` streams before dropping the connection.
const CUT_STREAM_DELTAS: usize = 3;

/// Answers one `POST /model/…` request.
pub(crate) fn handle(parts: &Parts, body: &[u8], shared: &Arc<Shared>) -> Outcome {
    if let Err(denial) = sigv4::verify(parts, body) {
        return error(StatusCode::FORBIDDEN, denial.error_type, &denial.message).into();
    }
    let rest = parts.uri.path().strip_prefix("/model/").unwrap_or("");
    let (model, stream) = match rest.rsplit_once('/') {
        Some((model, "converse")) => (model, false),
        Some((model, "converse-stream")) => (model, true),
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "UnknownOperationException",
                "Unknown operation",
            )
            .into()
        }
    };
    let model = percent_decode(model);
    let fault = Fault::from_model(&model);
    if let Some(outcome) = fault.and_then(immediate) {
        return outcome;
    }
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "The request body is not valid JSON.",
        )
        .into();
    };
    let cut = fault == Some(Fault::Cut);
    let plan = match plan::plan(&json, &model, cut.then_some(CUT_REPLY)) {
        Ok(plan) => plan,
        Err(message) => {
            return error(StatusCode::BAD_REQUEST, "ValidationException", &message).into()
        }
    };
    if !stream {
        let value = render::response(&plan);
        if cut {
            return faults::cut_json(&value);
        }
        return json_reply(StatusCode::OK, &value, None).into();
    }
    let mut events = render::stream(&plan);
    if cut {
        events.truncate(1 + CUT_STREAM_DELTAS);
    } else if fault == Some(Fault::GarbageStream) {
        events.truncate(1);
        let mut bad = frame::event(
            "contentBlockDelta",
            &json!({"contentBlockIndex": 0, "delta": {"text": "garbage"}}),
        );
        if let Some(last) = bad.last_mut() {
            *last ^= 0xff;
        }
        events.push(Bytes::from(bad));
    }
    let mut reply = ReplyBody::parts(events)
        .paced(faults::delay(fault, &parts.headers))
        .tracked(shared);
    if cut {
        reply = reply.cut();
    }
    with_body(StatusCode::OK, "application/vnd.amazon.eventstream", reply).into()
}

/// Faults answered before the request is read.
fn immediate(fault: Fault) -> Option<Outcome> {
    let (status, kind, message) = match fault {
        Fault::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerException",
            "The server encountered an internal error while processing the request.",
        ),
        Fault::RateLimited => (
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        ),
        Fault::BadRequest => (
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "Input is too long for requested model.",
        ),
        Fault::Hang => return Some(Outcome::Hang),
        _ => return None,
    };
    Some(error(status, kind, message).into())
}

/// A response with Bedrock's request id header.
fn with_body(
    status: StatusCode,
    content_type: &'static str,
    body: ReplyBody,
) -> Response<ReplyBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert("x-amzn-requestid", HeaderValue::from_static(REQUEST_ID));
    resp
}

fn json_reply(status: StatusCode, value: &Value, error_type: Option<&str>) -> Response<ReplyBody> {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let mut resp = with_body(status, "application/json", ReplyBody::full(bytes));
    if let Some(kind) = error_type.and_then(|k| HeaderValue::from_str(k).ok()) {
        resp.headers_mut().insert("x-amzn-errortype", kind);
    }
    resp
}

/// Bedrock's error shape: `{"message"}` and the name in `x-amzn-ErrorType`.
fn error(status: StatusCode, error_type: &str, message: &str) -> Response<ReplyBody> {
    json_reply(status, &json!({"message": message}), Some(error_type))
}

/// Decodes `%XX` escapes (invalid ones are kept as they are).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn model_ids_are_decoded() {
        assert_eq!(percent_decode("a.b-v1%3A0"), "a.b-v1:0");
        assert_eq!(percent_decode("x%2Fy%zz%4"), "x/y%zz%4");
    }
}
