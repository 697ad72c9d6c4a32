//! Reading what happened: budgets and where they stand, spend grouped any
//! way, the admin audit and the invocation log. Spend is summed from the
//! records themselves, so it agrees with them to the cent.

use axum::extract::{Path, Query};
use bytes::Bytes;
use keel_policy::period::resets_at_ms;
use keel_policy::rbac::{Access, Target};
use std::collections::BTreeMap;

use keel_store::governance::{DirectoryWrite, Limits, ModelBudget, SpendGroup, SpendRow};
use keel_store::timefmt::{format_ms, now_ms, parse_time};
use keel_store::LogFilter;
use serde::Deserialize;
use serde_json::{json, Value};

use super::context::{
    forbidden, invalid, not_found, reply, to_value, Admin, AdminError, AdminResult,
};
use super::input::{apply_limits, object};

/// `GET /budgets`: every budget the caller may read, with its spend in the
/// current period, what calls in flight hold, and when it resets.
pub async fn budgets(admin: Admin) -> AdminResult {
    let directory = admin.state.governance.directory.snapshot();
    let ledger = &admin.state.governance.ledger;
    let now = ledger.clock().now_ms();
    let mut listed = Vec::new();
    let mut push = |scope: String, name: &str, limits: &Limits| {
        if limits.has_budget() {
            listed.push((scope, name.to_owned(), limits.clone()));
        }
    };
    for team in &directory.source.teams {
        if admin.actor.may(Access::Read, Target::Team(&team.id)) {
            push(format!("team:{}", team.id), &team.name, &team.limits);
        }
    }
    for user in &directory.source.users {
        let teams: Vec<String> = user.memberships.keys().cloned().collect();
        if admin.actor.may(
            Access::Read,
            Target::User {
                id: &user.id,
                teams: &teams,
            },
        ) {
            push(format!("user:{}", user.id), &user.email, &user.limits);
        }
    }
    for key in directory
        .source
        .keys
        .iter()
        .filter(|k| k.revoked_at_ms.is_none())
    {
        let target = Target::Key {
            team: key.team_id.as_deref(),
            user: key.user_id.as_deref(),
        };
        if admin.actor.may(Access::Read, target) {
            push(format!("key:{}", key.id), &key.name, &key.limits);
        }
    }
    if admin.actor.may(Access::Read, Target::Global) {
        for budget in &directory.source.model_budgets {
            push(
                format!("model:{}", budget.model),
                &budget.model,
                &budget.limits,
            );
        }
    }
    let redis = admin.state.governance.redis.as_ref();
    let mut rows = Vec::with_capacity(listed.len());
    for (scope, name, limits) in listed {
        let period = limits.budget_period.unwrap_or_default();
        let shared = match redis {
            Some(redis) => redis.standing(&scope, period).await,
            None => None,
        };
        let (spent_usd, spent_tokens, reserved_usd, reserved_tokens) =
            shared.unwrap_or_else(|| ledger.standing(&scope, period));
        rows.push(json!({
            "scope": scope,
            "name": name,
            "period": period.as_str(),
            "limit_usd": limits.budget_usd,
            "limit_tokens": limits.budget_tokens,
            "spent_usd": spent_usd,
            "spent_tokens": spent_tokens,
            "reserved_usd": reserved_usd,
            "reserved_tokens": reserved_tokens,
            "resets_at": resets_at_ms(period, now).map(format_ms),
        }));
    }
    Ok(reply(200, &json!({ "data": rows })))
}

/// `PUT /budgets/models/{model}`: a budget over every call to one model
/// (admins only).
pub async fn set_model_budget(admin: Admin, Path(model): Path<String>, body: Bytes) -> AdminResult {
    admin.require(Access::Write, Target::Global)?;
    let map = object(&body, &[])?;
    let directory = admin.state.governance.directory.snapshot();
    let current = directory
        .source
        .model_budgets
        .iter()
        .find(|b| b.model == model);
    let limits = apply_limits(current.map_or(&Limits::default(), |b| &b.limits), &map)?;
    let budget = ModelBudget {
        model: model.clone(),
        limits,
        updated_at_ms: admin.now_ms(),
    };
    admin
        .commit(
            "budgets.set_model",
            "model",
            &model,
            current.map(to_value),
            DirectoryWrite::ModelBudget(budget.clone()),
        )
        .await?;
    Ok(reply(200, &budget))
}

/// Query of `GET /spend`.
#[derive(Deserialize)]
pub struct SpendQuery {
    by: String,
    since: Option<String>,
    until: Option<String>,
    team: Option<String>,
}

/// `GET /spend?by=key|user|team|agent|run|model|provider|tag|day`: calls,
/// tokens and cost per group over `[since, until)`. Admins see everything;
/// others must name one of their teams.
pub async fn spend(admin: Admin, Query(q): Query<SpendQuery>) -> AdminResult {
    let by = SpendGroup::parse(&q.by).ok_or_else(|| {
        invalid("by", format!("'{}' cannot be grouped by: use key, user, team, agent, run, model, provider, tag or day.", q.by))
    })?;
    let now = now_ms();
    let since = time_param("since", q.since.as_deref(), now)?;
    let until = time_param("until", q.until.as_deref(), now)?;
    let directory = admin.state.governance.directory.snapshot();
    let team = match &q.team {
        Some(t) => Some(
            directory
                .team(t)
                .map(|t| t.id.clone())
                .ok_or_else(|| invalid("team", format!("No team '{t}'.")))?,
        ),
        None => None,
    };
    match &team {
        Some(t) => admin.require(Access::Read, Target::Team(t))?,
        None if !admin.actor.may(Access::Read, Target::Global) => {
            return Err(forbidden(
                "Name one of your teams with team=… to see its spend.",
            ))
        }
        None => {}
    }
    let rows = admin
        .state
        .store
        .spend(by, since, until, team.as_deref())
        .await?;
    let rows = match by {
        SpendGroup::Tag => by_tag(rows),
        SpendGroup::Day => by_day(rows),
        _ => rows,
    };
    let mut rows: Vec<Value> = rows.iter().map(to_value).collect();
    rows.sort_by(|a, b| {
        b["cost_usd"]
            .as_f64()
            .partial_cmp(&a["cost_usd"].as_f64())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let total: f64 = rows
        .iter()
        .filter_map(|r| r["cost_usd"].as_f64())
        .sum::<f64>()
        + 0.0;
    Ok(reply(
        200,
        &json!({
            "by": q.by,
            "since": since.map(format_ms),
            "until": until.map(format_ms),
            "total_cost_usd": total,
            "data": rows,
        }),
    ))
}

/// Rows grouped by the stored tags object, split into one group per `k=v`.
fn by_tag(rows: Vec<SpendRow>) -> Vec<SpendRow> {
    regroup(rows, |row| {
        let tags: BTreeMap<String, String> = row
            .group
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        match tags.is_empty() {
            true => vec![None],
            false => tags.iter().map(|(k, v)| Some(format!("{k}={v}"))).collect(),
        }
    })
}

/// Rows grouped by record time, summed per UTC day.
fn by_day(rows: Vec<SpendRow>) -> Vec<SpendRow> {
    regroup(rows, |row| {
        let ms: i64 = row
            .group
            .as_deref()
            .and_then(|g| g.parse().ok())
            .unwrap_or(0);
        vec![Some(
            format_ms(ms.div_euclid(86_400_000) * 86_400_000)[..10].to_owned(),
        )]
    })
}

/// Sums rows into the groups `groups_of` puts each one in.
fn regroup(
    rows: Vec<SpendRow>,
    groups_of: impl Fn(&SpendRow) -> Vec<Option<String>>,
) -> Vec<SpendRow> {
    let mut out: BTreeMap<Option<String>, SpendRow> = BTreeMap::new();
    for row in rows {
        for group in groups_of(&row) {
            let acc = out.entry(group.clone()).or_insert_with(|| SpendRow {
                group,
                calls: 0,
                input_tokens: 0,
                output_tokens: 0,
                cost_usd: 0.0,
            });
            acc.calls += row.calls;
            acc.input_tokens += row.input_tokens;
            acc.output_tokens += row.output_tokens;
            acc.cost_usd += row.cost_usd;
        }
    }
    out.into_values().collect()
}

fn time_param(name: &str, text: Option<&str>, now: i64) -> Result<Option<i64>, AdminError> {
    text.map(|t| parse_time(t, now).map_err(|e| invalid(name, e)))
        .transpose()
}

/// Query of `GET /audit`.
#[derive(Deserialize)]
pub struct AuditQuery {
    since: Option<String>,
    until: Option<String>,
    limit: Option<i64>,
}

/// `GET /audit`: admin writes, newest first (admins only).
pub async fn audit(admin: Admin, Query(q): Query<AuditQuery>) -> AdminResult {
    admin.require(Access::Read, Target::Global)?;
    let now = now_ms();
    let since = time_param("since", q.since.as_deref(), now)?;
    let until = time_param("until", q.until.as_deref(), now)?;
    let entries = admin
        .state
        .store
        .admin_audit(since, until, q.limit.unwrap_or(100).clamp(1, 10_000))
        .await?;
    let data: Vec<Value> = entries
        .iter()
        .map(|e| {
            let mut v = to_value(e);
            v["at"] = Value::String(format_ms(e.at_ms));
            v
        })
        .collect();
    Ok(reply(200, &json!({ "data": data })))
}

/// Query of `GET /invocations`.
#[derive(Deserialize)]
pub struct InvocationQuery {
    model: Option<String>,
    status: Option<String>,
    key: Option<String>,
    team: Option<String>,
    user: Option<String>,
    trace: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<i64>,
}

/// `GET /invocations`: records newest first, without bodies. Non-admins see
/// only their own teams' calls and must name the team.
pub async fn invocations(admin: Admin, Query(q): Query<InvocationQuery>) -> AdminResult {
    let now = now_ms();
    match &q.team {
        Some(t) => admin.require(Access::Read, Target::Team(t))?,
        None => admin.require(Access::Read, Target::Global)?,
    }
    let filter = LogFilter {
        model: q.model,
        status: q.status,
        key_id: q.key,
        team_id: q.team,
        user_id: q.user,
        trace_id: q.trace,
        since_ms: time_param("since", q.since.as_deref(), now)?,
        until_ms: time_param("until", q.until.as_deref(), now)?,
        limit: q.limit.unwrap_or(50).clamp(1, 10_000),
    };
    let records = admin.state.store.list(&filter).await?;
    let data: Vec<Value> = records
        .iter()
        .filter_map(|r| serde_json::from_str(&r.to_json(false)).ok())
        .collect();
    Ok(reply(200, &json!({ "data": data })))
}

/// `GET /invocations/{id}`: one record with its bodies (admins, or a
/// reader of the record's team).
pub async fn invocation(admin: Admin, Path(id): Path<String>) -> AdminResult {
    let record = admin
        .state
        .store
        .get(&id)
        .await?
        .ok_or_else(|| not_found("invocation", &id))?;
    match record.team_id.as_deref() {
        Some(team) => admin.require(Access::Read, Target::Team(team))?,
        None => admin.require(Access::Read, Target::Global)?,
    }
    let body: Value = serde_json::from_str(&record.to_json(true)).unwrap_or(Value::Null);
    Ok(reply(200, &body))
}
