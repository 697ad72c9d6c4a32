//! Server-sent events as the load generator sees them: a body split into
//! `\n\n`-terminated events across frame boundaries, content deltas picked
//! out, and the end of the stream noticed.

/// What one body frame completed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Fed {
    /// `\n\n`-terminated SSE events.
    pub(super) events: usize,
    /// Of those, content deltas.
    pub(super) deltas: usize,
}

/// Splits a body into `\n\n`-terminated SSE events across frame boundaries,
/// picks out content deltas and notices the end of the stream.
#[derive(Debug, Default)]
pub(super) struct EventReader {
    /// Bytes of the event not yet terminated.
    partial: Vec<u8>,
    /// Bytes of `partial` already searched for a separator.
    scanned: usize,
    pub(super) saw_end: bool,
}

impl EventReader {
    /// Takes the next body frame; returns the events it completed.
    pub(super) fn feed(&mut self, data: &[u8]) -> Fed {
        let mut fed = Fed::default();
        self.partial.extend_from_slice(data);
        // Start of the current event; a separator lies wholly inside one event.
        let mut start = 0;
        let mut i = self.scanned.max(1);
        while i < self.partial.len() {
            if self.partial[i] == b'\n' && self.partial[i - 1] == b'\n' && i > start {
                let event = &self.partial[start..=i];
                fed.events += 1;
                if is_content_delta(event) {
                    fed.deltas += 1;
                }
                if is_end(event) {
                    self.saw_end = true;
                }
                start = i + 1;
                i = start + 1;
            } else {
                i += 1;
            }
        }
        self.partial.drain(..start);
        self.scanned = self.partial.len();
        fed
    }
}

/// Whether `haystack` contains `needle`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The last event of a stream: OpenAI's `[DONE]` or Anthropic's `message_stop`.
fn is_end(event: &[u8]) -> bool {
    event.starts_with(b"event: message_stop\n") || contains(event, b"data: [DONE]")
}

/// An Anthropic `content_block_delta`, or an OpenAI chunk whose
/// `delta.content` is a non-empty string (not the role chunk's `""`).
fn is_content_delta(event: &[u8]) -> bool {
    const DELTA: &[u8] = b"\"delta\":{";
    const CONTENT: &[u8] = b"\"content\":\"";
    if event.starts_with(b"event: ") {
        return event.starts_with(b"event: content_block_delta\n");
    }
    let Some(at) = event.windows(DELTA.len()).position(|w| w == DELTA) else {
        return false;
    };
    let delta = &event[at + DELTA.len()..];
    let delta = &delta[..delta.iter().position(|b| *b == b'}').unwrap_or(delta.len())];
    delta
        .windows(CONTENT.len())
        .position(|w| w == CONTENT)
        .is_some_and(|c| delta.get(c + CONTENT.len()).is_some_and(|b| *b != b'"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(events: usize, deltas: usize) -> Fed {
        Fed { events, deltas }
    }

    #[test]
    fn counts_events_split_across_frames() {
        let mut c = EventReader::default();
        assert_eq!(c.feed(b"data: {}\n"), fed(0, 0));
        assert_eq!(c.feed(b"\ndata: {}\n\ndata: [DO"), fed(2, 0));
        assert!(!c.saw_end);
        assert_eq!(c.feed(b"NE]\n"), fed(0, 0));
        assert_eq!(c.feed(b"\n"), fed(1, 0));
        assert!(c.saw_end);
    }

    #[test]
    fn picks_out_openai_content_deltas() {
        let mut c = EventReader::default();
        let role = br#"data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#;
        let word =
            br#"data: {"choices":[{"index":0,"delta":{"content":"word0"},"finish_reason":null}]}"#;
        let finish = br#"data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"content":"x"}}"#;
        for (event, deltas) in [(&role[..], 0), (word, 1), (finish, 0)] {
            let mut bytes = event.to_vec();
            bytes.extend_from_slice(b"\n\n");
            assert_eq!(c.feed(&bytes), fed(1, deltas));
        }
        assert!(!c.saw_end);
    }

    #[test]
    fn picks_out_anthropic_content_deltas_and_the_end() {
        let mut c = EventReader::default();
        let body = "event: message_start\ndata: {}\n\n\
            event: content_block_start\ndata: {}\n\n\
            event: content_block_delta\ndata: {\"delta\":{\"text\":\"a\"}}\n\n\
            event: content_block_delta\ndata: {}\n\n\
            event: content_block_stop\ndata: {}\n\n\
            event: message_delta\ndata: {}\n\n\
            event: message_stop\ndata: {}\n\n";
        let (head, tail) = body.as_bytes().split_at(60);
        let first = c.feed(head);
        let second = c.feed(tail);
        assert_eq!(first.events + second.events, 7);
        assert_eq!(first.deltas + second.deltas, 2);
        assert!(c.saw_end);
    }
}
