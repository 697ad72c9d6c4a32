//! Cutting the upstream's bytes into frames (SSE events or AWS event-stream
//! messages), and joining what one step owes the client into one write.

use bytes::{Bytes, BytesMut};
use keel_api::bedrock::eventstream::{self, Message};
use keel_api::sse::{Event, SseDecoder};
use keel_api::{ApiError, ErrorKind};
use keel_providers::StreamFraming;

/// Largest single frame accepted from an upstream.
const MAX_EVENT_BYTES: usize = 4 << 20;

/// One framed unit of the upstream's stream.
pub enum Frame {
    Sse(Event),
    Aws(Message),
}

/// Cuts the upstream's bytes into frames.
pub struct Framing {
    decoder: Decoder,
    /// Scratch, reused for every chunk.
    events: Vec<Event>,
    messages: Vec<Message>,
}

enum Decoder {
    Sse(SseDecoder),
    EventStream(eventstream::Decoder),
}

impl Framing {
    /// A decoder for streams framed this way.
    pub fn new(framing: StreamFraming) -> Framing {
        let decoder = match framing {
            StreamFraming::Sse => Decoder::Sse(SseDecoder::new(MAX_EVENT_BYTES)),
            StreamFraming::AwsEventStream => {
                Decoder::EventStream(eventstream::Decoder::new(MAX_EVENT_BYTES))
            }
        };
        Framing {
            decoder,
            events: Vec::new(),
            messages: Vec::new(),
        }
    }

    /// Appends the frames `chunk` completes to `out`. An error (an oversized
    /// or broken frame) comes after the frames before it, which still count.
    pub fn feed(&mut self, chunk: Bytes, out: &mut Vec<Frame>) -> Result<(), ApiError> {
        match &mut self.decoder {
            Decoder::Sse(decoder) => {
                let fed = decoder.feed(chunk, &mut self.events);
                out.extend(self.events.drain(..).map(Frame::Sse));
                fed.map_err(|_| malformed("the provider sent a stream event over the size limit"))
            }
            Decoder::EventStream(decoder) => {
                let fed = decoder.feed(&chunk, &mut self.messages);
                out.extend(self.messages.drain(..).map(Frame::Aws));
                fed.map_err(|e| malformed(&format!("the provider sent a broken event stream: {e}")))
            }
        }
    }
}

fn malformed(message: &str) -> ApiError {
    ApiError::new(ErrorKind::UpstreamMalformed, message)
}

/// The bytes one step owes the client, joined without copying when there is
/// only one piece.
#[derive(Default)]
pub struct Outbox {
    first: Option<Bytes>,
    joined: Option<BytesMut>,
}

impl Outbox {
    /// Adds bytes after those already owed.
    pub fn push(&mut self, bytes: Bytes) {
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

    /// Everything owed, as one piece; `None` when nothing is.
    pub fn take(&mut self) -> Option<Bytes> {
        self.joined
            .take()
            .map(BytesMut::freeze)
            .or_else(|| self.first.take())
    }

    /// `head` followed by `tail`.
    pub fn joined(head: Bytes, tail: Option<Bytes>) -> Bytes {
        let mut out = Outbox::default();
        out.push(head);
        if let Some(tail) = tail {
            out.push(tail);
        }
        out.take().unwrap_or_default()
    }
}

/// An OpenAI chunk payload framed as one SSE event.
pub fn sse_event(data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}
