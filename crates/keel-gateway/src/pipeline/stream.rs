//! Forwarding a streaming call. Events pass to the client as they arrive;
//! each is observed on the way (usage, finish, errors) and kept for the
//! record. If the client leaves, the relay's drop guard keeps reading the
//! upstream (bounded in time and bytes) to the usage it reports, so the call
//! is still billed, and records it as `client_disconnected`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use keel_api::anthropic::to_anthropic::StreamTranslator;
use keel_api::anthropic::AnthropicError;
use keel_api::sse::{Event, SseDecoder};
use keel_api::{ApiError, ErrorKind};
use keel_providers::executor::{body_stream, ByteStream};
use keel_store::Outcome;
use serde::de::IgnoredAny;
use serde::Deserialize;

use super::unary::upstream_status;
use super::{record, reject, Prepared};
use crate::error::{from_upstream, INVOCATION_ID_HEADER};
use crate::invocation::{Answer, Call, Captured, Ending, Ingress};
use crate::state::AppState;

/// Largest single SSE event accepted from an upstream.
const MAX_EVENT_BYTES: usize = 4 << 20;
/// Most stream payload bytes kept for the record; beyond it the assembled
/// response is partial but the usage (last event) is still read.
const MAX_KEPT_BYTES: usize = 8 << 20;

/// Sends a prepared streaming call and relays its events.
pub async fn forward(state: &Arc<AppState>, mut call: Call, p: Prepared) -> Response {
    let config = state.executor.config();
    let provider = p.route.provider.clone();
    let request = match p.upstream_request(call.operation, call.stream) {
        Ok(r) => r,
        Err(err) => return reject(state, call, err).await,
    };
    call.attempts = 1;
    let response = match state
        .executor
        .send(request, config.stream_first_byte_timeout)
        .await
    {
        Ok(r) => r,
        Err(e) => return reject(state, call, from_upstream(e, provider.name())).await,
    };
    let status = response.status().as_u16();
    let is_sse = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"));
    if !(200..300).contains(&status) || !is_sse {
        let retry_after = response.headers().get(RETRY_AFTER).cloned();
        let deadline = tokio::time::Instant::now() + config.request_timeout;
        let body = match state.executor.read_body(response, deadline).await {
            Ok(b) => b,
            Err(e) => return reject(state, call, from_upstream(e, provider.name())).await,
        };
        if (200..300).contains(&status) {
            let err = ApiError::new(
                ErrorKind::UpstreamMalformed,
                format!(
                    "provider '{}' answered a streaming request without an event stream",
                    provider.name()
                ),
            );
            return reject(state, call, err).await;
        }
        return upstream_status(state, call, status, body, retry_after).await;
    }
    let id = call.id;
    // From here the response body notices a client that leaves.
    call.client.detach();
    let relay = Relay {
        core: Some(RelayCore {
            upstream: body_stream(response),
            decoder: SseDecoder::new(MAX_EVENT_BYTES),
            scratch: Vec::with_capacity(8),
            payloads: Captured::default(),
            hide_usage: !p.include_usage,
            done_event: None,
            finished_choices: Vec::new(),
            expected_choices: p.choices,
            failure: None,
            translator: (call.ingress == Ingress::Anthropic).then(|| {
                let model = call.requested_model.as_deref().unwrap_or_default();
                StreamTranslator::new(model, &format!("msg_{}", call.id.simple()))
            }),
            upstream_error: None,
            first_event: None,
            idle_timeout: config.stream_idle_timeout,
            call,
            state: state.clone(),
        }),
        tail: None,
    };
    let body = futures_util::stream::unfold(relay, |mut relay| async move {
        relay
            .next_frame()
            .await
            .map(|frame| (Ok::<_, Infallible>(frame), relay))
    });
    let mut resp = Response::new(Body::from_stream(body));
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&id.hyphenated().to_string()) {
        headers.insert(INVOCATION_ID_HEADER, v);
    }
    resp
}

/// The body's state machine. `core` is present until the record is handed
/// off; dropping a relay that still has it means the client left.
struct Relay {
    core: Option<RelayCore>,
    /// Bytes still owed to the client after the record was handed off.
    tail: Option<Bytes>,
}

struct RelayCore {
    upstream: ByteStream,
    decoder: SseDecoder,
    scratch: Vec<Event>,
    payloads: Captured,
    /// Drop the usage-only chunk Keel asked for on the client's behalf.
    hide_usage: bool,
    /// The upstream's `[DONE]` event, held back until the record is handed off.
    done_event: Option<Bytes>,
    /// Indexes of the choices that reported a finish reason; a stream that
    /// ends without `[DONE]` is whole only if every choice finished.
    finished_choices: Vec<u32>,
    expected_choices: u32,
    /// Why the stream must stop, once what came before it has gone out.
    failure: Option<ApiError>,
    /// Turns OpenAI chunks into Anthropic events for `/v1/messages` clients.
    translator: Option<StreamTranslator>,
    upstream_error: Option<String>,
    first_event: Option<Instant>,
    idle_timeout: Duration,
    call: Call,
    state: Arc<AppState>,
}

/// How the upstream stream ended.
enum End {
    Complete,
    Failed(ApiError),
}

impl Relay {
    /// The next bytes for the client; `None` ends the response.
    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            let Some(core) = self.core.as_mut() else {
                return self.tail.take();
            };
            if let Some(err) = core.failure.take() {
                let core = self.core.take()?;
                self.tail = core.finish(End::Failed(err)).await;
                continue;
            }
            if core.done_event.is_some() {
                // The answer is whole. A terminator already received ends the
                // body cleanly (the connection goes back to the pool); never
                // wait on the upstream for more.
                let _ = futures_util::FutureExt::now_or_never(core.upstream.next());
                let core = self.core.take()?;
                self.tail = core.finish(End::Complete).await;
                continue;
            }
            let chunk = match tokio::time::timeout(core.idle_timeout, core.upstream.next()).await {
                Err(_) => Err(core.timeout_error()),
                Ok(None) => Ok(None),
                Ok(Some(Err(e))) => Err(core.broken_error(e)),
                Ok(Some(Ok(chunk))) => Ok(Some(chunk)),
            };
            let end = match chunk {
                Ok(Some(chunk)) => match core.on_chunk(chunk) {
                    Some(out) => return Some(out),
                    None => continue,
                },
                Ok(None) if core.finished_choices.len() >= core.expected_choices as usize => {
                    End::Complete
                }
                Ok(None) => End::Failed(core.cut_error()),
                Err(err) => End::Failed(err),
            };
            let core = self.core.take()?;
            self.tail = core.finish(end).await;
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(core) = self.core.take() {
            let tasks = core.state.tasks.clone();
            tasks.spawn(core.drain_after_disconnect());
        }
    }
}

/// The parts of a chunk the relay looks at.
#[derive(Deserialize)]
struct ChunkProbe {
    #[serde(default)]
    choices: Vec<ChoiceProbe>,
    #[serde(default)]
    usage: Option<IgnoredAny>,
    #[serde(default)]
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ChoiceProbe {
    #[serde(default)]
    index: u32,
    #[serde(default)]
    finish_reason: Option<IgnoredAny>,
}

impl RelayCore {
    /// Frames a network chunk into events, observes each, and returns what
    /// the client should get now (`None`: nothing yet).
    /// A failure (bad event, oversized event) stops the stream after the
    /// events before it have gone out; it is kept in `failure`.
    fn on_chunk(&mut self, chunk: Bytes) -> Option<Bytes> {
        self.scratch.clear();
        if self.decoder.feed(chunk, &mut self.scratch).is_err() {
            self.failure = Some(ApiError::new(
                ErrorKind::UpstreamMalformed,
                "the provider sent a stream event over the size limit",
            ));
        }
        let mut out: Option<Bytes> = None;
        let mut joined: Option<BytesMut> = None;
        let events = std::mem::take(&mut self.scratch);
        for event in &events {
            if self.done_event.is_some() {
                break;
            }
            if event.is_done() {
                self.done_event = Some(event.raw.clone());
                continue;
            }
            if !event.data.is_empty() {
                match self.observe(&event.data) {
                    Ok(true) => {}
                    Ok(false) if self.translator.is_none() => continue,
                    Ok(false) => {}
                    Err(err) => {
                        self.failure = Some(err);
                        break;
                    }
                }
            }
            let for_client = match &mut self.translator {
                None => event.raw.clone(),
                Some(_) if event.data.is_empty() => continue,
                Some(translator) => {
                    let mut translated = Vec::new();
                    if let Err(e) = translator.on_chunk(&event.data, &mut translated) {
                        self.failure = Some(ApiError::new(ErrorKind::UpstreamMalformed, e.message));
                        break;
                    }
                    if translated.is_empty() {
                        continue;
                    }
                    Bytes::from(translated)
                }
            };
            match (&mut out, &mut joined) {
                (None, None) => out = Some(for_client),
                (Some(first), None) => {
                    let mut buf = BytesMut::with_capacity(first.len() + for_client.len() * 2);
                    buf.extend_from_slice(first);
                    buf.extend_from_slice(&for_client);
                    joined = Some(buf);
                    out = None;
                }
                (_, Some(buf)) => buf.extend_from_slice(&for_client),
            }
        }
        self.scratch = events;
        joined.map(BytesMut::freeze).or(out)
    }

    /// Looks at one event's data; returns whether the client should see it.
    fn observe(&mut self, data: &Bytes) -> Result<bool, ApiError> {
        let probe: ChunkProbe = serde_json::from_slice(data).map_err(|_| {
            ApiError::new(
                ErrorKind::UpstreamMalformed,
                "the provider sent a stream event that is not valid JSON",
            )
        })?;
        if self.first_event.is_none() {
            self.first_event = Some(Instant::now());
        }
        if let Some(error) = &probe.error {
            let message = error
                .get("message")
                .and_then(|m| m.as_str())
                .unwrap_or("stream error");
            self.upstream_error = Some(message.to_owned());
        }
        for choice in probe.choices.iter().filter(|c| c.finish_reason.is_some()) {
            if !self.finished_choices.contains(&choice.index) {
                self.finished_choices.push(choice.index);
            }
        }
        if self.payloads.bytes() + data.len() <= MAX_KEPT_BYTES || probe.usage.is_some() {
            self.payloads.push(data);
        }
        let usage_only = probe.choices.is_empty() && probe.usage.is_some();
        Ok(!(self.hide_usage && usage_only))
    }

    fn provider(&self) -> &str {
        self.call
            .route
            .as_ref()
            .map(|r| r.provider.name())
            .unwrap_or("")
    }

    fn timeout_error(&self) -> ApiError {
        ApiError::new(
            ErrorKind::UpstreamTimeout,
            format!(
                "provider '{}' went silent for longer than {:?} mid-stream",
                self.provider(),
                self.idle_timeout
            ),
        )
    }

    fn broken_error(&self, e: keel_providers::UpstreamError) -> ApiError {
        crate::error::from_upstream(e, self.provider())
    }

    fn cut_error(&self) -> ApiError {
        ApiError::new(
            ErrorKind::StreamCut,
            format!(
                "provider '{}' ended the stream before it completed",
                self.provider()
            ),
        )
    }

    /// Records the call and returns the last bytes owed to the client.
    async fn finish(mut self, end: End) -> Option<Bytes> {
        let ttft = self
            .first_event
            .map(|t| t.duration_since(self.call.started));
        let (outcome, error, tail) = match end {
            End::Complete => {
                let error = self
                    .upstream_error
                    .clone()
                    .map(|m| ("upstream_stream_error", m));
                let outcome = if error.is_some() {
                    Outcome::UpstreamError
                } else {
                    Outcome::Ok
                };
                let tail = match &mut self.translator {
                    Some(translator) => {
                        let mut closing = Vec::new();
                        translator.finish(&mut closing);
                        Bytes::from(closing)
                    }
                    None => self
                        .done_event
                        .clone()
                        .unwrap_or_else(|| Bytes::from_static(b"data: [DONE]\n\n")),
                };
                (outcome, error, tail)
            }
            End::Failed(err) => (
                Outcome::UpstreamError,
                Some((err.kind.class(), err.message.clone())),
                match self.translator {
                    Some(_) => Bytes::from(AnthropicError::from_api_error(&err).to_sse_event()),
                    None => Bytes::from(err.to_sse_event()),
                },
            ),
        };
        let ending = Ending {
            status: 200,
            outcome,
            error,
            answer: Answer::Stream {
                payloads: self.payloads,
            },
            ttft,
            latency: self.call.started.elapsed(),
            billable: self.first_event.is_some(),
        };
        // The record is handed off from a task of its own: if the client
        // leaves while this waits (a full queue, or a `sync` commit), the
        // record still goes in. The tail waits for it, so in `sync` mode the
        // last byte follows the commit.
        let (stored_tx, stored) = tokio::sync::oneshot::channel();
        let state = self.state.clone();
        let call = self.call;
        self.state.tasks.spawn(async move {
            record(&state, call, ending).await;
            let _ = stored_tx.send(());
        });
        let _ = stored.await;
        Some(tail)
    }

    /// After the client left: read on to the usage (bounded), then record.
    async fn drain_after_disconnect(mut self) {
        let latency = self.call.started.elapsed();
        let deadline = tokio::time::Instant::now() + self.state.config.drain_timeout;
        let max_bytes = self.state.config.drain_max_bytes;
        let mut read = 0usize;
        while self.done_event.is_none() && read < max_bytes {
            match tokio::time::timeout_at(deadline, self.upstream.next()).await {
                Ok(Some(Ok(chunk))) => {
                    read += chunk.len();
                    self.on_chunk(chunk);
                    if self.failure.is_some() {
                        break;
                    }
                }
                _ => break,
            }
        }
        let ttft = self
            .first_event
            .map(|t| t.duration_since(self.call.started));
        let ending = Ending {
            status: 499,
            outcome: Outcome::ClientDisconnected,
            error: Some((
                "client_disconnected",
                "the client closed the connection mid-stream".to_owned(),
            )),
            answer: Answer::Stream {
                payloads: self.payloads,
            },
            ttft,
            latency,
            billable: self.first_event.is_some(),
        };
        record(&self.state, self.call, ending).await;
    }
}
