//! Server-sent events framing: splits a byte stream into complete events
//! without copying when an event lies inside one network chunk.

use bytes::{Bytes, BytesMut};

/// One complete SSE event as it came over the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The raw bytes of the event including its terminating blank line.
    pub raw: Bytes,
    /// The `data` payload (multiple `data:` lines joined by `\n`).
    pub data: Bytes,
}

impl Event {
    /// True for the OpenAI end-of-stream sentinel `data: [DONE]`.
    pub fn is_done(&self) -> bool {
        self.data.as_ref() == b"[DONE]"
    }
}

/// Why the decoder refused more input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseError {
    /// One event grew past the maximum size without ending.
    EventTooLarge,
}

/// Incremental SSE decoder with a bound on one event's size.
#[derive(Debug)]
pub struct SseDecoder {
    pending: BytesMut,
    max_event_bytes: usize,
}

impl SseDecoder {
    pub fn new(max_event_bytes: usize) -> Self {
        SseDecoder {
            pending: BytesMut::new(),
            max_event_bytes,
        }
    }

    /// Feeds one network chunk; pushes every event it completes onto `out`.
    pub fn feed(&mut self, chunk: Bytes, out: &mut Vec<Event>) -> Result<(), SseError> {
        if self.pending.is_empty() {
            // Fast path: frame directly on the shared chunk, no copy.
            let consumed = split_events(&chunk, out);
            if consumed < chunk.len() {
                self.pending.extend_from_slice(&chunk[consumed..]);
            }
        } else {
            self.pending.extend_from_slice(&chunk);
            let buffered = self.pending.split().freeze();
            let consumed = split_events(&buffered, out);
            if consumed < buffered.len() {
                self.pending.extend_from_slice(&buffered[consumed..]);
            }
        }
        if self.pending.len() > self.max_event_bytes {
            return Err(SseError::EventTooLarge);
        }
        Ok(())
    }

    /// Bytes received after the last complete event (a cut stream leaves some).
    pub fn leftover(&self) -> &[u8] {
        &self.pending
    }
}

/// Splits complete events off the front of `buf`; returns bytes consumed.
fn split_events(buf: &Bytes, out: &mut Vec<Event>) -> usize {
    let mut start = 0;
    while let Some((end, next)) = find_event_end(&buf[start..]) {
        let raw = buf.slice(start..start + next);
        let data = extract_data(&buf.slice(start..start + end));
        out.push(Event { raw, data });
        start += next;
    }
    start
}

/// Finds the blank line that ends an event: returns (end of event text, start of next).
fn find_event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while let Some(pos) = memchr::memchr2(b'\n', b'\r', &buf[i..]) {
        let at = i + pos;
        let first_len = line_break_len(&buf[at..])?;
        let after = at + first_len;
        if let Some(second_len) = buf.get(after).and_then(|_| line_break_len(&buf[after..])) {
            return Some((at, after + second_len));
        }
        if after >= buf.len() {
            return None;
        }
        i = after;
    }
    None
}

/// Length of the line break at the start of `b` (1 or 2), `None` if `b` is a
/// lone `\r` at the end of the buffer (its `\n` may still come).
fn line_break_len(b: &[u8]) -> Option<usize> {
    match b {
        [b'\r', b'\n', ..] => Some(2),
        [b'\r'] => None,
        [b'\r', ..] | [b'\n', ..] => Some(1),
        _ => None,
    }
}

/// Joins the `data:` lines of one event's text.
fn extract_data(event: &Bytes) -> Bytes {
    let mut data: Option<BytesMut> = None;
    let mut single: Option<Bytes> = None;
    // Lines end in \r\n, \n or a lone \r; splitting on both bytes leaves
    // empty pieces between \r and \n, which carry no field and are skipped.
    for line in event.split(|&b| b == b'\n' || b == b'\r') {
        let Some(rest) = line.strip_prefix(b"data:") else {
            continue;
        };
        let rest = rest.strip_prefix(b" ").unwrap_or(rest);
        match (&mut data, &single) {
            (None, None) => {
                let offset = rest.as_ptr() as usize - event.as_ptr() as usize;
                single = Some(event.slice(offset..offset + rest.len()));
            }
            (None, Some(first)) => {
                let mut joined = BytesMut::from(first.as_ref());
                joined.extend_from_slice(b"\n");
                joined.extend_from_slice(rest);
                data = Some(joined);
            }
            (Some(joined), _) => {
                joined.extend_from_slice(b"\n");
                joined.extend_from_slice(rest);
            }
        }
    }
    match data {
        Some(joined) => joined.freeze(),
        None => single.unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&[u8]]) -> (Vec<Event>, Vec<u8>) {
        let mut d = SseDecoder::new(1 << 20);
        let mut out = Vec::new();
        for c in chunks {
            d.feed(Bytes::copy_from_slice(c), &mut out).unwrap();
        }
        let left = d.leftover().to_vec();
        (out, left)
    }

    #[test]
    fn splits_events_in_one_chunk() {
        let (ev, left) = decode(&[b"data: {\"a\":1}\n\ndata: [DONE]\n\n"]);
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].data.as_ref(), b"{\"a\":1}");
        assert_eq!(ev[0].raw.as_ref(), b"data: {\"a\":1}\n\n");
        assert!(ev[1].is_done());
        assert!(left.is_empty());
    }

    #[test]
    fn joins_events_split_across_chunks() {
        let (ev, _) = decode(&[b"data: {\"a\"", b":1}\n", b"\ndata: [DO", b"NE]\n\n"]);
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].data.as_ref(), b"{\"a\":1}");
        assert!(ev[1].is_done());
    }

    #[test]
    fn handles_crlf_and_comments_and_multiline_data() {
        let (ev, _) = decode(&[b": keep-alive\r\n\r\nevent: x\r\ndata: a\r\ndata: b\r\n\r\n"]);
        assert_eq!(ev.len(), 2);
        assert!(ev[0].data.is_empty());
        assert_eq!(ev[1].data.as_ref(), b"a\nb");
    }

    #[test]
    fn crlf_split_between_chunks() {
        let (ev, _) = decode(&[b"data: x\r\n\r", b"\ndata: y\r\n\r\n"]);
        assert_eq!(ev.len(), 2);
        assert_eq!(ev[0].data.as_ref(), b"x");
        assert_eq!(ev[1].data.as_ref(), b"y");
    }

    #[test]
    fn keeps_an_unfinished_event_as_leftover() {
        let (ev, left) = decode(&[b"data: {\"a\":1}\n\ndata: {\"b\""]);
        assert_eq!(ev.len(), 1);
        assert_eq!(left, b"data: {\"b\"");
    }

    #[test]
    fn refuses_an_endless_event() {
        let mut d = SseDecoder::new(16);
        let mut out = Vec::new();
        let err = d.feed(
            Bytes::from_static(b"data: 0123456789012345678901234"),
            &mut out,
        );
        assert_eq!(err, Err(SseError::EventTooLarge));
    }
}
