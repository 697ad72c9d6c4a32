//! How the ledger speaks: the refusals a client gets (what limit, how
//! much is spent, when it resets, when to retry), the `x-ratelimit-*`
//! headers, and which alert thresholds a budget's spend has reached.
//! Shared by the local ledger and the Redis one, so both answer alike.

use keel_store::governance::Limits;

use super::{Refusal, RefusalKind, ThresholdCrossed};
use crate::period::resets_at_ms;
use crate::rate::{openai_duration, Bucket};

/// The thresholds `percent` reaches that were not yet announced in this
/// period (`announced` keeps the highest, per period start); `level` is
/// where the budget stands, its `threshold` ignored.
pub(crate) fn announce(
    thresholds: &[u32],
    announced: &mut Option<(i64, u32)>,
    level: &ThresholdCrossed,
    percent: f64,
) -> Vec<ThresholdCrossed> {
    let done = match *announced {
        Some((start, done)) if start == level.period_start_ms => done,
        _ => 0,
    };
    let mut crossed = Vec::new();
    for &threshold in thresholds {
        if threshold > done && percent + 1e-9 >= f64::from(threshold) {
            *announced = Some((level.period_start_ms, threshold));
            crossed.push(ThresholdCrossed {
                threshold,
                ..level.clone()
            });
        }
    }
    crossed
}

/// A budget's spend when it refuses a call.
pub(crate) struct Spending {
    pub spent_usd: f64,
    pub spent_tokens: u64,
    /// Held by calls in flight.
    pub reserved_usd: f64,
    /// The refused call's own worst case.
    pub worst_case_usd: f64,
}

/// USD for people: cents when that says enough, else up to six decimals.
pub fn format_usd(usd: f64) -> String {
    if usd == 0.0 || usd.abs() >= 1.0 {
        return format!("${usd:.2}");
    }
    let text = format!("{usd:.6}");
    let text = text.trim_end_matches('0');
    let decimals = text.split('.').nth(1).map_or(0, str::len).max(2);
    format!("${usd:.decimals$}")
}

/// How much of a budget is spent, in percent (the larger of money and
/// tokens).
pub(crate) fn percent_of(
    spent_usd: f64,
    spent_tokens: u64,
    limit_usd: Option<f64>,
    limit_tokens: Option<u64>,
) -> f64 {
    let ratio = |spent: f64, cap: Option<f64>| match cap {
        Some(cap) if cap > 0.0 => spent / cap,
        Some(_) => f64::INFINITY,
        None => 0.0,
    };
    let usd = ratio(spent_usd, limit_usd);
    let tokens = ratio(spent_tokens as f64, limit_tokens.map(|t| t as f64));
    (usd.max(tokens) * 100.0).min(1e9)
}

/// A rate limit's refusal, for a bucket at `level`.
pub(crate) fn rate_refusal_at(
    kind: RefusalKind,
    scope: &str,
    limit: u64,
    need: u64,
    level: f64,
) -> Refusal {
    let (what, unit) = match kind {
        RefusalKind::Tokens => ("tokens", "TPM"),
        _ => ("requests", "RPM"),
    };
    let message = if need > limit {
        format!(
            "This request needs {need} tokens, more than the {unit} limit of {limit} on {scope}."
        )
    } else {
        format!(
            "Rate limit reached for {scope}: {limit} {what} per minute ({unit}). Try again later."
        )
    };
    let wait = Bucket::at(level).wait_ms(need.min(limit), limit);
    let mut headers = RateHeaders::default();
    match kind {
        RefusalKind::Tokens => headers.tokens_left(limit, level),
        _ => headers.requests_left(limit, level),
    }
    Refusal {
        kind,
        message,
        retry_after_s: Some(((wait + 999) / 1000).max(1) as u64),
        headers: headers.into_headers(),
        crossed: Vec::new(),
    }
}

/// An agent run's refusal.
pub(crate) fn run_refusal(scope: &str, run: &str, spent_usd: f64, cap: f64) -> Refusal {
    Refusal {
        kind: RefusalKind::RunBudget,
        message: format!(
            "The run budget of {scope} is exhausted for run {run}: ${spent_usd:.6} spent of ${cap:.6}. A new run (a new trace id) starts fresh."
        ),
        retry_after_s: None,
        headers: Vec::new(),
        crossed: Vec::new(),
    }
}

/// A budget's refusal, naming it and when it resets. A budget with room
/// left that this call's worst case would overrun says so, rather than
/// that the budget is used up.
pub(crate) fn budget_refusal_at(scope: &str, limits: &Limits, now: i64, s: Spending) -> Refusal {
    let period = limits.budget_period.unwrap_or_default();
    let resets = resets_at_ms(period, now);
    let cap = match (limits.budget_usd, limits.budget_tokens) {
        (Some(usd), Some(tokens)) => format!("{} or {tokens} tokens", format_usd(usd)),
        (Some(usd), None) => format_usd(usd),
        (None, Some(tokens)) => format!("{tokens} tokens"),
        (None, None) => String::new(),
    };
    let when = match resets {
        Some(at) => format!("It resets at {}.", keel_store::timefmt::format_ms(at)),
        None => "It is a total budget and does not reset.".to_owned(),
    };
    let used_up = limits
        .budget_usd
        .is_some_and(|cap| s.spent_usd + s.reserved_usd >= cap - 1e-9)
        || limits
            .budget_tokens
            .is_some_and(|cap| s.spent_tokens >= cap);
    let state = if used_up {
        format!(
            "is used up ({} and {} tokens spent, with calls in flight reserved)",
            format_usd(s.spent_usd),
            s.spent_tokens
        )
    } else {
        format!(
            "has too little left for this call, which could cost up to {} ({} spent, {} held by calls in flight; set max_tokens lower to need less)",
            format_usd(s.worst_case_usd),
            format_usd(s.spent_usd),
            format_usd(s.reserved_usd)
        )
    };
    Refusal {
        kind: RefusalKind::Budget,
        message: format!(
            "Budget exceeded for {scope}: the {} budget of {cap} {state}. {when}",
            period.as_str(),
        ),
        retry_after_s: resets.map(|at| ((at - now + 999) / 1000).max(1) as u64),
        headers: Vec::new(),
        crossed: Vec::new(),
    }
}

/// The tightest requests and tokens limits seen while checking a call.
#[derive(Default)]
pub(crate) struct RateHeaders {
    requests: Option<(u64, f64)>,
    tokens: Option<(u64, f64)>,
}

impl RateHeaders {
    /// A requests limit with `left` in its bucket after this call.
    pub(crate) fn requests_left(&mut self, limit: u64, left: f64) {
        Self::keep_tightest(&mut self.requests, limit, left);
    }

    /// A tokens limit with `left` in its bucket after this call.
    pub(crate) fn tokens_left(&mut self, limit: u64, left: f64) {
        Self::keep_tightest(&mut self.tokens, limit, left);
    }

    fn keep_tightest(slot: &mut Option<(u64, f64)>, limit: u64, left: f64) {
        if slot.is_none_or(|(_, l)| left < l) {
            *slot = Some((limit, left));
        }
    }

    pub(crate) fn into_headers(self) -> Vec<(&'static str, String)> {
        const REQUESTS: [&str; 3] = [
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
        ];
        const TOKENS: [&str; 3] = [
            "x-ratelimit-limit-tokens",
            "x-ratelimit-remaining-tokens",
            "x-ratelimit-reset-tokens",
        ];
        let mut out = Vec::new();
        for (slot, names) in [(self.requests, REQUESTS), (self.tokens, TOKENS)] {
            if let Some((limit, left)) = slot {
                let bucket = Bucket::at(left);
                out.push((names[0], limit.to_string()));
                out.push((names[1], bucket.remaining().to_string()));
                out.push((names[2], openai_duration(bucket.reset_ms(limit))));
            }
        }
        out
    }
}
