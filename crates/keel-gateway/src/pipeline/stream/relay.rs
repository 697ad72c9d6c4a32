//! The relay's state machine: upstream bytes in, the client's events out,
//! each chunk shown to the observers on the way. Its drop guard keeps
//! reading the upstream after a client leaves (bounded in time and bytes)
//! to the usage it reports, so the call is still billed, and records it as
//! `client_disconnected`.

use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use keel_api::anthropic::to_anthropic;
use keel_api::codec::{StreamDecoder, StreamFrame};
use keel_api::{ApiError, ErrorKind};
use keel_providers::executor::ByteStream;

use super::framing::{sse_event, Frame, Framing, Outbox};
use super::observe::{Capture, ChunkProbe, Progress};
use crate::invocation::{Answer, CallGuard, Ending};
use crate::outcome::ErrorClass;

/// The response body. `core` is present until the record is handed off;
/// dropping a relay that still has it means the client left.
pub struct Relay {
    pub(super) core: Option<RelayCore>,
    /// Bytes still owed to the client after the record was handed off.
    pub(super) tail: Option<Bytes>,
}

/// Everything the relay holds while the stream runs.
pub struct RelayCore {
    pub(super) upstream: ByteStream,
    pub(super) framing: Framing,
    /// Scratch for the frames of one network chunk.
    pub(super) frames: Vec<Frame>,
    /// Turns the provider's frames into OpenAI chunks, when it speaks
    /// another format.
    pub(super) decoder: Option<Box<dyn StreamDecoder>>,
    /// Scratch for the chunks of one provider frame.
    pub(super) chunks: Vec<Vec<u8>>,
    /// Turns OpenAI chunks into the client's events, when it speaks
    /// another format.
    pub(super) translator: Option<to_anthropic::StreamTranslator>,
    /// The client speaks the provider's format: it gets the provider's
    /// events as they came, and the chunks are only observed.
    pub(super) passthrough: bool,
    /// The provider's own error event already went to the client.
    pub(super) error_passed_on: bool,
    pub(super) progress: Progress,
    pub(super) capture: Capture,
    /// The upstream's `[DONE]` event, held back until the record is handed off.
    pub(super) done_event: Option<Bytes>,
    /// Why the stream must stop, once what came before it has gone out.
    pub(super) failure: Option<ApiError>,
    pub(super) idle_timeout: Duration,
    pub(super) call: CallGuard,
}

/// How the upstream stream ended.
enum End {
    Complete,
    Failed(ApiError),
}

impl Relay {
    /// The next bytes for the client; `None` ends the response.
    pub async fn next_frame(&mut self) -> Option<Bytes> {
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
                Ok(Some(Err(e))) => Err(crate::error::from_upstream(e, core.call.provider_name())),
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
                        None if core.progress.all_finished() => End::Complete,
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
            let tasks = core.call.state().tasks.clone();
            tasks.spawn(core.drain_after_disconnect());
        }
    }
}

impl RelayCore {
    /// Frames a network chunk, observes each frame, and returns what the
    /// client should get now (`None`: nothing yet). A failure (bad frame,
    /// oversized frame) stops the stream after the frames before it have
    /// gone out; it is kept in `failure`.
    fn on_chunk(&mut self, chunk: Bytes) -> Option<Bytes> {
        let mut frames = std::mem::take(&mut self.frames);
        let framing_error = self.framing.feed(chunk, &mut frames).err();
        let mut out = Outbox::default();
        for frame in &frames {
            if self.done_event.is_some() || self.failure.is_some() {
                break;
            }
            match frame {
                Frame::Aws(message) => {
                    self.on_provider_frame(StreamFrame::Aws(message), None, &mut out)
                }
                Frame::Sse(event) if self.decoder.is_some() => self.on_provider_frame(
                    StreamFrame::Sse(&event.data),
                    Some(&event.raw),
                    &mut out,
                ),
                Frame::Sse(event) if event.is_done() => self.done_event = Some(event.raw.clone()),
                Frame::Sse(event) if event.data.is_empty() => {
                    // Comments and keep-alives reach OpenAI clients as they are.
                    if self.translator.is_none() {
                        out.push(event.raw.clone());
                    }
                }
                Frame::Sse(event) => {
                    if let Err(err) =
                        self.on_openai_chunk(event.data.clone(), Some(&event.raw), &mut out)
                    {
                        self.failure = Some(err);
                    }
                }
            }
        }
        frames.clear();
        self.frames = frames;
        if let (Some(err), None) = (framing_error, &self.failure) {
            self.failure = Some(err);
        }
        out.take()
    }

    /// One frame of a provider that speaks another format: translated into
    /// OpenAI chunks, each observed and passed on in the client's format.
    /// `raw` is the frame's bytes, for a client of the provider's format.
    fn on_provider_frame(&mut self, frame: StreamFrame<'_>, raw: Option<&Bytes>, out: &mut Outbox) {
        let Some(decoder) = self.decoder.as_mut() else {
            return;
        };
        let mut chunks = std::mem::take(&mut self.chunks);
        chunks.clear();
        let translated = match frame {
            StreamFrame::Sse([]) => Ok(()),
            frame => decoder.on_frame(frame, &mut chunks),
        };
        let failed = translated.is_err();
        if let Err(err) = translated {
            self.failure = Some(err);
        }
        self.on_translated_chunks(&mut chunks, out);
        self.chunks = chunks;
        if let Some(raw) = raw.filter(|_| self.passthrough) {
            if self.failure.is_none() || failed {
                // Same format: the client gets the provider's own event, its
                // own `error` event included (which then ends the stream).
                out.push(raw.clone());
                self.error_passed_on = failed;
            }
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
    /// chunk framed as an event otherwise, or its translation.
    fn on_openai_chunk(
        &mut self,
        data: Bytes,
        raw: Option<&Bytes>,
        out: &mut Outbox,
    ) -> Result<(), ApiError> {
        let probe = ChunkProbe::read(&data)?;
        let visible = self.progress.see(&probe);
        self.capture.keep(&data, &probe);
        if self.passthrough && self.decoder.is_some() {
            return Ok(());
        }
        match &mut self.translator {
            None if !visible => {}
            None => out.push(raw.cloned().unwrap_or_else(|| sse_event(&data))),
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

    /// The upstream ended: chunks a provider translation still owes (the
    /// usage of a format that reports it last), for the client. A format
    /// that can tell the answer was cut short says so in `failure`.
    fn on_upstream_end(&mut self) -> Option<Bytes> {
        let decoder = self.decoder.as_mut()?;
        let mut chunks = std::mem::take(&mut self.chunks);
        chunks.clear();
        if let Err(err) = decoder.finish(&mut chunks) {
            self.failure.get_or_insert(err);
        }
        let mut out = Outbox::default();
        self.on_translated_chunks(&mut chunks, &mut out);
        self.chunks = chunks;
        out.take()
    }

    fn timeout_error(&self) -> ApiError {
        ApiError::new(
            ErrorKind::UpstreamTimeout,
            format!(
                "provider '{}' went silent for longer than {:?} mid-stream",
                self.call.provider_name(),
                self.idle_timeout
            ),
        )
    }

    fn cut_error(&self) -> ApiError {
        ApiError::new(
            ErrorKind::StreamCut,
            format!(
                "provider '{}' ended the stream before it completed",
                self.call.provider_name()
            ),
        )
    }

    /// What the record keeps of the stream: the payloads seen, and the
    /// provider's own usage when its events were translated.
    fn take_answer(&mut self) -> Answer {
        Answer::Stream {
            provider_usage: self.decoder.as_ref().and_then(|d| d.provider_usage()),
            payloads: self.capture.take(),
        }
    }

    /// An ending of this stream, as far as it came.
    fn ending(&mut self, status: u16, error: Option<(ErrorClass, String)>) -> Ending {
        let started = self.call.started;
        Ending {
            status,
            error,
            answer: self.take_answer(),
            ttft: self.progress.first_event.map(|t| t.duration_since(started)),
            latency: started.elapsed(),
            billable: self.progress.first_event.is_some(),
            client_gone: false,
        }
    }

    /// Records the call and returns the last bytes owed to the client.
    async fn finish(mut self, end: End) -> Option<Bytes> {
        let (error, tail) = match end {
            End::Complete => {
                let error = self
                    .progress
                    .upstream_error
                    .clone()
                    .map(|m| (ErrorClass::UpstreamStreamError, m));
                let tail = match &mut self.translator {
                    Some(translator) => {
                        let mut closing = Vec::new();
                        translator.finish(&mut closing);
                        Bytes::from(closing)
                    }
                    // The provider's own events already ended the stream.
                    None if self.passthrough && self.decoder.is_some() => Bytes::new(),
                    None => self
                        .done_event
                        .clone()
                        .unwrap_or_else(|| Bytes::from_static(b"data: [DONE]\n\n")),
                };
                (error, tail)
            }
            End::Failed(err) => {
                let tail = match self.error_passed_on {
                    true => Bytes::new(),
                    false => self.call.ingress.error_event(&err),
                };
                (Some((err.kind.into(), err.message)), tail)
            }
        };
        let ending = self.ending(200, error);
        // The record is handed off from a task of its own: if the client
        // leaves while this waits (a full queue, or a `sync` commit), the
        // record still goes in. The tail waits for it, so in `sync` mode the
        // last byte follows the commit.
        let (stored_tx, stored) = tokio::sync::oneshot::channel();
        let tasks = self.call.state().tasks.clone();
        let call = self.call;
        tasks.spawn(async move {
            call.record(ending).await;
            let _ = stored_tx.send(());
        });
        let _ = stored.await;
        Some(tail)
    }

    /// After the client left: read on to the usage (bounded), then record.
    async fn drain_after_disconnect(mut self) {
        let latency = self.call.started.elapsed();
        let config = &self.call.state().config;
        let deadline = tokio::time::Instant::now() + config.drain_timeout;
        let max_bytes = config.drain_max_bytes;
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
        let error = (
            ErrorClass::ClientDisconnected,
            "the client closed the connection mid-stream".to_owned(),
        );
        let mut ending = self.ending(499, Some(error));
        ending.latency = latency;
        ending.client_gone = true;
        self.call.record(ending).await;
    }
}
