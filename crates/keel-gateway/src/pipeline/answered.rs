//! What the attempt loop hands on: the provider's answer as it arrived
//! (whole, refused or streaming), or Keel's own. The stages after the loop
//! (guard_out, account, record) read it.

use bytes::Bytes;
use keel_providers::executor::ByteStream;

use super::ending::ErrorHeaders;

/// What the attempt loop got back.
pub enum Answered {
    /// Keel answered itself (a token count a provider cannot make).
    Local(Bytes),
    /// The provider's whole successful answer.
    Whole { status: u16, body: Bytes },
    /// The provider's error answer.
    Refused {
        status: u16,
        body: Bytes,
        headers: ErrorHeaders,
    },
    /// A stream whose headers arrived; its events are relayed as they come.
    Stream(ByteStream),
}
