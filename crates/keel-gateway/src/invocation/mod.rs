//! The invocation under construction ([`Call`]) and how it becomes a record.
//! The request path only collects raw facts (bytes, instants); parsing the
//! answer, counting tokens and pricing happen in [`build`], which the record
//! writer runs off the request path. [`CallGuard`] makes sure every call
//! leaves exactly one record, whatever ends it.

mod build;
mod guard;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use keel_api::assemble::ResponseSummary;
use keel_api::ApiError;
use keel_providers::{Codec, Operation, Route};
use keel_store::{Attempt, RecordBuilder};
use serde_json::Value;
use uuid::Uuid;

use crate::governance::Governance;
use crate::ingress::Ingress;
use crate::outcome::ErrorClass;
use crate::pricing::PriceCatalog;
use crate::trace::TraceContext;
use keel_policy::{Held, Principal};

pub use guard::CallGuard;

/// One call in flight: who asked what, and where it went.
pub struct Call {
    pub id: Uuid,
    /// The client's wire format.
    pub ingress: Ingress,
    pub started: Instant,
    pub created_at_ms: i64,
    pub operation: Operation,
    pub trace: TraceContext,
    /// Who is calling (set by the identify stage).
    pub principal: Option<Arc<Principal>>,
    /// The budgets and rate limits this call holds, settled when its
    /// record is built.
    pub reservation: Option<Held>,
    /// `x-ratelimit-*` headers for the answer.
    pub rate_headers: Vec<(&'static str, String)>,
    pub requested_model: Option<String>,
    /// The candidate that answered (or the last one tried).
    pub route: Option<Route>,
    pub stream: bool,
    /// The client asked for the usage chunk of its stream itself.
    pub include_usage: bool,
    /// Choices asked for (`n`); a stream is whole once each has finished.
    pub choices: u32,
    pub request_body: Option<Bytes>,
    /// The request body parsed as JSON (so the record need not check again).
    pub request_is_json: bool,
    /// Every try at a provider, in order.
    pub attempt_list: Vec<Attempt>,
    /// Tells whether the client gave up before its answer was handed over.
    pub client: ClientWatch,
}

/// Watches whether the client is still waiting. The handler holds the
/// sending half while it waits; a client that disconnects drops the handler
/// and with it the sender, which the pipeline (running in its own task) sees.
#[derive(Debug, Default)]
pub struct ClientWatch(Option<tokio::sync::oneshot::Receiver<()>>);

impl ClientWatch {
    /// The handler's half (keep it alive while waiting) and the watch.
    pub fn pair() -> (tokio::sync::oneshot::Sender<()>, ClientWatch) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (tx, ClientWatch(Some(rx)))
    }

    /// True once the client has gone.
    pub fn gone(&mut self) -> bool {
        match &mut self.0 {
            Some(rx) => matches!(
                rx.try_recv(),
                Err(tokio::sync::oneshot::error::TryRecvError::Closed)
            ),
            None => false,
        }
    }

    /// Stops watching: from here on the response body reports disconnects.
    pub fn detach(&mut self) {
        self.0 = None;
    }
}

/// What came back, as raw as the request path saw it.
pub enum Answer {
    /// A whole body (success or an upstream error body).
    Body {
        body: Bytes,
        summary: Option<ResponseSummary>,
    },
    /// The `data` payloads of a stream's events, `[DONE]` excluded.
    Stream {
        payloads: Captured,
        /// The provider's own usage object when its stream was translated.
        provider_usage: Option<Value>,
    },
    /// Nothing usable came back; the error sent to the client is kept.
    Error { body: Bytes },
}

/// Stream payloads copied into one buffer. Keeping slices of the network
/// reads instead would pin every read buffer (kilobytes each) for the
/// whole stream.
#[derive(Debug, Default)]
pub struct Captured {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Captured {
    /// Appends one payload.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
        self.ends.push(self.buf.len());
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// The payloads in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter().copied())
            .map(|(a, b)| &self.buf[a..b])
    }
}

/// How the call ended. Its outcome is derived from the error class when
/// the record is built ([`crate::outcome::outcome`]).
pub struct Ending {
    pub status: u16,
    pub error: Option<(ErrorClass, String)>,
    pub answer: Answer,
    pub ttft: Option<Duration>,
    pub latency: Duration,
    /// The provider produced an answer it bills for (a 2xx body, or at least
    /// one stream event), even if the call failed later.
    pub billable: bool,
    /// The client left before its answer was handed over.
    pub client_gone: bool,
}

impl Ending {
    /// A successful ending with this answer.
    pub fn ok(status: u16, answer: Answer, started: Instant, billable: bool) -> Ending {
        Ending {
            status,
            error: None,
            answer,
            ttft: None,
            latency: started.elapsed(),
            billable,
            client_gone: false,
        }
    }

    /// The client left before its answer was handed over: the call counts as
    /// a disconnect (499), whatever else happened.
    pub fn client_gone(&mut self) {
        self.status = 499;
        self.client_gone = true;
        if self.error.is_none() {
            self.error = Some((
                ErrorClass::ClientDisconnected,
                "the client closed the connection before the answer".to_owned(),
            ));
        }
    }

    /// An ending for an error Keel itself answered with; `body` is what
    /// the client got.
    pub fn from_error(err: &ApiError, status: u16, body: Bytes, started: Instant) -> Ending {
        Ending {
            status,
            error: Some((err.kind.into(), err.message.clone())),
            answer: Answer::Error { body },
            ttft: None,
            latency: started.elapsed(),
            billable: false,
            client_gone: false,
        }
    }
}

/// What record building needs besides the call.
#[derive(Clone)]
pub struct RecordContext {
    pub prices: Arc<PriceCatalog>,
    pub record_bodies: bool,
    /// Where budget alerts a settled call crosses go.
    pub governance: Arc<Governance>,
}

impl Call {
    /// Starts a call now.
    pub fn start(operation: Operation, ingress: Ingress, trace: TraceContext, id: Uuid) -> Call {
        Call {
            id,
            ingress,
            started: Instant::now(),
            created_at_ms: keel_store::timefmt::now_ms(),
            operation,
            trace,
            principal: None,
            reservation: None,
            rate_headers: Vec::new(),
            requested_model: None,
            route: None,
            stream: false,
            include_usage: false,
            choices: 1,
            request_body: None,
            request_is_json: false,
            attempt_list: Vec::new(),
            client: ClientWatch::default(),
        }
    }

    /// Notes one try at a provider: its status (none when no answer came)
    /// and why it failed.
    pub fn note_attempt(
        &mut self,
        candidate: &Route,
        status: Option<u16>,
        error: Option<ErrorClass>,
        started: Instant,
    ) {
        self.route = Some(candidate.clone());
        self.attempt_list.push(Attempt {
            provider: candidate.provider.name().to_owned(),
            model: candidate.upstream_model.to_string(),
            status,
            error_class: error.map(|class| class.as_str().to_owned()),
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        });
    }

    /// The format behaviour of the provider the call went to.
    pub fn codec(&self) -> Option<&'static dyn Codec> {
        self.route.as_ref().map(|r| r.provider.codec())
    }

    /// The name of the provider the call went to, for messages.
    pub fn provider_name(&self) -> &str {
        self.route.as_ref().map_or("", |r| r.provider.name())
    }

    /// Packs the call and its ending into a builder for the record writer.
    pub fn into_record(self, ending: Ending, ctx: RecordContext) -> RecordBuilder {
        Box::new(move || build::build(self, ending, &ctx))
    }
}
