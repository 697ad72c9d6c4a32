//! Who may call and how much: teams, users, virtual keys, their limits and
//! budgets, and the admin audit. These rows are read whole into memory by
//! the gateway (nothing on the request path queries them) and written only
//! through the admin API, each write with its audit entry in one transaction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How often a budget starts again. Boundaries are in UTC; weeks start on
/// Monday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Daily,
    Weekly,
    Monthly,
    /// Never resets.
    #[default]
    Total,
}

impl Period {
    /// Parses `daily`, `weekly`, `monthly` or `total`.
    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "daily" => Some(Period::Daily),
            "weekly" => Some(Period::Weekly),
            "monthly" => Some(Period::Monthly),
            "total" => Some(Period::Total),
            _ => None,
        }
    }

    /// The name `parse` reads.
    pub fn as_str(self) -> &'static str {
        match self {
            Period::Daily => "daily",
            Period::Weekly => "weekly",
            Period::Monthly => "monthly",
            Period::Total => "total",
        }
    }
}

/// Rate limits and budgets of one key, user, team or model. Every field is
/// optional: an absent limit does not apply.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Requests per minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    /// Tokens (input + output) per minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Spend cap in USD per `budget_period`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    /// Token cap (input + output) per `budget_period`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_period: Option<Period>,
    /// Spend cap in USD for each agent run (calls sharing one trace id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_budget_usd: Option<f64>,
}

impl Limits {
    /// True when at least one budget (not a rate limit) is set.
    pub fn has_budget(&self) -> bool {
        self.budget_usd.is_some() || self.budget_tokens.is_some()
    }
}

/// A team's role for one of its users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TeamRole {
    /// Manages the team's keys, users and budgets.
    Admin,
    /// Manages their own keys.
    Member,
    /// Reads only.
    Viewer,
}

impl TeamRole {
    /// Parses `admin`, `member` or `viewer`.
    pub fn parse(s: &str) -> Option<TeamRole> {
        match s {
            "admin" => Some(TeamRole::Admin),
            "member" => Some(TeamRole::Member),
            "viewer" => Some(TeamRole::Viewer),
            _ => None,
        }
    }
}

/// A group that owns keys and shares budgets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub id: String,
    pub name: String,
    pub limits: Limits,
    pub metadata: Value,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A person, with a role in each of their teams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    /// Manages everything, as the master key does.
    pub admin: bool,
    /// Team id → role.
    pub memberships: BTreeMap<String, TeamRole>,
    pub limits: Limits,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A virtual key. The secret itself is never stored: only its SHA-256
/// (hex) and a visible prefix to recognise it by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    #[serde(skip_serializing, default)]
    pub secret_sha256: String,
    /// The secret before the last rotation, valid until `previous_valid_until_ms`.
    #[serde(skip_serializing, default)]
    pub previous_sha256: Option<String>,
    pub previous_valid_until_ms: Option<i64>,
    pub team_id: Option<String>,
    pub user_id: Option<String>,
    /// The agent a service key belongs to.
    pub agent: Option<String>,
    /// Manages everything, as the master key does.
    pub admin: bool,
    /// Allowed models: exact names or patterns with `*`; empty allows all.
    pub models: Vec<String>,
    pub limits: Limits,
    pub tags: BTreeMap<String, String>,
    pub metadata: Value,
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A budget over every call to one model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelBudget {
    pub model: String,
    pub limits: Limits,
    pub updated_at_ms: i64,
}

/// Everything the gateway keeps in memory to authorise calls, read at once.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    /// Bumped by every write; equal versions mean equal contents.
    pub version: i64,
    pub teams: Vec<Team>,
    pub users: Vec<User>,
    pub keys: Vec<ApiKey>,
    pub model_budgets: Vec<ModelBudget>,
}

/// One admin write, as the audit keeps it. Secrets never appear in
/// `before` or `after` (the key rows serialise without them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub at_ms: i64,
    /// `master`, or `key:<id>` of the admin key used.
    pub actor: String,
    /// `teams.create`, `keys.revoke`, …
    pub action: String,
    pub target_kind: String,
    pub target_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    /// The caller's address.
    pub address: Option<String>,
}

/// A row written by an admin action, with the audit entry that goes with it.
/// Built once per admin write, so the size of its largest variant is no cost.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum DirectoryWrite {
    Team(Team),
    User(User),
    Key(ApiKey),
    ModelBudget(ModelBudget),
}

/// What spend is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpendGroup {
    Key,
    User,
    Team,
    Agent,
    Run,
    Model,
    Provider,
    Tag,
    Day,
}

impl SpendGroup {
    /// Parses a `--by` value.
    pub fn parse(s: &str) -> Option<SpendGroup> {
        Some(match s {
            "key" => SpendGroup::Key,
            "user" => SpendGroup::User,
            "team" => SpendGroup::Team,
            "agent" => SpendGroup::Agent,
            "run" => SpendGroup::Run,
            "model" => SpendGroup::Model,
            "provider" => SpendGroup::Provider,
            "tag" => SpendGroup::Tag,
            "day" => SpendGroup::Day,
            _ => return None,
        })
    }

    /// The invocation column the group reads (tags and days are computed).
    pub fn column(self) -> &'static str {
        match self {
            SpendGroup::Key => "key_id",
            SpendGroup::User => "user_id",
            SpendGroup::Team => "team_id",
            SpendGroup::Agent => "agent",
            SpendGroup::Run => "trace_id",
            SpendGroup::Model => "requested_model",
            SpendGroup::Provider => "provider",
            SpendGroup::Tag => "tags",
            SpendGroup::Day => "created_at_ms",
        }
    }
}

/// Spend of one group over a range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpendRow {
    /// The group's value (`null` for calls without one).
    pub group: Option<String>,
    pub calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
}

/// Spend of one budget scope on one UTC day, as the writer keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct DailySpend {
    pub scope: String,
    /// Days since the Unix epoch.
    pub day: i64,
    pub cost_usd: f64,
    pub tokens: i64,
    pub calls: i64,
}

/// The budget scopes a record counts against: `key:ID`, `user:ID`,
/// `team:ID` and `model:NAME`.
pub fn record_scopes(r: &crate::Invocation) -> impl Iterator<Item = String> + '_ {
    let key = r
        .key_id
        .as_deref()
        .filter(|id| *id != "master")
        .map(|id| format!("key:{id}"));
    let user = r.user_id.as_deref().map(|id| format!("user:{id}"));
    let team = r.team_id.as_deref().map(|id| format!("team:{id}"));
    let model = r.requested_model.as_deref().map(|m| format!("model:{m}"));
    [key, user, team, model].into_iter().flatten()
}

/// The spend a batch adds, summed per scope and day.
pub fn daily_spend(batch: &[crate::Invocation]) -> Vec<DailySpend> {
    let mut sums: BTreeMap<(String, i64), DailySpend> = BTreeMap::new();
    for r in batch {
        let cost = r.cost_usd.unwrap_or(0.0);
        let tokens = r.input_tokens + r.output_tokens;
        if cost == 0.0 && tokens == 0 {
            continue;
        }
        let day = r.created_at_ms.div_euclid(86_400_000);
        for scope in record_scopes(r) {
            let entry = sums
                .entry((scope.clone(), day))
                .or_insert_with(|| DailySpend {
                    scope,
                    day,
                    cost_usd: 0.0,
                    tokens: 0,
                    calls: 0,
                });
            entry.cost_usd += cost;
            entry.tokens += tokens;
            entry.calls += 1;
        }
    }
    sums.into_values().collect()
}
