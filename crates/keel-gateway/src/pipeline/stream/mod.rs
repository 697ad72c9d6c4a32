//! Relaying a streamed answer. Events pass to the client as they arrive,
//! each observed on the way (usage, finish, errors) and kept for the
//! record: framing cuts the upstream's bytes, the provider's codec turns
//! its frames into OpenAI chunks, observers watch them, and the client's
//! format shapes what goes out ([`relay`]'s state machine).

mod framing;
mod observe;
mod relay;

use bytes::Bytes;
use keel_providers::executor::ByteStream;

use super::ending::Reply;
use crate::invocation::CallGuard;
use framing::Framing;
use observe::{Capture, Progress};
use relay::{Relay, RelayCore};

/// Starts relaying a stream whose headers arrived; the call's record is
/// written when the stream ends (or, if the client leaves, once the
/// upstream has been drained).
pub fn relay(mut call: CallGuard, upstream: ByteStream) -> Reply {
    let id = call.id;
    // From here the response body notices a client that leaves.
    call.client.detach();
    let Some(codec) = call.codec() else {
        let err = super::ending::internal("a stream came without a provider");
        return Reply::Json {
            status: err.status(),
            body: Bytes::from(err.to_json()),
            invocation: id,
            headers: Vec::new(),
        };
    };
    let headers = super::ending::headers_of(&call.rate_headers);
    let model = call.requested_model.clone().unwrap_or_default();
    let created = (call.created_at_ms / 1000).max(0) as u64;
    let message_id = format!("msg_{}", call.id.simple());
    let passthrough = call.ingress.speaks(codec);
    let core = RelayCore {
        upstream,
        framing: Framing::new(codec.framing()),
        frames: Vec::with_capacity(8),
        decoder: codec.stream_decoder(&model, created),
        chunks: Vec::new(),
        translator: match passthrough {
            true => None,
            false => call.ingress.stream_translator(&model, &message_id),
        },
        passthrough,
        error_passed_on: false,
        progress: Progress::new(call.choices, call.include_usage),
        capture: Capture::default(),
        done_event: None,
        failure: None,
        idle_timeout: call.state().executor.config().stream_idle_timeout,
        call,
    };
    let relay = Relay {
        core: Some(core),
        tail: None,
    };
    let events = futures_util::stream::unfold(relay, |mut relay| async move {
        relay.next_frame().await.map(|frame| (frame, relay))
    });
    Reply::Stream {
        invocation: id,
        events: Box::pin(events),
        headers,
    }
}
