//! The policy stage: may this caller make this call now? The key's model
//! allow-list, then every rate limit and budget that applies (key, user,
//! team, model, agent run), decided from memory: the call's worst case is
//! reserved in the ledger and settled to its real cost when its record is
//! built.
//!
//! The worst case is deliberately pessimistic so that a budget holds
//! exactly: input tokens are bounded by the request body's length in bytes
//! (a token is at least one byte, whatever the provider's tokenizer), and
//! output by `max_tokens` (or `governance.default_output_tokens` when the
//! request sets none) for each choice, priced at the dearest of the model's
//! candidates.

use keel_api::{ApiError, ErrorKind};
use keel_policy::ledger::{Ask, RefusalKind};
use keel_policy::{Estimate, Held, Refusal};
use keel_providers::Operation;

use super::ending::{headers_of, Failure};
use super::request::{Parsed, Request};
use crate::invocation::Call;
use crate::state::AppState;

/// Refuses a call its key may not make; runs after parse, before anything
/// is sent anywhere.
pub async fn check_policy(
    state: &AppState,
    call: &mut Call,
    request: &Request<'_>,
) -> Result<(), Failure> {
    #[cfg(test)]
    super::tests::maybe_panic(request);
    let Some(principal) = call.principal.clone() else {
        return Ok(());
    };
    let model = request.model();
    if !principal.models.allows(model) {
        return Err(ApiError {
            param: Some("model".into()),
            ..ApiError::new(
                ErrorKind::Forbidden,
                format!("This key may not use the model '{model}'."),
            )
            .with_code("model_not_allowed")
        }
        .into());
    }
    let directory = state.governance.directory.snapshot();
    let model_limits = directory.model_limits(model);
    let run_limited = principal
        .limits
        .iter()
        .any(|(_, l)| l.run_budget_usd.is_some());
    if principal.limits.is_empty() && model_limits.is_none() {
        return Ok(());
    }
    let ask = Ask {
        principal: &principal,
        model: model_limits.map(|l| (model, l)),
        run: run_limited.then_some(call.trace.trace_id.as_str()),
        estimate: worst_case(state, call.operation, request),
    };
    let held = match &state.governance.redis {
        Some(redis) => redis.reserve(&ask).await,
        None => state.governance.ledger.reserve(&ask).map(Held::Local),
    };
    match held {
        Ok(held) => {
            call.rate_headers = held.headers().to_vec();
            call.reservation = Some(held);
            Ok(())
        }
        Err(mut refusal) => {
            state
                .governance
                .announce(std::mem::take(&mut refusal.crossed));
            Err(refused(refusal))
        }
    }
}

/// The most this call can cost: see the module's doc.
fn worst_case(state: &AppState, operation: Operation, request: &Request<'_>) -> Estimate {
    if operation == Operation::CountTokens {
        return Estimate::default();
    }
    let input = request.body.len() as u64;
    let default_output = state.governance.config.default_output_tokens;
    let output = match &request.parsed {
        Parsed::Chat(chat) => {
            chat.facts.max_output_tokens.unwrap_or(default_output) * u64::from(chat.facts.n)
        }
        Parsed::Messages(head) => head.max_tokens.unwrap_or(default_output),
        Parsed::CountTokens(_) | Parsed::Embeddings(_) => 0,
    };
    let model = request.model();
    let candidates = state.models().registry.plan(model);
    let names = std::iter::once(model).chain(
        candidates
            .iter()
            .flat_map(|plan| plan.candidates().iter().map(|c| &*c.upstream_model)),
    );
    let dearest = names
        .filter_map(|name| state.prices.find([name]))
        .map(|p| {
            let input_price = p.input.max(p.cache_write.unwrap_or(p.input));
            (input_price, p.output)
        })
        .fold((0.0f64, 0.0f64), |(i, o), (pi, po)| (i.max(pi), o.max(po)));
    Estimate {
        usd: (dearest.0 * input as f64 + dearest.1 * output as f64) / 1_000_000.0,
        tokens: input + output,
    }
}

/// A refusal as the client's error: 429 with `retry-after` and the
/// rate-limit headers.
fn refused(refusal: Refusal) -> Failure {
    let (kind, code) = match refusal.kind {
        RefusalKind::Budget | RefusalKind::RunBudget => {
            (ErrorKind::BudgetExceeded, "budget_exceeded")
        }
        RefusalKind::Requests | RefusalKind::Tokens => {
            (ErrorKind::RateLimited, "rate_limit_exceeded")
        }
        RefusalKind::Unavailable => (ErrorKind::Unavailable, "counters_unavailable"),
    };
    let mut headers = headers_of(&refusal.headers);
    if let Some(secs) = refusal.retry_after_s {
        headers.push((http::header::RETRY_AFTER, secs.into()));
    }
    Failure {
        error: ApiError::new(kind, refusal.message).with_code(code),
        headers,
        billable: false,
    }
}
