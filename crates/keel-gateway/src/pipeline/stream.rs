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
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use keel_api::anthropic::to_anthropic::StreamTranslator;
use keel_api::anthropic::AnthropicError;
use keel_api::bedrock::eventstream;
use keel_api::sse::{Event, SseDecoder};
use keel_api::{ApiError, ErrorKind};
use keel_providers::executor::{body_stream, ByteStream};
use keel_providers::{StreamFraming, WireFormat};
use keel_store::Outcome;
use serde::de::IgnoredAny;
use serde::Deserialize;

use super::formats::ProviderStream;
use super::unary::{upstream_status, ErrorHeaders};
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
    let format = provider.format();
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
    let framing = format.stream_framing();
    let is_stream = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(framing_content_type(framing)));
    if !(200..300).contains(&status) || !is_stream {
        let error_headers = ErrorHeaders::of(response.headers());
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
        return upstream_status(state, call, status, body, error_headers).await;
    }
    let id = call.id;
    // From here the response body notices a client that leaves.
    call.client.detach();
    let relay = Relay {
        core: Some(RelayCore {
            upstream: body_stream(response),
            decoder: Framing::new(framing),
            scratch: Vec::with_capacity(8),
            payloads: Captured::default(),
            hide_usage: !p.include_usage,
            done_event: None,
            finished_choices: Vec::new(),
            expected_choices: p.choices,
            failure: None,
            provider_stream: ProviderStream::new(
                format,
                call.requested_model.as_deref().unwrap_or_default(),
                (call.created_at_ms / 1000).max(0) as u64,
            ),
            chunks: Vec::new(),
            passthrough: call.ingress.format() == format,
            error_passed_on: false,
            translator: (call.ingress == Ingress::Anthropic && format != WireFormat::Anthropic)
                .then(|| {
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
    decoder: Framing,
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
    /// Turns the provider's events into OpenAI chunks, when it speaks
    /// another format.
    provider_stream: Option<ProviderStream>,
    /// Scratch for the chunks of one provider event.
    chunks: Vec<Vec<u8>>,
    /// The client speaks the provider's format: it gets the provider's
    /// events as they came, and the chunks are only observed.
    passthrough: bool,
    /// The provider's own error event already went to the client.
    error_passed_on: bool,
    /// Turns OpenAI chunks into Anthropic events for `/v1/messages` clients
    /// of a provider that does not speak Anthropic.
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
            let (owed, end) = match chunk {
                Ok(Some(chunk)) => match core.on_chunk(chunk) {
                    Some(out) => return Some(out),
                    None => continue,
                },
                Ok(None) => {
                    let owed = core.on_upstream_end();
                    let end = match core.failure.take() {
                        Some(err) => End::Failed(err),
                        None if core.finished_choices.len() >= core.expected_choices as usize => {
                            End::Complete
                        }
                        None => End::Failed(core.cut_error()),
                    };
                    (owed, end)
                }
                Err(err) => (None, End::Failed(err)),
            };
            let core = self.core.take()?;
            let tail = core.finish(end).await;
            self.tail = match owed {
                Some(owed) => Some(Outbox::joined(owed, tail)),
                None => tail,
            };
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
        let decoder = match &mut self.decoder {
            Framing::Sse(decoder) => decoder,
            Framing::EventStream(_) => return self.on_event_stream_chunk(&chunk),
        };
        self.scratch.clear();
        let oversized = decoder.feed(chunk, &mut self.scratch).is_err();
        let mut out = Outbox::default();
        let events = std::mem::take(&mut self.scratch);
        for event in &events {
            if self.done_event.is_some() || self.failure.is_some() {
                break;
            }
            if self.provider_stream.is_some() {
                self.on_provider_event(event, &mut out);
                continue;
            }
            if event.is_done() {
                self.done_event = Some(event.raw.clone());
                continue;
            }
            if event.data.is_empty() {
                // Comments and keep-alives reach OpenAI clients as they are.
                if self.translator.is_none() {
                    out.push(event.raw.clone());
                }
                continue;
            }
            if let Err(err) = self.on_openai_chunk(event.data.clone(), Some(&event.raw), &mut out) {
                self.failure = Some(err);
            }
        }
        self.scratch = events;
        if oversized && self.failure.is_none() {
            self.failure = Some(ApiError::new(
                ErrorKind::UpstreamMalformed,
                "the provider sent a stream event over the size limit",
            ));
        }
        out.take()
    }

    /// One event of a provider that speaks another format: translated into
    /// OpenAI chunks, each observed and passed on in the client's format.
    fn on_provider_event(&mut self, event: &Event, out: &mut Outbox) {
        let Some(provider_stream) = self.provider_stream.as_mut() else {
            return;
        };
        let mut chunks = std::mem::take(&mut self.chunks);
        chunks.clear();
        let translated = if event.data.is_empty() {
            Ok(())
        } else {
            provider_stream.on_event(&event.data, &mut chunks)
        };
        let failed = translated.is_err();
        if let Err(err) = translated {
            self.failure = Some(err);
        }
        self.on_translated_chunks(&mut chunks, out);
        self.chunks = chunks;
        if self.passthrough && (self.failure.is_none() || failed) {
            // Same format: the client gets the provider's own event, its
            // own `error` event included (which then ends the stream).
            out.push(event.raw.clone());
            self.error_passed_on = failed;
        }
    }

    /// Observes chunks a provider translation produced and passes them on.
    fn on_translated_chunks(&mut self, chunks: &mut Vec<Vec<u8>>, out: &mut Outbox) {
        for chunk in chunks.drain(..) {
            if self.failure.is_some() {
                break;
            }
            if let Err(err) = self.on_openai_chunk(Bytes::from(chunk), None, out) {
                self.failure = Some(err);
            }
        }
    }

    /// Observes one OpenAI chunk and adds what the client should get of it
    /// to `out`: the upstream's own event bytes when given (`raw`), the
    /// chunk framed as an event otherwise, or its Anthropic translation.
    fn on_openai_chunk(
        &mut self,
        data: Bytes,
        raw: Option<&Bytes>,
        out: &mut Outbox,
    ) -> Result<(), ApiError> {
        let visible = self.observe(&data)?;
        if self.passthrough && self.provider_stream.is_some() {
            return Ok(());
        }
        match &mut self.translator {
            None if !visible => {}
            None => match raw {
                Some(raw) => out.push(raw.clone()),
                None => out.push(frame(&data)),
            },
            Some(translator) => {
                let mut translated = Vec::new();
                translator
                    .on_chunk(&data, &mut translated)
                    .map_err(|e| ApiError::new(ErrorKind::UpstreamMalformed, e.message))?;
                if !translated.is_empty() {
                    out.push(Bytes::from(translated));
                }
            }
        }
        Ok(())
    }

    /// [`RelayCore::on_chunk`] for an AWS event stream: binary messages,
    /// each translated into OpenAI chunks.
    fn on_event_stream_chunk(&mut self, chunk: &[u8]) -> Option<Bytes> {
        let Framing::EventStream(decoder) = &mut self.decoder else {
            return None;
        };
        let mut messages = Vec::new();
        let framing_error = decoder.feed(chunk, &mut messages).err();
        let mut out = Outbox::default();
        for message in &messages {
            if self.failure.is_some() {
                break;
            }
            let Some(provider_stream) = self.provider_stream.as_mut() else {
                break;
            };
            let mut chunks = std::mem::take(&mut self.chunks);
            chunks.clear();
            if let Err(err) = provider_stream.on_message(message, &mut chunks) {
                self.failure = Some(err);
            }
            self.on_translated_chunks(&mut chunks, &mut out);
            self.chunks = chunks;
        }
        if let (Some(e), None) = (framing_error, &self.failure) {
            self.failure = Some(ApiError::new(
                ErrorKind::UpstreamMalformed,
                format!("the provider sent a broken event stream: {e}"),
            ));
        }
        out.take()
    }

    /// The upstream ended: chunks a provider translation still owes (the
    /// usage of a format that reports it last), for the client. A format
    /// that can tell the answer was cut short says so in `failure`.
    fn on_upstream_end(&mut self) -> Option<Bytes> {
        let provider_stream = self.provider_stream.as_mut()?;
        let mut chunks = std::mem::take(&mut self.chunks);
        chunks.clear();
        let ended = provider_stream.finish(&mut chunks);
        if let Err(err) = ended {
            self.failure.get_or_insert(err);
        }
        let mut out = Outbox::default();
        self.on_translated_chunks(&mut chunks, &mut out);
        self.chunks = chunks;
        out.take()
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

    /// What the record keeps of the stream: the payloads seen, and the
    /// provider's own usage when its events were translated.
    fn take_answer(&mut self) -> Answer {
        Answer::Stream {
            provider_usage: self
                .provider_stream
                .as_ref()
                .and_then(ProviderStream::provider_usage),
            payloads: std::mem::take(&mut self.payloads),
        }
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
                    // The provider's own events already ended the stream.
                    None if self.passthrough && self.provider_stream.is_some() => Bytes::new(),
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
                match self.call.ingress {
                    _ if self.error_passed_on => Bytes::new(),
                    Ingress::Anthropic => {
                        Bytes::from(AnthropicError::from_api_error(&err).to_sse_event())
                    }
                    Ingress::OpenAi => Bytes::from(err.to_sse_event()),
                },
            ),
        };
        let ending = Ending {
            status: 200,
            outcome,
            error,
            answer: self.take_answer(),
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
                Ok(None) => {
                    self.on_upstream_end();
                    break;
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
            answer: self.take_answer(),
            ttft,
            latency,
            billable: self.first_event.is_some(),
        };
        record(&self.state, self.call, ending).await;
    }
}

/// Cuts the upstream's bytes into events.
enum Framing {
    Sse(SseDecoder),
    EventStream(eventstream::Decoder),
}

impl Framing {
    fn new(framing: StreamFraming) -> Framing {
        match framing {
            StreamFraming::Sse => Framing::Sse(SseDecoder::new(MAX_EVENT_BYTES)),
            StreamFraming::AwsEventStream => {
                Framing::EventStream(eventstream::Decoder::new(MAX_EVENT_BYTES))
            }
        }
    }
}

/// The content type a stream of this framing comes with.
fn framing_content_type(framing: StreamFraming) -> &'static str {
    match framing {
        StreamFraming::Sse => "text/event-stream",
        StreamFraming::AwsEventStream => "application/vnd.amazon.eventstream",
    }
}

/// The bytes one step owes the client, joined without copying when there is
/// only one piece.
#[derive(Default)]
struct Outbox {
    first: Option<Bytes>,
    joined: Option<BytesMut>,
}

impl Outbox {
    fn push(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        match (&mut self.first, &mut self.joined) {
            (_, Some(buf)) => buf.extend_from_slice(&bytes),
            (None, None) => self.first = Some(bytes),
            (Some(first), None) => {
                let mut buf = BytesMut::with_capacity(first.len() + bytes.len() * 2);
                buf.extend_from_slice(first);
                buf.extend_from_slice(&bytes);
                self.joined = Some(buf);
                self.first = None;
            }
        }
    }

    fn take(&mut self) -> Option<Bytes> {
        self.joined
            .take()
            .map(BytesMut::freeze)
            .or_else(|| self.first.take())
    }

    /// `head` followed by `tail`.
    fn joined(head: Bytes, tail: Option<Bytes>) -> Bytes {
        let mut out = Outbox::default();
        out.push(head);
        out.extend(tail);
        out.take().unwrap_or_default()
    }

    fn extend(&mut self, bytes: Option<Bytes>) {
        if let Some(bytes) = bytes {
            self.push(bytes);
        }
    }
}

/// An OpenAI chunk payload framed as one SSE event.
fn frame(data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}
