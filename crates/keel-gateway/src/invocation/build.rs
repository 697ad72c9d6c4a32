//! Turning a finished call into its record, off the request path: the
//! answer parsed, tokens counted (or estimated), the cost priced.

use keel_api::assemble::{assemble_chat_stream, summarize_response};
use keel_api::{TokenSource, Usage};
use keel_providers::Operation;
use keel_store::Invocation;
use serde_json::Value;

use super::{Answer, Call, Ending, RecordContext};
use crate::ingress::Ingress;
use crate::outcome::outcome;
use crate::tokens;

pub(super) fn build(call: Call, ending: Ending, ctx: &RecordContext) -> Invocation {
    let endpoint = match (call.ingress, call.operation) {
        (Ingress::Anthropic, Operation::ChatCompletions) => "messages",
        (_, operation) => operation.endpoint(),
    };
    let mut r = Invocation::new(call.id, call.created_at_ms, endpoint);
    r.trace_id = Some(call.trace.trace_id);
    r.span_id = Some(call.trace.span_id);
    r.parent_span_id = call.trace.parent_span_id;
    if let Some(p) = &call.principal {
        r.key_id = Some(p.key_id.clone());
        r.key_name = p.key_name.clone();
        r.user_id = p.user_id.clone();
        r.team_id = p.team_id.clone();
        r.agent = p.agent.clone();
        r.tags = p.tags.clone();
    }
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
    r.outcome = outcome(
        ending.status,
        ending.error.as_ref().map(|(class, _)| *class),
        ending.client_gone,
    );
    r.attempts = call.attempt_list.len() as i32;
    r.attempt_list = call.attempt_list;
    r.latency_ms = ending.latency.as_secs_f64() * 1000.0;
    r.ttft_ms = ending.ttft.map(|t| t.as_secs_f64() * 1000.0);
    if let Some((class, message)) = ending.error {
        r.error_class = Some(class.as_str().to_owned());
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
    if let Some(reservation) = call.reservation {
        let used = keel_policy::Estimate {
            usd: r.cost_usd.unwrap_or(0.0),
            tokens: (r.input_tokens + r.output_tokens).max(0) as u64,
        };
        ctx.governance
            .announce(reservation.settle(used, r.created_at_ms));
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
