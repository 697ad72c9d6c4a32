//! Budgets and rate limits shared by several Keel nodes, in Redis: the same
//! rules as [`crate::ledger`], with every check-and-reserve one Lua script
//! (one round trip on the request path, atomic across nodes) and the
//! settle another, run off the request path when the call's record is
//! built.
//!
//! When Redis cannot be reached within [`REDIS_TIMEOUT`], the configured
//! policy decides: `fail_closed` refuses the call (503), `fail_open` falls
//! back to this node's own ledger (seeded from stored spend), and the
//! spend settled meanwhile is pushed to Redis once it answers again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_store::governance::{DailySpend, Limits, Period};
use redis::aio::ConnectionManager;
use redis::Script;
use serde_json::{json, Value};

use crate::ledger::{
    self, Ask, Estimate, Ledger, Refusal, RefusalKind, Reservation, ThresholdCrossed,
};
use crate::period::{day_of, start_day};

/// How long a counter round trip may take before Redis counts as down.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// What to do when Redis does not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenDown {
    /// Refuse calls that have limits (503 `counters_unavailable`).
    FailClosed,
    /// Enforce limits from this node's own counters meanwhile.
    FailOpen,
}

/// Counters in Redis, with this node's ledger as the fallback.
pub struct RedisLedger {
    conn: ConnectionManager,
    prefix: String,
    script: Script,
    when_down: WhenDown,
    local: Arc<Ledger>,
    /// Settles that could not reach Redis, pushed when it is back.
    pending: Mutex<Vec<Value>>,
    /// Highest threshold announced per scope and period (per node; the
    /// store's claim makes each alert go out once across nodes).
    announced: Mutex<HashMap<String, (i64, u32)>>,
    thresholds: Vec<u32>,
    /// Where crossed thresholds go (the alert task).
    announce: Box<dyn Fn(Vec<ThresholdCrossed>) + Send + Sync>,
    /// Settles in flight, so shutdown can wait for them.
    settling: tokio_util::task::TaskTracker,
}

/// A reservation held in Redis (or, with Redis down and `fail_open`, in
/// the local ledger).
pub enum Held {
    Local(Reservation),
    Redis(RedisReservation),
    /// Reserved in this node's ledger while Redis was down (`fail_open`);
    /// its spend goes to Redis too, once Redis answers.
    Fallback(Reservation, RedisReservation),
}

/// A call's holds in Redis; settled or released off the request path.
pub struct RedisReservation {
    ledger: Arc<RedisLedger>,
    holds: Vec<Hold>,
    /// What is held in Redis (nothing for a fallback's spend-only part).
    estimate: Estimate,
    settled: bool,
    pub headers: Vec<(&'static str, String)>,
}

#[derive(Debug, Clone)]
enum Hold {
    Budget {
        key: String,
        scope: String,
        period: Period,
        limit_usd: Option<f64>,
        limit_tokens: Option<u64>,
    },
    Run {
        key: String,
    },
    Tpm {
        key: String,
        cap: u64,
    },
}

impl RedisLedger {
    /// Connects to `url` (a `redis://` URL) and loads the script.
    pub async fn connect(
        url: &str,
        prefix: &str,
        when_down: WhenDown,
        local: Arc<Ledger>,
        thresholds: Vec<u32>,
        announce: Box<dyn Fn(Vec<ThresholdCrossed>) + Send + Sync>,
    ) -> Result<Arc<RedisLedger>, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let conn = tokio::time::timeout(Duration::from_secs(5), client.get_connection_manager())
            .await
            .map_err(|_| {
                redis::RedisError::from((redis::ErrorKind::Io, "connecting to Redis timed out"))
            })??;
        Ok(Arc::new(RedisLedger {
            conn,
            prefix: prefix.to_owned(),
            script: Script::new(include_str!("redis_ledger.lua")),
            when_down,
            local,
            pending: Mutex::new(Vec::new()),
            announced: Mutex::new(HashMap::new()),
            thresholds,
            announce,
            settling: tokio_util::task::TaskTracker::new(),
        }))
    }

    fn key(&self, kind: &str, rest: &str) -> String {
        format!("{}:{kind}:{rest}", self.prefix)
    }

    async fn run(
        &self,
        mode: &str,
        now: i64,
        items: &Value,
    ) -> Result<Vec<String>, redis::RedisError> {
        let mut conn = self.conn.clone();
        let mut invocation = self.script.arg(mode);
        invocation.arg(now).arg(items.to_string());
        let call = invocation.invoke_async::<Vec<String>>(&mut conn);
        match tokio::time::timeout(REDIS_TIMEOUT, call).await {
            Ok(result) => result,
            Err(_) => Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "Redis did not answer in time",
            ))),
        }
    }

    /// Loads stored spend into Redis once (the first node to start after
    /// Redis was empty does it).
    pub async fn seed_once(&self, rows: &[DailySpend]) -> Result<bool, redis::RedisError> {
        let mut conn = self.conn.clone();
        let first: Option<String> = redis::cmd("SET")
            .arg(self.key("seeded", "v1"))
            .arg("1")
            .arg("NX")
            .query_async(&mut conn)
            .await?;
        if first.is_none() {
            return Ok(false);
        }
        if rows.is_empty() {
            return Ok(true);
        }
        let mut pipe = redis::pipe();
        for row in rows {
            let key = self.key("b", &row.scope);
            let nanos = (row.cost_usd * 1e9).round() as i64;
            let tokens = row.tokens.max(0);
            pipe.cmd("HINCRBY")
                .arg(&key)
                .arg(format!("d:{}", row.day))
                .arg(nanos)
                .ignore();
            pipe.cmd("HINCRBY")
                .arg(&key)
                .arg(format!("t:{}", row.day))
                .arg(tokens)
                .ignore();
            pipe.cmd("HINCRBY").arg(&key).arg("tot").arg(nanos).ignore();
            pipe.cmd("HINCRBY")
                .arg(&key)
                .arg("ttot")
                .arg(tokens)
                .ignore();
        }
        pipe.query_async::<()>(&mut conn).await?;
        Ok(true)
    }

    /// Checks and reserves `ask` in one round trip.
    pub async fn reserve(self: &Arc<Self>, ask: &Ask<'_>) -> Result<Held, Refusal> {
        let now = self.local.clock().now_ms();
        let today = day_of(now);
        let est = ask.estimate;
        let en = nanos(est.usd);
        let mut checks = Vec::new();
        let mut meta: Vec<(String, &Limits, &'static str)> = Vec::new();
        let mut holds = Vec::new();
        let scopes = ask.scopes();
        let scopes = scopes.iter().map(|(s, l)| (s.as_ref(), *l));
        for (scope, limits) in scopes {
            if let Some(rpm) = limits.rpm {
                checks.push(json!({"k": "rate", "key": self.key("q", &format!("{scope}:rpm")), "cap": rpm, "need": 1}));
                meta.push((scope.to_owned(), limits, "rpm"));
            }
            if let Some(tpm) = limits.tpm {
                let key = self.key("q", &format!("{scope}:tpm"));
                checks.push(json!({"k": "rate", "key": key, "cap": tpm, "need": est.tokens}));
                meta.push((scope.to_owned(), limits, "tpm"));
                holds.push(Hold::Tpm { key, cap: tpm });
            }
            if limits.has_budget() {
                let period = limits.budget_period.unwrap_or_default();
                let key = self.key("b", scope);
                checks.push(json!({
                    "k": "budget", "key": key, "total": period == Period::Total,
                    "from": start_day(period, now), "today": today,
                    "ln": limits.budget_usd.map(nanos), "lt": limits.budget_tokens,
                    "en": en.to_string(), "et": est.tokens.to_string(),
                }));
                meta.push((scope.to_owned(), limits, "budget"));
                holds.push(Hold::Budget {
                    key,
                    scope: scope.to_owned(),
                    period,
                    limit_usd: limits.budget_usd,
                    limit_tokens: limits.budget_tokens,
                });
            }
            if let (Some(cap), Some(run)) = (limits.run_budget_usd, ask.run) {
                let key = self.key("r", &format!("{scope}:{run}"));
                checks
                    .push(json!({"k": "run", "key": key, "ln": nanos(cap), "en": en.to_string()}));
                meta.push((scope.to_owned(), limits, "run"));
                holds.push(Hold::Run { key });
            }
        }
        // Lua's cjson reads a JSON null as a true value: absent limits are left out.
        for check in &mut checks {
            if let Value::Object(map) = check {
                map.retain(|_, v| !v.is_null());
            }
        }
        let answer = match self.run("reserve", now, &Value::Array(checks)).await {
            Ok(answer) => answer,
            Err(e) => return self.when_unreachable(ask, &e, holds),
        };
        match answer.first().map(String::as_str) {
            Some("ok") => {
                let mut headers = ledger::RateHeaders::default();
                for ((_, limits, what), level) in meta.iter().zip(answer.iter().skip(1)) {
                    let left = level.parse::<f64>().unwrap_or(0.0);
                    match *what {
                        "rpm" => headers.requests_left(limits.rpm.unwrap_or(0), left),
                        "tpm" => headers.tokens_left(limits.tpm.unwrap_or(0), left),
                        _ => {}
                    }
                }
                Ok(Held::Redis(RedisReservation {
                    ledger: self.clone(),
                    holds,
                    estimate: est,
                    settled: false,
                    headers: headers.into_headers(),
                }))
            }
            Some(kind) => {
                let index: usize = answer.get(1).and_then(|i| i.parse().ok()).unwrap_or(1);
                let Some((scope, limits, what)) = meta.get(index.saturating_sub(1)) else {
                    return Err(unavailable("an unreadable answer from Redis"));
                };
                let number = |i: usize| {
                    answer
                        .get(i)
                        .and_then(|v| v.parse::<f64>().ok())
                        .unwrap_or(0.0)
                };
                Err(match (kind, *what) {
                    ("rate", "rpm") => ledger::rate_refusal_at(
                        RefusalKind::Requests,
                        scope,
                        limits.rpm.unwrap_or(0),
                        1,
                        number(2),
                    ),
                    ("rate", _) => ledger::rate_refusal_at(
                        RefusalKind::Tokens,
                        scope,
                        limits.tpm.unwrap_or(0),
                        est.tokens,
                        number(2),
                    ),
                    ("run", _) => ledger::run_refusal(
                        scope,
                        ask.run.unwrap_or(""),
                        number(2) / 1e9,
                        limits.run_budget_usd.unwrap_or(0.0),
                    ),
                    _ => {
                        let spending = ledger::Spending {
                            spent_usd: number(2) / 1e9,
                            spent_tokens: number(3) as u64,
                            reserved_usd: number(4) / 1e9,
                            worst_case_usd: est.usd,
                        };
                        let period = limits.budget_period.unwrap_or_default();
                        let level = ThresholdCrossed {
                            scope: scope.clone(),
                            threshold: 0,
                            period,
                            period_start_ms: start_day(period, now) * 86_400_000,
                            spent_usd: spending.spent_usd,
                            spent_tokens: spending.spent_tokens,
                            limit_usd: limits.budget_usd,
                            limit_tokens: limits.budget_tokens,
                        };
                        let mut refusal = ledger::budget_refusal_at(scope, limits, now, spending);
                        refusal.crossed = self.announce_level(&level, 100.0);
                        refusal
                    }
                })
            }
            None => Err(unavailable("an empty answer from Redis")),
        }
    }

    fn when_unreachable(
        self: &Arc<Self>,
        ask: &Ask<'_>,
        e: &redis::RedisError,
        holds: Vec<Hold>,
    ) -> Result<Held, Refusal> {
        tracing_warn(e);
        match self.when_down {
            WhenDown::FailClosed => Err(unavailable(&e.to_string())),
            WhenDown::FailOpen => {
                let local = self.local.reserve(ask)?;
                let spend_only = RedisReservation {
                    ledger: self.clone(),
                    holds,
                    estimate: Estimate::default(),
                    settled: false,
                    headers: Vec::new(),
                };
                Ok(Held::Fallback(local, spend_only))
            }
        }
    }

    /// Settles holds (in the background; called when the record is built).
    fn settle(self: &Arc<Self>, holds: Vec<Hold>, reserved: Estimate, used: Estimate, at_ms: i64) {
        let now = self.local.clock().now_ms();
        let today = day_of(now);
        let items: Vec<Value> = holds
            .iter()
            .map(|h| match h {
                Hold::Tpm { key, cap } => json!({"k": "tpm", "key": key, "cap": cap,
                    "unused": reserved.tokens as f64 - used.tokens as f64}),
                Hold::Budget { key, period, .. } => json!({"k": "budget", "key": key,
                    "total": *period == Period::Total, "from": start_day(*period, now), "today": today,
                    "day": day_of(at_ms), "nen": (-nanos(reserved.usd)).to_string(),
                    "net": (-(reserved.tokens as i64)).to_string(),
                    "an": nanos(used.usd).to_string(), "at": used.tokens.to_string()}),
                Hold::Run { key } => json!({"k": "run", "key": key,
                    "nen": (-nanos(reserved.usd)).to_string(), "an": nanos(used.usd).to_string()}),
            })
            .collect();
        let this = self.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            lock(&self.pending).push(Value::Array(items));
            return;
        };
        self.settling.spawn_on(
            async move {
                match this.run("settle", now, &Value::Array(items.clone())).await {
                    Ok(answer) => this.thresholds_crossed(&holds, &answer, now),
                    Err(e) => {
                        tracing_warn(&e);
                        lock(&this.pending).push(Value::Array(items));
                    }
                }
            },
            &runtime,
        );
    }

    /// Waits for settles in flight, and pushes any that could not reach
    /// Redis once more (at shutdown, after the last record was built).
    pub async fn drain(&self) {
        self.settling.close();
        self.settling.wait().await;
        self.flush_pending().await;
    }

    /// Pushes settles that could not reach Redis; called periodically.
    pub async fn flush_pending(&self) {
        let batch = std::mem::take(&mut *lock(&self.pending));
        for items in batch {
            let now = self.local.clock().now_ms();
            if self.run("settle", now, &items).await.is_err() {
                lock(&self.pending).push(items);
            }
        }
    }

    fn thresholds_crossed(&self, holds: &[Hold], answer: &[String], now: i64) {
        let mut crossed = Vec::new();
        for (hold, spent) in holds.iter().zip(answer) {
            let Hold::Budget {
                scope,
                period,
                limit_usd,
                limit_tokens,
                ..
            } = hold
            else {
                continue;
            };
            let mut parts = spent.split(' ').map(|v| v.parse::<f64>().unwrap_or(0.0));
            let (spent_nanos, spent_tokens) =
                (parts.next().unwrap_or(0.0), parts.next().unwrap_or(0.0));
            let level = ThresholdCrossed {
                scope: scope.clone(),
                threshold: 0,
                period: *period,
                period_start_ms: start_day(*period, now) * 86_400_000,
                spent_usd: spent_nanos / 1e9,
                spent_tokens: spent_tokens as u64,
                limit_usd: *limit_usd,
                limit_tokens: *limit_tokens,
            };
            let percent = ledger::percent_of(
                level.spent_usd,
                level.spent_tokens,
                *limit_usd,
                *limit_tokens,
            );
            crossed.extend(self.announce_level(&level, percent));
        }
        if !crossed.is_empty() {
            (self.announce)(crossed);
        }
    }

    /// The thresholds `percent` reaches that this node has not announced.
    fn announce_level(&self, level: &ThresholdCrossed, percent: f64) -> Vec<ThresholdCrossed> {
        let mut announced = lock(&self.announced);
        let mut slot = announced.get(&level.scope).copied();
        let crossed = ledger::announce(&self.thresholds, &mut slot, level, percent);
        if let Some(slot) = slot {
            announced.insert(level.scope.clone(), slot);
        }
        crossed
    }

    /// Where one budget stands in Redis: spent this period and reserved.
    pub async fn standing(&self, scope: &str, period: Period) -> Option<(f64, u64, f64, u64)> {
        let now = self.local.clock().now_ms();
        let mut conn = self.conn.clone();
        let key = self.key("b", scope);
        let fields: Vec<String> = match period {
            Period::Total => vec!["tot".into(), "ttot".into()],
            _ => (start_day(period, now)..=day_of(now))
                .flat_map(|d| [format!("d:{d}"), format!("t:{d}")])
                .collect(),
        };
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(&key).arg(&fields).arg("rn").arg("rt");
        let values: Vec<Option<i64>> =
            tokio::time::timeout(REDIS_TIMEOUT, cmd.query_async(&mut conn))
                .await
                .ok()?
                .ok()?;
        let (sums, reserved) = values.split_at(values.len().saturating_sub(2));
        let spent_n: i64 = sums.iter().step_by(2).flatten().sum();
        let spent_t: i64 = sums.iter().skip(1).step_by(2).flatten().sum();
        let rn = reserved.first().copied().flatten().unwrap_or(0);
        let rt = reserved.get(1).copied().flatten().unwrap_or(0);
        Some((
            spent_n as f64 / 1e9,
            spent_t.max(0) as u64,
            rn as f64 / 1e9,
            rt.max(0) as u64,
        ))
    }
}

impl Held {
    /// Settles with what the call used; the thresholds crossed are
    /// returned (local) or announced when Redis answers.
    pub fn settle(self, used: Estimate, at_ms: i64) -> Vec<ThresholdCrossed> {
        match self {
            Held::Local(r) => r.settle(used, at_ms),
            Held::Redis(r) => {
                r.settle(used, at_ms);
                Vec::new()
            }
            Held::Fallback(local, shared) => {
                shared.settle(used, at_ms);
                local.settle(used, at_ms)
            }
        }
    }

    /// `x-ratelimit-*` headers for the answer.
    pub fn headers(&self) -> &[(&'static str, String)] {
        match self {
            Held::Local(r) | Held::Fallback(r, _) => &r.headers,
            Held::Redis(r) => &r.headers,
        }
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Held::Local(r) => f.debug_tuple("Local").field(r).finish(),
            Held::Fallback(r, _) => f.debug_tuple("Fallback").field(r).finish(),
            Held::Redis(r) => f.debug_tuple("Redis").field(&r.estimate).finish(),
        }
    }
}

impl RedisReservation {
    fn settle(mut self, used: Estimate, at_ms: i64) {
        self.settled = true;
        let holds = std::mem::take(&mut self.holds);
        self.ledger.settle(holds, self.estimate, used, at_ms);
    }
}

impl Drop for RedisReservation {
    fn drop(&mut self) {
        if !self.settled {
            let holds = std::mem::take(&mut self.holds);
            let now = self.ledger.local.clock().now_ms();
            self.ledger
                .settle(holds, self.estimate, Estimate::default(), now);
        }
    }
}

fn nanos(usd: f64) -> i64 {
    (usd * 1e9).round() as i64
}

fn unavailable(why: &str) -> Refusal {
    Refusal {
        kind: RefusalKind::Unavailable,
        message: format!(
            "Budgets and rate limits cannot be checked right now ({why}); try again shortly."
        ),
        retry_after_s: Some(1),
        headers: Vec::new(),
        crossed: Vec::new(),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn tracing_warn(e: &redis::RedisError) {
    tracing::warn!(error = %e, "Redis counters unreachable");
}
