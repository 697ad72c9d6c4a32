//! The `application/vnd.amazon.eventstream` framing of Bedrock's streamed
//! answers: an incremental [`Decoder`] that survives any split of the bytes
//! into chunks, and [`encode`] for fakes and tests.
//!
//! A message is (all integers big-endian, per the Amazon Event Stream
//! Specification, <https://smithy.io/2.0/aws/amazon-eventstream.html>):
//!
//! | bytes | field |
//! | --- | --- |
//! | 4 | total length, the whole message included |
//! | 4 | headers length |
//! | 4 | prelude CRC32 of the 8 bytes before it |
//! | headers length | headers (see `headers.rs`) |
//! | rest | payload |
//! | 4 | message CRC32 of every byte before it |
//!
//! The CRC is the standard IEEE CRC-32 (the one gzip uses). A checksum that
//! does not match fails the stream: the format requires the reader to stop.

mod headers;

pub use headers::{Header, HeaderValue};

/// The HTTP `content-type` of an event stream body.
pub const CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// Prelude (two lengths and their CRC) plus the trailing message CRC.
const OVERHEAD: usize = 16;
/// The two lengths and the prelude CRC.
const PRELUDE: usize = 12;

/// Why a byte stream is not a valid event stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A message longer than the decoder's limit.
    #[error("event stream message of {len} bytes is over the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    /// Lengths that cannot describe a message.
    #[error(
        "event stream message declares an impossible length ({total} total, {headers} of headers)"
    )]
    InvalidLength { total: u32, headers: u32 },
    /// The lengths were corrupted.
    #[error(
        "event stream prelude checksum mismatch (computed {computed:#010x}, sent {sent:#010x})"
    )]
    PreludeChecksum { computed: u32, sent: u32 },
    /// The message was corrupted.
    #[error(
        "event stream message checksum mismatch (computed {computed:#010x}, sent {sent:#010x})"
    )]
    MessageChecksum { computed: u32, sent: u32 },
    /// A header that cannot be read.
    #[error("event stream header is invalid: {0}")]
    InvalidHeader(String),
    /// The stream stopped mid-message.
    #[error("event stream ended inside a message ({0} bytes left over)")]
    Truncated(usize),
}

/// One decoded message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The headers in wire order (the format gives order no meaning).
    pub headers: Vec<Header>,
    /// The payload: a JSON event for ConverseStream.
    pub payload: Vec<u8>,
}

impl Message {
    /// The value of string header `name`, if present and a string.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|h| match &h.value {
            HeaderValue::String(s) if h.name == name => Some(s.as_str()),
            _ => None,
        })
    }

    /// `:message-type`: `event`, `exception` (a modeled error) or `error`.
    pub fn message_type(&self) -> Option<&str> {
        self.header_str(":message-type")
    }

    /// `:event-type` of an event message (e.g. `contentBlockDelta`).
    pub fn event_type(&self) -> Option<&str> {
        self.header_str(":event-type")
    }

    /// `:exception-type` of an exception message (e.g. `throttlingException`).
    pub fn exception_type(&self) -> Option<&str> {
        self.header_str(":exception-type")
    }
}

/// Splits a byte stream into messages, whatever the chunk boundaries.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    max_message_bytes: usize,
    /// Set by the first error: the format forbids reading on after one.
    failed: Option<Error>,
}

impl Decoder {
    /// A decoder refusing messages longer than `max_message_bytes`, so a
    /// corrupt length cannot make it buffer without bound. ConverseStream
    /// events are small; a few MiB is plenty.
    pub fn new(max_message_bytes: usize) -> Self {
        Decoder {
            buf: Vec::new(),
            max_message_bytes: max_message_bytes.max(OVERHEAD),
            failed: None,
        }
    }

    /// Appends `bytes` and pushes every message they complete onto `out`.
    /// After an error every later call fails with the same error.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Message>) -> Result<(), Error> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        self.buf.extend_from_slice(bytes);
        let mut at = 0;
        let result = loop {
            match self.next_message(at) {
                Ok(Some((message, len))) => {
                    out.push(message);
                    at += len;
                }
                Ok(None) => break Ok(()),
                Err(err) => break Err(err),
            }
        };
        self.buf.drain(..at);
        if let Err(err) = &result {
            self.failed = Some(err.clone());
            self.buf.clear();
        }
        result
    }

    /// Checks that the stream ended between messages.
    pub fn finish(&self) -> Result<(), Error> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(Error::Truncated(self.buf.len()))
        }
    }

    /// The message starting at `at`, if it is complete, and its length.
    fn next_message(&self, at: usize) -> Result<Option<(Message, usize)>, Error> {
        let bytes = &self.buf[at..];
        if bytes.len() < PRELUDE {
            return Ok(None);
        }
        let total = be_u32(&bytes[0..4]);
        let headers_len = be_u32(&bytes[4..8]);
        let computed = crc32fast::hash(&bytes[0..8]);
        let sent = be_u32(&bytes[8..12]);
        if computed != sent {
            return Err(Error::PreludeChecksum { computed, sent });
        }
        let (len, hlen) = (total as usize, headers_len as usize);
        if len < OVERHEAD || hlen > len - OVERHEAD {
            return Err(Error::InvalidLength {
                total,
                headers: headers_len,
            });
        }
        if len > self.max_message_bytes {
            return Err(Error::TooLarge {
                len,
                max: self.max_message_bytes,
            });
        }
        if bytes.len() < len {
            return Ok(None);
        }
        let computed = crc32fast::hash(&bytes[..len - 4]);
        let sent = be_u32(&bytes[len - 4..len]);
        if computed != sent {
            return Err(Error::MessageChecksum { computed, sent });
        }
        let headers = headers::parse(&bytes[PRELUDE..PRELUDE + hlen])?;
        let payload = bytes[PRELUDE + hlen..len - 4].to_vec();
        Ok(Some((Message { headers, payload }, len)))
    }
}

fn be_u32(bytes: &[u8]) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[..4]);
    u32::from_be_bytes(b)
}

/// Frames one message with string headers (type 7). Header names longer
/// than 255 bytes and values longer than 65,535 bytes are cut to fit: the
/// callers (fakes and tests) pass short protocol headers.
pub fn encode(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut section = Vec::new();
    for (name, value) in headers {
        let name = &name.as_bytes()[..name.len().min(usize::from(u8::MAX))];
        let value = &value.as_bytes()[..value.len().min(usize::from(u16::MAX))];
        section.push(name.len() as u8);
        section.extend_from_slice(name);
        section.push(7);
        section.extend_from_slice(&(value.len() as u16).to_be_bytes());
        section.extend_from_slice(value);
    }
    let total = OVERHEAD + section.len() + payload.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(section.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&section);
    out.extend_from_slice(payload);
    let message_crc = crc32fast::hash(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    out
}

#[cfg(test)]
mod tests;
