//! `keel teams|users|keys|budgets|spend|audit`: thin clients of the admin
//! API (`/admin/v1`), each with `--json`.

pub mod client;
mod output;

use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

use client::{segment, Client, Connection};

/// Limits every team, user and key takes.
#[derive(Args, Default)]
pub struct LimitArgs {
    /// Requests per minute.
    #[arg(long)]
    rpm: Option<u64>,
    /// Tokens per minute.
    #[arg(long)]
    tpm: Option<u64>,
    /// Budget in US dollars per period.
    #[arg(long)]
    budget_usd: Option<f64>,
    /// Budget in tokens per period.
    #[arg(long)]
    budget_tokens: Option<u64>,
    /// daily, weekly, monthly or total.
    #[arg(long)]
    budget_period: Option<String>,
    /// Budget in US dollars for each agent run (calls sharing a trace id).
    #[arg(long)]
    run_budget_usd: Option<f64>,
}

impl LimitArgs {
    fn into_json(self, body: &mut Map<String, Value>) {
        let mut set = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                body.insert(k.to_owned(), v);
            }
        };
        set("rpm", self.rpm.map(Value::from));
        set("tpm", self.tpm.map(Value::from));
        set("budget_usd", self.budget_usd.map(Value::from));
        set("budget_tokens", self.budget_tokens.map(Value::from));
        set("budget_period", self.budget_period.map(Value::from));
        set("run_budget_usd", self.run_budget_usd.map(Value::from));
    }
}

/// `keel teams …`
#[derive(Args)]
pub struct TeamsArgs {
    #[command(subcommand)]
    command: TeamsCommand,
    #[command(flatten)]
    conn: Connection,
}

#[derive(Subcommand)]
enum TeamsCommand {
    /// Create a team.
    Create {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// List teams.
    List,
    /// Show one team (id or name).
    Show { team: String },
    /// Change a team's name or limits.
    Update {
        team: String,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        limits: LimitArgs,
    },
}

/// `keel users …`
#[derive(Args)]
pub struct UsersArgs {
    #[command(subcommand)]
    command: UsersCommand,
    #[command(flatten)]
    conn: Connection,
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Create a user, optionally in a team with a role.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        team: Option<String>,
        /// admin, member or viewer.
        #[arg(long)]
        role: Option<String>,
        /// Make the user an admin of everything.
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// List users.
    List,
    /// Show one user (id or email).
    Show { user: String },
    /// Set a user's role in a team (or remove it with --remove).
    SetRole {
        user: String,
        #[arg(long)]
        team: String,
        #[arg(long, required_unless_present = "remove")]
        role: Option<String>,
        #[arg(long)]
        remove: bool,
    },
}

/// `keel keys …`
#[derive(Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
    #[command(flatten)]
    conn: Connection,
}

/// Fields a key is created or updated with.
#[derive(Args)]
struct KeyFields {
    /// Agent the key belongs to.
    #[arg(long)]
    agent: Option<String>,
    /// Allowed models: names or patterns such as claude-*.
    #[arg(long, value_delimiter = ',')]
    models: Option<Vec<String>>,
    /// Expiry: a duration like 30d or an RFC 3339 time.
    #[arg(long)]
    expires: Option<String>,
    /// A tag, k=v (repeatable).
    #[arg(long = "tag")]
    tags: Vec<String>,
    #[command(flatten)]
    limits: LimitArgs,
}

impl KeyFields {
    fn into_json(self, body: &mut Map<String, Value>) -> Result<(), String> {
        if let Some(agent) = self.agent {
            body.insert("agent".into(), agent.into());
        }
        if let Some(models) = self.models {
            body.insert("models".into(), json!(models));
        }
        if let Some(expires) = self.expires {
            body.insert("expires".into(), expires.into());
        }
        if !self.tags.is_empty() {
            let mut tags = Map::new();
            for tag in self.tags {
                let (k, v) = tag
                    .split_once('=')
                    .ok_or(format!("--tag '{tag}' is not k=v"))?;
                tags.insert(k.to_owned(), v.into());
            }
            body.insert("tags".into(), Value::Object(tags));
        }
        self.limits.into_json(body);
        Ok(())
    }
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; its secret is printed once.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        team: Option<String>,
        #[arg(long)]
        user: Option<String>,
        /// An admin key (manages everything).
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        fields: KeyFields,
    },
    /// List keys (revoked ones with --all).
    List {
        #[arg(long)]
        team: Option<String>,
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Show one key (id or name).
    Show { key: String },
    /// Change a key's name, agent, models, limits, expiry or tags.
    Update {
        key: String,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        fields: KeyFields,
    },
    /// Issue a new secret; the old one works for --grace (e.g. 1h).
    Rotate {
        key: String,
        #[arg(long)]
        grace: Option<String>,
    },
    /// Revoke a key at once.
    Revoke { key: String },
}

/// `keel budgets …`
#[derive(Args)]
pub struct BudgetsArgs {
    #[command(subcommand)]
    command: BudgetsCommand,
    #[command(flatten)]
    conn: Connection,
}

#[derive(Subcommand)]
enum BudgetsCommand {
    /// Every budget with its spend this period.
    List,
    /// Set the budget over every call to one model.
    SetModel {
        model: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
}

/// `keel spend`
#[derive(Args)]
pub struct SpendArgs {
    /// key, user, team, agent, run, model, provider, tag or day.
    #[arg(long, default_value = "key")]
    by: String,
    /// From: RFC 3339 or an age such as 7d.
    #[arg(long)]
    since: Option<String>,
    /// Up to (exclusive): RFC 3339 or an age.
    #[arg(long)]
    until: Option<String>,
    /// Only this team (required unless you are an admin).
    #[arg(long)]
    team: Option<String>,
    /// CSV instead of a table.
    #[arg(long)]
    csv: bool,
    #[command(flatten)]
    conn: Connection,
}

/// `keel audit …`
#[derive(Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
    #[command(flatten)]
    conn: Connection,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Admin changes: who changed what, when, from where.
    Admin {
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
}

const TEAM_COLUMNS: &[&str] = &["id", "name", "limits"];
const USER_COLUMNS: &[&str] = &["id", "email", "admin", "memberships"];
const KEY_COLUMNS: &[&str] = &[
    "id",
    "name",
    "prefix",
    "team_id",
    "user_id",
    "agent",
    "models",
    "expires_at_ms",
    "revoked_at_ms",
];

fn show(conn: &Connection, value: &Value, columns: &[&str]) -> Result<(), String> {
    if conn.json {
        return output::json(value);
    }
    match value.get("data").and_then(Value::as_array) {
        Some(rows) => output::table(rows, columns),
        None => output::table(std::slice::from_ref(value), columns),
    }
}

fn run_async<F: std::future::Future<Output = Result<(), String>>>(f: F) -> Result<(), String> {
    super::runtime()?.block_on(f)
}

/// Runs `keel teams`.
pub fn teams(args: TeamsArgs) -> Result<(), String> {
    run_async(async move {
        let c = Client::new(&args.conn)?;
        let answer = match args.command {
            TeamsCommand::Create { name, limits } => {
                let mut body = Map::new();
                body.insert("name".into(), name.into());
                limits.into_json(&mut body);
                c.post("/teams", &Value::Object(body)).await?
            }
            TeamsCommand::List => c.get("/teams", &[]).await?,
            TeamsCommand::Show { team } => {
                c.get(&format!("/teams/{}", segment(&team)), &[]).await?
            }
            TeamsCommand::Update { team, name, limits } => {
                let mut body = Map::new();
                if let Some(name) = name {
                    body.insert("name".into(), name.into());
                }
                limits.into_json(&mut body);
                c.patch(&format!("/teams/{}", segment(&team)), &Value::Object(body))
                    .await?
            }
        };
        show(&args.conn, &answer, TEAM_COLUMNS)
    })
}

/// Runs `keel users`.
pub fn users(args: UsersArgs) -> Result<(), String> {
    run_async(async move {
        let c = Client::new(&args.conn)?;
        let answer = match args.command {
            UsersCommand::Create {
                email,
                name,
                team,
                role,
                admin,
                limits,
            } => {
                let mut body = Map::new();
                body.insert("email".into(), email.into());
                if let Some(name) = name {
                    body.insert("name".into(), name.into());
                }
                if let Some(team) = team {
                    body.insert("team".into(), team.into());
                }
                if let Some(role) = role {
                    body.insert("role".into(), role.into());
                }
                if admin {
                    body.insert("admin".into(), true.into());
                }
                limits.into_json(&mut body);
                c.post("/users", &Value::Object(body)).await?
            }
            UsersCommand::List => c.get("/users", &[]).await?,
            UsersCommand::Show { user } => {
                c.get(&format!("/users/{}", segment(&user)), &[]).await?
            }
            UsersCommand::SetRole {
                user,
                team,
                role,
                remove,
            } => {
                let role = if remove {
                    Value::Null
                } else {
                    role.map(Value::from).unwrap_or(Value::Null)
                };
                let body = json!({ "teams": { team: role } });
                c.patch(&format!("/users/{}", segment(&user)), &body)
                    .await?
            }
        };
        show(&args.conn, &answer, USER_COLUMNS)
    })
}

/// Runs `keel keys`.
pub fn keys(args: KeysArgs) -> Result<(), String> {
    run_async(async move {
        let c = Client::new(&args.conn)?;
        let answer = match args.command {
            KeysCommand::Create {
                name,
                team,
                user,
                admin,
                fields,
            } => {
                let mut body = Map::new();
                body.insert("name".into(), name.into());
                if let Some(team) = team {
                    body.insert("team".into(), team.into());
                }
                if let Some(user) = user {
                    body.insert("user".into(), user.into());
                }
                if admin {
                    body.insert("admin".into(), true.into());
                }
                fields.into_json(&mut body)?;
                let created = c.post("/keys", &Value::Object(body)).await?;
                if !args.conn.json {
                    output::line(&format!(
                        "Created key {} ({}). Its secret, shown only now:\n{}",
                        created["name"].as_str().unwrap_or(""),
                        created["id"].as_str().unwrap_or(""),
                        created["key"].as_str().unwrap_or("")
                    ))?;
                    return Ok(());
                }
                created
            }
            KeysCommand::List { team, user, all } => {
                let mut query = Vec::new();
                if let Some(team) = team {
                    query.push(("team", team));
                }
                if let Some(user) = user {
                    query.push(("user", user));
                }
                if all {
                    query.push(("all", "true".to_owned()));
                }
                c.get("/keys", &query).await?
            }
            KeysCommand::Show { key } => c.get(&format!("/keys/{}", segment(&key)), &[]).await?,
            KeysCommand::Update { key, name, fields } => {
                let mut body = Map::new();
                if let Some(name) = name {
                    body.insert("name".into(), name.into());
                }
                fields.into_json(&mut body)?;
                c.patch(&format!("/keys/{}", segment(&key)), &Value::Object(body))
                    .await?
            }
            KeysCommand::Rotate { key, grace } => {
                let body = match grace {
                    Some(g) => json!({ "grace": g }),
                    None => json!({}),
                };
                let rotated = c
                    .post(&format!("/keys/{}/rotate", segment(&key)), &body)
                    .await?;
                if !args.conn.json {
                    output::line(&format!(
                        "New secret, shown only now:\n{}",
                        rotated["key"].as_str().unwrap_or("")
                    ))?;
                    return Ok(());
                }
                rotated
            }
            KeysCommand::Revoke { key } => {
                c.post(&format!("/keys/{}/revoke", segment(&key)), &json!({}))
                    .await?
            }
        };
        show(&args.conn, &answer, KEY_COLUMNS)
    })
}

/// Runs `keel budgets`.
pub fn budgets(args: BudgetsArgs) -> Result<(), String> {
    run_async(async move {
        let c = Client::new(&args.conn)?;
        match args.command {
            BudgetsCommand::List => {
                let answer = c.get("/budgets", &[]).await?;
                show(
                    &args.conn,
                    &answer,
                    &[
                        "scope",
                        "name",
                        "period",
                        "limit_usd",
                        "limit_tokens",
                        "spent_usd",
                        "spent_tokens",
                        "reserved_usd",
                        "resets_at",
                    ],
                )
            }
            BudgetsCommand::SetModel { model, limits } => {
                let mut body = Map::new();
                limits.into_json(&mut body);
                let answer = c
                    .put(
                        &format!("/budgets/models/{}", segment(&model)),
                        &Value::Object(body),
                    )
                    .await?;
                show(&args.conn, &answer, &["model", "limits"])
            }
        }
    })
}

/// Runs `keel spend`.
pub fn spend(args: SpendArgs) -> Result<(), String> {
    run_async(async move {
        let c = Client::new(&args.conn)?;
        let mut query = vec![("by", args.by.clone())];
        for (name, value) in [
            ("since", args.since),
            ("until", args.until),
            ("team", args.team),
        ] {
            if let Some(v) = value {
                query.push((name, v));
            }
        }
        let answer = c.get("/spend", &query).await?;
        let columns = [
            "group",
            "calls",
            "input_tokens",
            "output_tokens",
            "cost_usd",
        ];
        let rows = answer["data"].as_array().cloned().unwrap_or_default();
        if args.csv {
            return output::csv(&rows, &columns);
        }
        if args.conn.json {
            return output::json(&answer);
        }
        output::table(&rows, &columns)?;
        output::line(&format!(
            "total ${:.6}",
            answer["total_cost_usd"].as_f64().unwrap_or(0.0)
        ))
    })
}

/// Runs `keel audit`.
pub fn audit(args: AuditArgs) -> Result<(), String> {
    run_async(async move {
        let c = Client::new(&args.conn)?;
        let AuditCommand::Admin {
            since,
            until,
            limit,
        } = args.command;
        let mut query = vec![("limit", limit.to_string())];
        for (name, value) in [("since", since), ("until", until)] {
            if let Some(v) = value {
                query.push((name, v));
            }
        }
        let answer = c.get("/audit", &query).await?;
        show(
            &args.conn,
            &answer,
            &[
                "at",
                "actor",
                "action",
                "target_kind",
                "target_id",
                "address",
            ],
        )
    })
}
