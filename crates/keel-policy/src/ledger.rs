//! Budgets and rate limits, exact under concurrency on one node. Before a
//! call, [`Ledger::reserve`] checks every limit that applies and, only if
//! all pass, reserves the call's worst case against each, in one critical
//! section: two calls can never both take the last of a budget. The
//! [`Reservation`] is settled to the real cost when the call's record is
//! built, or released if the call dies first.
//!
//! Spend is kept per scope (`key:ID`, `user:ID`, `team:ID`, `model:NAME`)
//! and UTC day, so any period's spend is a sum of days and a period rolls
//! over by itself. It is seeded at start from the rollups the record writer
//! stores, so budgets survive a restart.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use keel_store::governance::{DailySpend, Limits, Period};

use crate::clock::Clock;
use crate::period::{day_of, start_day};
use crate::principal::Principal;
use crate::rate::Bucket;

/// Days of spend kept per scope; older days are folded into the total.
const DAYS_KEPT: i64 = 40;
/// A run with no call for this long is forgotten.
const RUN_IDLE_MS: i64 = 24 * 3_600_000;

/// A call's worst case (before) or real use (after).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Estimate {
    pub usd: f64,
    /// Input plus output tokens.
    pub tokens: u64,
}

/// Why a call is refused, with what the client needs to back off.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub message: String,
    /// Seconds until trying again can succeed (None: not before a reset
    /// the client cannot wait for, such as a total budget).
    pub retry_after_s: Option<u64>,
    /// `x-ratelimit-*` headers to send with the refusal.
    pub headers: Vec<(&'static str, String)>,
    /// Alert thresholds this refusal reaches: a budget that refuses a call
    /// is exhausted (100%) even though its spend stops short of the limit
    /// by the call's worst case.
    pub crossed: Vec<ThresholdCrossed>,
}

/// What kind of limit refused the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// A key, user, team or model budget.
    Budget,
    /// An agent run's budget.
    RunBudget,
    /// Requests per minute.
    Requests,
    /// Tokens per minute.
    Tokens,
    /// The shared counters could not be reached (and the configured policy
    /// is to refuse rather than guess).
    Unavailable,
}

/// A budget that crossed one of its alert thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdCrossed {
    pub scope: String,
    /// Percent of the limit, e.g. 80.
    pub threshold: u32,
    pub period: Period,
    pub period_start_ms: i64,
    pub spent_usd: f64,
    pub spent_tokens: u64,
    pub limit_usd: Option<f64>,
    pub limit_tokens: Option<u64>,
}

/// Money and tokens; money in nano-dollars so that reserving and
/// releasing the same amounts always returns to exactly zero.
#[derive(Debug, Clone, Copy, Default)]
struct Spent {
    nanos: i64,
    tokens: u64,
}

/// USD as nano-dollars.
fn nanos(usd: f64) -> i64 {
    (usd * 1e9).round() as i64
}

/// Nano-dollars as USD.
fn usd(nanos: i64) -> f64 {
    nanos as f64 / 1e9
}

impl Spent {
    fn add(&mut self, e: Estimate) {
        self.nanos += nanos(e.usd);
        self.tokens += e.tokens;
    }

    fn remove(&mut self, e: Estimate) {
        self.nanos = (self.nanos - nanos(e.usd)).max(0);
        self.tokens = self.tokens.saturating_sub(e.tokens);
    }
}

/// One scope's spend: recent days, everything, and what is reserved.
#[derive(Debug, Default)]
struct Meter {
    days: BTreeMap<i64, Spent>,
    total: Spent,
    reserved: Spent,
    /// The highest threshold announced, and for which period start.
    announced: Option<(i64, u32)>,
}

impl Meter {
    fn spent(&self, period: Period, now_ms: i64) -> Spent {
        if period == Period::Total {
            return self.total;
        }
        let from = start_day(period, now_ms);
        self.days
            .range(from..)
            .fold(Spent::default(), |mut acc, (_, s)| {
                acc.nanos += s.nanos;
                acc.tokens += s.tokens;
                acc
            })
    }

    fn add_spend(&mut self, day: i64, e: Estimate, today: i64) {
        self.total.add(e);
        if day > today - DAYS_KEPT {
            self.days.entry(day).or_default().add(e);
        }
        while let Some((&first, _)) = self.days.first_key_value() {
            if first > today - DAYS_KEPT {
                break;
            }
            self.days.remove(&first);
        }
    }
}

#[derive(Debug, Default)]
struct RunMeter {
    spent: i64,
    reserved: i64,
    last_ms: i64,
}

#[derive(Default)]
struct State {
    meters: HashMap<String, Meter>,
    runs: HashMap<(String, String), RunMeter>,
    /// `scope/rpm` or `scope/tpm` → bucket.
    buckets: HashMap<String, Bucket>,
    settles: u64,
}

/// All budgets and rate limits of this node.
pub struct Ledger {
    state: Mutex<State>,
    clock: Clock,
    /// Alert thresholds in percent, ascending.
    thresholds: Vec<u32>,
}

/// One limit a reservation holds against.
#[derive(Debug, Clone)]
struct Hold {
    scope: String,
    /// The budget checked, if any (for thresholds when settling).
    budget: Option<(Period, Option<f64>, Option<u64>)>,
    /// The run it also counts against, if any.
    run: Option<String>,
    /// Tokens were taken from this TPM bucket (capacity).
    tpm: Option<u64>,
}

/// A call's reserved worst case; settle it with the real use, or drop it
/// to release it.
pub struct Reservation {
    ledger: Arc<Ledger>,
    holds: Vec<Hold>,
    estimate: Estimate,
    settled: bool,
    /// `x-ratelimit-*` headers describing the tightest limit after this call.
    pub headers: Vec<(&'static str, String)>,
}

/// What a call is checked against.
pub struct Ask<'a> {
    pub principal: &'a Principal,
    /// The model asked for, with its own budget if one is set.
    pub model: Option<(&'a str, &'a Limits)>,
    /// The agent run (trace id) the call belongs to.
    pub run: Option<&'a str>,
    pub estimate: Estimate,
}

impl<'a> Ask<'a> {
    /// Every budget scope the call counts against, with its limits: the
    /// principal's (key, user, team) and the model's.
    pub fn scopes(&self) -> Vec<(std::borrow::Cow<'a, str>, &'a Limits)> {
        let principal: &'a Principal = self.principal;
        let mut scopes: Vec<_> = principal
            .limits
            .iter()
            .map(|(s, l)| (std::borrow::Cow::Borrowed(s.as_str()), l))
            .collect();
        if let Some((model, limits)) = self.model {
            scopes.push((std::borrow::Cow::Owned(format!("model:{model}")), limits));
        }
        scopes
    }
}

impl Ledger {
    /// An empty ledger announcing `thresholds` (percent).
    pub fn new(clock: Clock, mut thresholds: Vec<u32>) -> Arc<Ledger> {
        thresholds.sort_unstable();
        thresholds.dedup();
        Arc::new(Ledger {
            state: Mutex::new(State::default()),
            clock,
            thresholds,
        })
    }

    /// The ledger's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Adds stored spend (the writer's daily rollups) at start.
    pub fn seed(&self, rows: &[DailySpend]) {
        let today = day_of(self.clock.now_ms());
        let mut state = self.lock();
        for row in rows {
            let spent = Estimate {
                usd: row.cost_usd,
                tokens: row.tokens.max(0) as u64,
            };
            state
                .meters
                .entry(row.scope.clone())
                .or_default()
                .add_spend(row.day, spent, today);
        }
    }

    /// Checks every limit of `ask`; if all pass, reserves its estimate
    /// against each and returns the reservation.
    pub fn reserve(self: &Arc<Self>, ask: &Ask<'_>) -> Result<Reservation, Refusal> {
        let now = self.clock.now_ms();
        let est = ask.estimate;
        let scopes = ask.scopes();
        let scopes = scopes.iter().map(|(s, l)| (s.as_ref(), *l));

        let mut state = self.lock();
        let mut holds = Vec::new();
        let mut headers = RateHeaders::default();
        // Check everything first; apply only if every limit passes.
        for (scope, limits) in scopes {
            let mut hold = Hold {
                scope: scope.to_owned(),
                budget: None,
                run: None,
                tpm: None,
            };
            if let Some(rpm) = limits.rpm {
                let bucket = state
                    .buckets
                    .entry(format!("{scope}/rpm"))
                    .or_insert_with(|| Bucket::full(rpm, now));
                bucket.refill(rpm, now);
                if !bucket.fits(1) {
                    return Err(rate_refusal_at(
                        RefusalKind::Requests,
                        scope,
                        rpm,
                        1,
                        bucket.level(),
                    ));
                }
                headers.requests_left(rpm, bucket.level() - 1.0);
            }
            if let Some(tpm) = limits.tpm {
                let bucket = state
                    .buckets
                    .entry(format!("{scope}/tpm"))
                    .or_insert_with(|| Bucket::full(tpm, now));
                bucket.refill(tpm, now);
                if !bucket.fits(est.tokens) {
                    return Err(rate_refusal_at(
                        RefusalKind::Tokens,
                        scope,
                        tpm,
                        est.tokens,
                        bucket.level(),
                    ));
                }
                headers.tokens_left(tpm, bucket.level() - est.tokens as f64);
                hold.tpm = Some(tpm);
            }
            if limits.has_budget() {
                let period = limits.budget_period.unwrap_or_default();
                let meter = state.meters.entry(scope.to_owned()).or_default();
                let spent = meter.spent(period, now);
                let over_usd = limits.budget_usd.map(nanos).filter(|&cap| {
                    spent.nanos >= cap || spent.nanos + meter.reserved.nanos + nanos(est.usd) > cap
                });
                let over_tokens = limits.budget_tokens.filter(|&cap| {
                    spent.tokens >= cap || spent.tokens + meter.reserved.tokens + est.tokens > cap
                });
                if over_usd.is_some() || over_tokens.is_some() {
                    let mut refusal = budget_refusal_at(
                        scope,
                        limits,
                        now,
                        Spending {
                            spent_usd: usd(spent.nanos),
                            spent_tokens: spent.tokens,
                            reserved_usd: usd(meter.reserved.nanos),
                            worst_case_usd: est.usd,
                        },
                    );
                    let level = ThresholdCrossed {
                        scope: scope.to_owned(),
                        threshold: 0,
                        period,
                        period_start_ms: start_day(period, now) * 86_400_000,
                        spent_usd: usd(spent.nanos),
                        spent_tokens: spent.tokens,
                        limit_usd: limits.budget_usd,
                        limit_tokens: limits.budget_tokens,
                    };
                    refusal.crossed =
                        announce(&self.thresholds, &mut meter.announced, &level, 100.0);
                    return Err(refusal);
                }
                hold.budget = Some((period, limits.budget_usd, limits.budget_tokens));
            }
            if let (Some(cap), Some(run)) = (limits.run_budget_usd, ask.run) {
                let meter = state
                    .runs
                    .entry((scope.to_owned(), run.to_owned()))
                    .or_default();
                let cap_nanos = nanos(cap);
                if meter.spent >= cap_nanos
                    || meter.spent + meter.reserved + nanos(est.usd) > cap_nanos
                {
                    return Err(run_refusal(scope, run, usd(meter.spent), cap));
                }
                hold.run = Some(run.to_owned());
            }
            holds.push(hold);
        }
        for hold in &holds {
            let limits_rpm = format!("{}/rpm", hold.scope);
            if let Some(bucket) = state.buckets.get_mut(&limits_rpm) {
                bucket.take(1.0);
            }
            if hold.tpm.is_some() {
                if let Some(bucket) = state.buckets.get_mut(&format!("{}/tpm", hold.scope)) {
                    bucket.take(est.tokens as f64);
                }
            }
            if hold.budget.is_some() {
                state
                    .meters
                    .entry(hold.scope.clone())
                    .or_default()
                    .reserved
                    .add(est);
            }
            if let Some(run) = &hold.run {
                let meter = state
                    .runs
                    .entry((hold.scope.clone(), run.clone()))
                    .or_default();
                meter.reserved += nanos(est.usd);
                meter.last_ms = now;
            }
        }
        drop(state);
        Ok(Reservation {
            ledger: self.clone(),
            holds,
            estimate: est,
            settled: false,
            headers: headers.into_headers(),
        })
    }

    fn settle(
        &self,
        holds: &[Hold],
        reserved: Estimate,
        used: Option<(Estimate, i64)>,
    ) -> Vec<ThresholdCrossed> {
        let now = self.clock.now_ms();
        let today = day_of(now);
        let mut crossed = Vec::new();
        let mut state = self.lock();
        for hold in holds {
            if let Some(capacity) = hold.tpm {
                if let Some(bucket) = state.buckets.get_mut(&format!("{}/tpm", hold.scope)) {
                    let used_tokens = used.map_or(0, |(u, _)| u.tokens) as f64;
                    let unused = reserved.tokens as f64 - used_tokens;
                    if unused >= 0.0 {
                        bucket.give_back(unused, capacity);
                    } else {
                        bucket.take(-unused);
                    }
                }
            }
            if let Some(run) = &hold.run {
                if let Some(meter) = state.runs.get_mut(&(hold.scope.clone(), run.clone())) {
                    meter.reserved = (meter.reserved - nanos(reserved.usd)).max(0);
                    meter.spent += used.map_or(0, |(u, _)| nanos(u.usd));
                    meter.last_ms = now;
                }
            }
            let Some((period, limit_usd, limit_tokens)) = hold.budget else {
                continue;
            };
            let meter = state.meters.entry(hold.scope.clone()).or_default();
            meter.reserved.remove(reserved);
            if let Some((used, at_ms)) = used {
                meter.add_spend(day_of(at_ms), used, today);
            }
            let spent = meter.spent(period, now);
            let level = ThresholdCrossed {
                scope: hold.scope.clone(),
                threshold: 0,
                period,
                period_start_ms: start_day(period, now) * 86_400_000,
                spent_usd: usd(spent.nanos),
                spent_tokens: spent.tokens,
                limit_usd,
                limit_tokens,
            };
            let percent = percent_of(level.spent_usd, level.spent_tokens, limit_usd, limit_tokens);
            crossed.extend(announce(
                &self.thresholds,
                &mut meter.announced,
                &level,
                percent,
            ));
        }
        state.settles += 1;
        if state.settles.is_multiple_of(4096) {
            state
                .runs
                .retain(|_, run| now - run.last_ms < RUN_IDLE_MS || run.reserved > 0);
        }
        crossed
    }

    /// Where one budget stands: spent in its current period and reserved.
    pub fn standing(&self, scope: &str, period: Period) -> (f64, u64, f64, u64) {
        let now = self.clock.now_ms();
        let state = self.lock();
        match state.meters.get(scope) {
            Some(m) => {
                let spent = m.spent(period, now);
                (
                    usd(spent.nanos),
                    spent.tokens,
                    usd(m.reserved.nanos),
                    m.reserved.tokens,
                )
            }
            None => (0.0, 0, 0.0, 0),
        }
    }
}

impl Reservation {
    /// Replaces the worst case with what the call really used (recorded at
    /// `at_ms`); returns the budget thresholds this crossed.
    pub fn settle(mut self, used: Estimate, at_ms: i64) -> Vec<ThresholdCrossed> {
        self.settled = true;
        self.ledger
            .settle(&self.holds, self.estimate, Some((used, at_ms)))
    }

    /// The worst case reserved.
    pub fn estimate(&self) -> Estimate {
        self.estimate
    }
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("estimate", &self.estimate)
            .field("holds", &self.holds.len())
            .finish()
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.settled {
            self.ledger.settle(&self.holds, self.estimate, None);
        }
    }
}

mod refusal;
pub use refusal::format_usd;
pub(crate) use refusal::{
    announce, budget_refusal_at, percent_of, rate_refusal_at, run_refusal, RateHeaders, Spending,
};

#[cfg(test)]
mod tests;
