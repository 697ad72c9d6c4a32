//! The one response body type: whole bodies, paced SSE streams, and bodies
//! that break off mid-way (to imitate an upstream that drops the connection).

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

use crate::state::Shared;

/// How long a cut body waits after its last part before failing.
const CUT_PAUSE: Duration = Duration::from_millis(10);

/// A response body made of pre-built parts, optionally paced by a delay
/// between parts, optionally ending in an error so hyper closes the
/// connection without finishing the message.
pub(crate) struct ReplyBody {
    parts: VecDeque<Bytes>,
    delay: Option<Duration>,
    sleep: Option<Pin<Box<Sleep>>>,
    cut: bool,
    /// The pause before a cut has been taken (so what came before is flushed).
    cut_paused: bool,
    /// Set for SSE streams: counts the stream as completed or aborted.
    tracker: Option<Arc<Shared>>,
    done: bool,
}

impl ReplyBody {
    /// A complete body sent in one piece.
    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        Self::parts(vec![bytes.into()])
    }

    /// An empty body.
    pub(crate) fn empty() -> Self {
        Self::parts(Vec::new())
    }

    /// A body sent as separate frames (one per SSE event), unpaced.
    pub(crate) fn parts(parts: Vec<Bytes>) -> Self {
        ReplyBody {
            parts: parts.into(),
            delay: None,
            sleep: None,
            cut: false,
            cut_paused: false,
            tracker: None,
            done: false,
        }
    }

    /// Waits `delay` between consecutive parts (not before the first).
    pub(crate) fn paced(mut self, delay: Option<Duration>) -> Self {
        self.delay = delay.filter(|d| !d.is_zero());
        self
    }

    /// After the last part, fail instead of ending cleanly, so the peer sees
    /// the connection close mid-message.
    pub(crate) fn cut(mut self) -> Self {
        self.cut = true;
        self
    }

    /// Counts this body in the stream counters of `shared`.
    pub(crate) fn tracked(mut self, shared: &Arc<Shared>) -> Self {
        shared
            .streams_started
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.tracker = Some(Arc::clone(shared));
        self
    }

    fn finish(&mut self, completed: bool) {
        if !self.done {
            self.done = true;
            if let Some(shared) = self.tracker.take() {
                shared.stream_finished(completed);
            }
        }
    }
}

impl Body for ReplyBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        if let Some(sleep) = this.sleep.as_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.sleep = None;
        }
        match this.parts.pop_front() {
            Some(part) => {
                if !this.parts.is_empty() {
                    if let Some(delay) = this.delay {
                        this.sleep = Some(Box::pin(tokio::time::sleep(delay)));
                    }
                }
                Poll::Ready(Some(Ok(Frame::data(part))))
            }
            None if this.cut && !this.cut_paused => {
                // Returning Pending makes hyper flush what it holds; erroring
                // straight away would discard it.
                this.cut_paused = true;
                let mut sleep = Box::pin(tokio::time::sleep(CUT_PAUSE));
                let _ = sleep.as_mut().poll(cx);
                this.sleep = Some(sleep);
                Poll::Pending
            }
            None if this.cut => {
                this.finish(false);
                Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "fake upstream cut the response short",
                ))))
            }
            None => {
                this.finish(true);
                Poll::Ready(None)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        // Tracked streams must be polled to their `None` so completion is counted.
        self.done
            || (self.tracker.is_none()
                && !self.cut
                && self.parts.is_empty()
                && self.sleep.is_none())
    }

    fn size_hint(&self) -> SizeHint {
        // Whole bodies get a content-length; streams and cut bodies stay chunked
        // (or use the content-length header set by the caller).
        if self.cut || self.delay.is_some() || self.tracker.is_some() || self.parts.len() > 1 {
            return SizeHint::default();
        }
        let len = self.parts.iter().map(|p| p.len() as u64).sum();
        SizeHint::with_exact(len)
    }
}

impl Drop for ReplyBody {
    fn drop(&mut self) {
        // Dropped before the end: hyper gave up because the peer went away.
        self.finish(false);
    }
}
