//! The invocation under construction ([`Call`]) and how it becomes a record.
//! The request path only collects raw facts (bytes, instants); parsing the
//! answer, counting tokens and pricing happen in [`Call::into_record`], which
//! the record writer runs off the request path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use keel_api::assemble::{assemble_chat_stream, summarize_response, ResponseSummary};
use keel_api::{ApiError, TokenSource, Usage};
use keel_providers::{Operation, Route, WireFormat};
use keel_store::{Invocation, Outcome, RecordBuilder};
use serde_json::Value;
use uuid::Uuid;

use crate::pipeline::trace::TraceContext;
use crate::pricing::PriceCatalog;
use crate::tokens;

/// The wire format the client speaks; answers and errors go back in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ingress {
    /// OpenAI chat completions / embeddings.
    #[default]
    OpenAi,
    /// Anthropic Messages (`POST /v1/messages`), translated to and from the
    /// OpenAI shape at the edges unless the provider speaks it too.
    Anthropic,
}

impl Ingress {
    /// The wire format of this front door; a provider of the same format
    /// gets the client's bytes.
    pub fn format(self) -> WireFormat {
        match self {
            Ingress::OpenAi => WireFormat::OpenAi,
            Ingress::Anthropic => WireFormat::Anthropic,
        }
    }
}

/// One call in flight: who asked what, and where it went.
pub struct Call {
    pub id: Uuid,
    /// The client's wire format.
    pub ingress: Ingress,
    pub started: Instant,
    pub created_at_ms: i64,
    pub operation: Operation,
    pub trace: TraceContext,
    pub key_id: Option<&'static str>,
    pub requested_model: Option<String>,
    pub route: Option<Route>,
    pub stream: bool,
    pub request_body: Option<Bytes>,
    /// The request body parsed as JSON (so the record need not check again).
    pub request_is_json: bool,
    pub attempts: i32,
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

/// How the call ended.
pub struct Ending {
    pub status: u16,
    pub outcome: Outcome,
    pub error: Option<(&'static str, String)>,
    pub answer: Answer,
    pub ttft: Option<Duration>,
    pub latency: Duration,
    /// The provider produced an answer it bills for (a 2xx body, or at least
    /// one stream event), even if the call failed later.
    pub billable: bool,
}

impl Ending {
    /// The client left before its answer was handed over: the call counts as
    /// a disconnect (499), whatever else happened.
    pub fn client_gone(&mut self) {
        self.status = 499;
        self.outcome = Outcome::ClientDisconnected;
        if self.error.is_none() {
            self.error = Some((
                "client_disconnected",
                "the client closed the connection before the answer".to_owned(),
            ));
        }
    }

    /// An ending for an error Keel itself answered with.
    pub fn from_error(err: &ApiError, started: Instant) -> Ending {
        let outcome = if err.kind.is_client_error() {
            Outcome::ClientError
        } else if err.kind == keel_api::ErrorKind::Internal {
            Outcome::InternalError
        } else {
            Outcome::UpstreamError
        };
        Ending {
            status: err.status(),
            outcome,
            error: Some((err.kind.class(), err.message.clone())),
            answer: Answer::Error {
                body: Bytes::from(err.to_json()),
            },
            ttft: None,
            latency: started.elapsed(),
            billable: false,
        }
    }
}

/// What record building needs besides the call.
#[derive(Clone)]
pub struct RecordContext {
    pub prices: Arc<PriceCatalog>,
    pub record_bodies: bool,
}

impl Call {
    /// Starts a call now.
    pub fn start(operation: Operation, trace: TraceContext, id: Uuid) -> Call {
        Call {
            id,
            ingress: Ingress::OpenAi,
            started: Instant::now(),
            created_at_ms: keel_store::timefmt::now_ms(),
            operation,
            trace,
            key_id: None,
            requested_model: None,
            route: None,
            stream: false,
            request_body: None,
            request_is_json: false,
            attempts: 0,
            client: ClientWatch::default(),
        }
    }

    /// Packs the call and its ending into a builder for the record writer.
    pub fn into_record(self, ending: Ending, ctx: RecordContext) -> RecordBuilder {
        Box::new(move || build(self, ending, &ctx))
    }
}

fn build(call: Call, ending: Ending, ctx: &RecordContext) -> Invocation {
    let endpoint = match (call.ingress, call.operation) {
        (Ingress::Anthropic, Operation::ChatCompletions) => "messages",
        (_, operation) => operation.endpoint(),
    };
    let mut r = Invocation::new(call.id, call.created_at_ms, endpoint);
    r.trace_id = Some(call.trace.trace_id);
    r.span_id = Some(call.trace.span_id);
    r.parent_span_id = call.trace.parent_span_id;
    r.key_id = call.key_id.map(str::to_owned);
    r.requested_model = call.requested_model;
    r.provider = call
        .route
        .as_ref()
        .map(|route| route.provider.name().to_owned());
    r.resolved_model = call
        .route
        .as_ref()
        .map(|route| route.upstream_model.to_string());
    r.stream = call.stream;
    r.status = ending.status;
    r.outcome = ending.outcome;
    r.attempts = call.attempts;
    r.latency_ms = ending.latency.as_secs_f64() * 1000.0;
    r.ttft_ms = ending.ttft.map(|t| t.as_secs_f64() * 1000.0);
    if let Some((class, message)) = ending.error {
        r.error_class = Some(class.to_owned());
        r.error_message = Some(message);
    }
    let (response_text, summary) = match ending.answer {
        Answer::Body { body, summary } => {
            let summary = summary.or_else(|| summarize_response(&body));
            (json_text(&body), summary)
        }
        Answer::Stream {
            payloads,
            provider_usage,
        } => {
            let (assembled, mut summary) = assemble_chat_stream(payloads.iter());
            if provider_usage.is_some() {
                summary.raw_usage = provider_usage;
            }
            (Some(assembled.to_string()), Some(summary))
        }
        Answer::Error { body } => (json_text(&body), None),
    };
    let summary = summary.unwrap_or_default();
    r.model_version = summary.model_version.clone();
    r.finish_reason = summary.finish_reason.clone();
    r.raw_usage = summary.raw_usage.as_ref().map(Value::to_string);

    // The provider bills what it produced, even if the client left or the
    // stream broke later; an answer that never came bills nothing.
    let billable = call.route.is_some() && ending.billable;
    let mut usage = summary
        .usage
        .or_else(|| {
            billable
                .then(|| {
                    estimate(
                        &call.operation,
                        r.resolved_model.as_deref(),
                        call.request_body.as_deref(),
                        response_text.as_deref(),
                    )
                })
                .flatten()
        })
        .unwrap_or_default();
    // OpenAI's shape has no cache writes; the provider's own usage does.
    if let Some(raw) = &summary.raw_usage {
        usage.cache_write_tokens = keel_api::usage::cache_write_tokens(raw);
    }
    r.input_tokens = usage.input_tokens as i64;
    r.output_tokens = usage.output_tokens as i64;
    r.cached_tokens = usage.cached_tokens as i64;
    r.reasoning_tokens = usage.reasoning_tokens as i64;
    r.token_source = usage.source.as_str().to_owned();
    if usage.source != TokenSource::None {
        let names = [
            r.requested_model.as_deref(),
            r.resolved_model.as_deref(),
            r.model_version.as_deref(),
        ];
        r.cost_usd = ctx
            .prices
            .find(names.into_iter().flatten())
            .map(|p| p.cost(&usage));
    }
    if ctx.record_bodies {
        r.request_body = match call.request_body.as_deref() {
            Some(body) if call.request_is_json => json_text(body),
            Some(body) => body_text(body),
            None => None,
        };
        r.response_body = response_text;
    }
    r
}

/// Keel's own count when the provider reported none.
fn estimate(
    operation: &Operation,
    model: Option<&str>,
    request: Option<&[u8]>,
    response: Option<&str>,
) -> Option<Usage> {
    let model = model.unwrap_or("");
    let request: Value = serde_json::from_slice(request?).ok()?;
    let request = &request;
    let response: Option<Value> = response.and_then(|t| serde_json::from_str(t).ok());
    let (input, output) = match operation {
        Operation::ChatCompletions => (
            tokens::count_chat_prompt(model, request),
            response
                .as_ref()
                .map(|r| tokens::count_chat_completion(model, r))
                .unwrap_or(0),
        ),
        Operation::Embeddings => (tokens::count_embeddings_input(model, request), 0),
        // Counting tokens generates nothing and is not billed.
        Operation::CountTokens => return None,
    };
    Some(Usage {
        input_tokens: input,
        output_tokens: output,
        cached_tokens: 0,
        cache_write_tokens: 0,
        reasoning_tokens: 0,
        source: TokenSource::Estimated,
    })
}

/// A body already known to be JSON, as record text.
fn json_text(body: &[u8]) -> Option<String> {
    (!body.is_empty())
        .then(|| std::str::from_utf8(body).ok().map(str::to_owned))
        .flatten()
}

/// A body of unknown form as record text: JSON kept as is, anything else
/// as a JSON string.
fn body_text(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
        return json_text(body);
    }
    Some(Value::from(String::from_utf8_lossy(body).into_owned()).to_string())
}
