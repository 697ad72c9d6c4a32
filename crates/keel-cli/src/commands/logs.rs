//! `keel logs`: list, filter and show invocation records. It asks the
//! running Keel (`GET /admin/v1/invocations`, as any admin command); when
//! nothing answers at `--url`, or no key is set, it reads the store in the
//! data directory (or `--database-url`) itself.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use keel_store::timefmt::{format_ms, now_ms, parse_time};
use keel_store::{Attempt, Durability, Invocation, LogFilter};

use super::admin::client::{segment, CallError, Client};

/// Flags of `keel logs`.
#[derive(Args)]
pub struct LogsArgs {
    #[command(subcommand)]
    show: Option<ShowCommand>,
    /// Data directory of the embedded store [default: ./keel-data].
    #[arg(long, env = "KEEL_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// sqlite://PATH or postgres://… (default: SQLite in the data dir).
    #[arg(long, env = "KEEL_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Keel's address (the store is read directly when nothing answers).
    #[arg(
        long,
        env = "KEEL_URL",
        default_value = "http://127.0.0.1:4000",
        global = true
    )]
    url: String,
    /// An admin key; falls back to KEEL_MASTER_KEY.
    #[arg(long, env = "KEEL_API_KEY", global = true, hide_env_values = true)]
    api_key: Option<String>,
    /// Only this model (requested or resolved name).
    #[arg(long)]
    model: Option<String>,
    /// ok, error, or an HTTP status such as 429.
    #[arg(long)]
    status: Option<String>,
    /// Only this key id.
    #[arg(long)]
    key: Option<String>,
    /// Only this trace id.
    #[arg(long)]
    trace: Option<String>,
    /// From this time: RFC 3339 or an age such as 15m, 2h, 7d.
    #[arg(long)]
    since: Option<String>,
    /// Up to this time: RFC 3339 or an age.
    #[arg(long)]
    until: Option<String>,
    /// Most records to list.
    #[arg(long, default_value_t = 50)]
    limit: i64,
    /// One JSON object per line.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum ShowCommand {
    /// Show one record with its request and response bodies.
    Show {
        /// The invocation id (or a unique prefix).
        id: String,
    },
}

/// Runs `keel logs`.
pub fn run(args: LogsArgs) -> Result<(), String> {
    super::runtime()?.block_on(async move {
        if let Ok(client) = Client::to(&args.url, args.api_key.clone()) {
            match from_api(&client, &args).await {
                Ok(()) => return Ok(()),
                Err(CallError::Unreachable(_)) => {}
                Err(CallError::Failed(message)) => return Err(message),
            }
        }
        from_store(&args).await
    })
}

/// The records as the running Keel serves them.
async fn from_api(client: &Client, args: &LogsArgs) -> Result<(), CallError> {
    let io = |e: String| CallError::Failed(e);
    let mut out = std::io::stdout().lock();
    match &args.show {
        Some(ShowCommand::Show { id }) => {
            let record = client
                .try_get(&format!("/invocations/{}", segment(id)), &[])
                .await?;
            if args.json {
                return writeln!(out, "{record}").map_err(|e| io(e.to_string()));
            }
            write_detail_value(&mut out, record).map_err(io)
        }
        None => {
            let mut query = vec![("limit", args.limit.to_string())];
            let named = [
                ("model", &args.model),
                ("status", &args.status),
                ("key", &args.key),
                ("trace", &args.trace),
                ("since", &args.since),
                ("until", &args.until),
            ];
            for (name, value) in named {
                if let Some(v) = value {
                    query.push((name, v.clone()));
                }
            }
            let answer = client.try_get("/invocations", &query).await?;
            let rows = answer["data"].as_array().cloned().unwrap_or_default();
            if args.json {
                return rows
                    .iter()
                    .try_for_each(|r| writeln!(out, "{r}"))
                    .map_err(|e| io(e.to_string()));
            }
            let records: Vec<Invocation> = rows.iter().map(record_of).collect();
            write_table(&mut out, &records).map_err(io)
        }
    }
}

/// The fields of a listed record the table shows, from its JSON.
fn record_of(v: &serde_json::Value) -> Invocation {
    let created = v["created_at"]
        .as_str()
        .and_then(|t| parse_time(t, 0).ok())
        .unwrap_or(0);
    let id = v["id"]
        .as_str()
        .and_then(|i| uuid::Uuid::parse_str(i).ok())
        .unwrap_or_default();
    let mut r = Invocation::new(id, created, v["endpoint"].as_str().unwrap_or(""));
    r.status = v["status"].as_u64().unwrap_or(0) as u16;
    r.requested_model = v["requested_model"].as_str().map(str::to_owned);
    r.input_tokens = v["input_tokens"].as_i64().unwrap_or(0);
    r.output_tokens = v["output_tokens"].as_i64().unwrap_or(0);
    r.token_source = v["token_source"].as_str().unwrap_or("none").to_owned();
    r.cost_usd = v["cost_usd"].as_f64();
    r.latency_ms = v["latency_ms"].as_f64().unwrap_or(0.0);
    r.error_class = v["error_class"].as_str().map(str::to_owned);
    r
}

/// The records read from the store directly (Keel is not running).
async fn from_store(args: &LogsArgs) -> Result<(), String> {
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("keel-data"));
    let store = keel_store::open(args.database_url.as_deref(), &data_dir, Durability::Batched)
        .await
        .map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    let result = match &args.show {
        Some(ShowCommand::Show { id }) => match store.get(id).await.map_err(|e| e.to_string())? {
            Some(r) if args.json => writeln!(out, "{}", r.to_json(true)).map_err(|e| e.to_string()),
            Some(r) => write_detail(&mut out, &r),
            None => Err(format!(
                "no record with id '{id}' (or the prefix is not unique)"
            )),
        },
        None => {
            let filter = filter(args)?;
            let records = store.list(&filter).await.map_err(|e| e.to_string())?;
            if args.json {
                records
                    .iter()
                    .try_for_each(|r| writeln!(out, "{}", r.to_json(false)))
                    .map_err(|e| e.to_string())
            } else {
                write_table(&mut out, &records)
            }
        }
    };
    store.close().await;
    result
}

fn filter(args: &LogsArgs) -> Result<LogFilter, String> {
    let now = now_ms();
    Ok(LogFilter {
        model: args.model.clone(),
        status: args.status.clone(),
        key_id: args.key.clone(),
        team_id: None,
        user_id: None,
        trace_id: args.trace.clone(),
        since_ms: args
            .since
            .as_deref()
            .map(|s| parse_time(s, now))
            .transpose()?,
        until_ms: args
            .until
            .as_deref()
            .map(|s| parse_time(s, now))
            .transpose()?,
        limit: args.limit,
    })
}

fn write_table(out: &mut impl Write, records: &[Invocation]) -> Result<(), String> {
    let io = |e: std::io::Error| e.to_string();
    writeln!(
        out,
        "{:<24} {:<36} {:>6} {:<28} {:>8} {:>8} {:>11} {:>10}  ERROR",
        "TIME", "ID", "STATUS", "MODEL", "IN", "OUT", "COST", "LATENCY"
    )
    .map_err(io)?;
    for r in records {
        let model = r.requested_model.as_deref().unwrap_or("-");
        let cost = r
            .cost_usd
            .map(|c| format!("${c:.6}"))
            .unwrap_or_else(|| "-".into());
        let tokens = |n: i64| {
            if r.token_source == "estimated" {
                format!("~{n}")
            } else {
                n.to_string()
            }
        };
        writeln!(
            out,
            "{:<24} {:<36} {:>6} {:<28} {:>8} {:>8} {:>11} {:>8.1}ms  {}",
            format_ms(r.created_at_ms),
            r.id,
            r.status,
            truncate(model, 28),
            tokens(r.input_tokens),
            tokens(r.output_tokens),
            cost,
            r.latency_ms,
            r.error_class.as_deref().unwrap_or("")
        )
        .map_err(io)?;
    }
    Ok(())
}

fn write_detail(out: &mut impl Write, r: &Invocation) -> Result<(), String> {
    let value: serde_json::Value =
        serde_json::from_str(&r.to_json(true)).map_err(|e| e.to_string())?;
    write_detail_value(out, value)
}

/// A record's JSON, pretty, with its attempts a line each below rather
/// than a JSON array.
fn write_detail_value(out: &mut impl Write, mut value: serde_json::Value) -> Result<(), String> {
    let attempts: Vec<Attempt> = value
        .as_object_mut()
        .and_then(|fields| fields.remove("attempt_list"))
        .and_then(|list| serde_json::from_value(list).ok())
        .unwrap_or_default();
    let pretty = serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?;
    writeln!(out, "{pretty}").map_err(|e| e.to_string())?;
    write_attempts(out, &attempts)
}

/// Lists a call's attempts, one per line, when they tell more than the record
/// itself: the call was tried more than once, or an attempt failed.
fn write_attempts(out: &mut impl Write, attempts: &[Attempt]) -> Result<(), String> {
    if attempts.len() < 2 && !attempts.iter().any(failed) {
        return Ok(());
    }
    let io = |e: std::io::Error| e.to_string();
    writeln!(out, "attempts:").map_err(io)?;
    for (n, a) in attempts.iter().enumerate() {
        writeln!(
            out,
            "  {}. provider={} model={} status={} error={} latency={:.1}ms",
            n + 1,
            a.provider,
            a.model,
            a.status.map_or_else(|| "-".to_owned(), |s| s.to_string()),
            a.error_class.as_deref().unwrap_or("-"),
            a.latency_ms
        )
        .map_err(io)?;
    }
    Ok(())
}

/// An attempt that did not get a successful answer.
fn failed(a: &Attempt) -> bool {
    a.error_class.is_some() || !a.status.is_some_and(|s| (200..300).contains(&s))
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        s.chars()
            .take(max - 1)
            .chain(std::iter::once('…'))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(provider: &str, status: Option<u16>, error: Option<&str>, ms: f64) -> Attempt {
        Attempt {
            provider: provider.into(),
            model: "gpt-4o".into(),
            status,
            error_class: error.map(Into::into),
            latency_ms: ms,
        }
    }

    fn shown(attempts: Vec<Attempt>) -> String {
        let mut r = Invocation::new(Default::default(), 1_700_000_000_000, "chat.completions");
        r.attempts = attempts.len() as i32;
        r.attempt_list = attempts;
        let mut out = Vec::new();
        write_detail(&mut out, &r).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_retried_call_lists_each_attempt_on_a_line() {
        let text = shown(vec![
            attempt("primary", None, Some("upstream_connect"), 5000.04),
            attempt("backup", Some(200), None, 12.34),
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[lines.len() - 3..],
            [
                "attempts:",
                "  1. provider=primary model=gpt-4o status=- error=upstream_connect latency=5000.0ms",
                "  2. provider=backup model=gpt-4o status=200 error=- latency=12.3ms",
            ]
        );
        assert!(!text.contains("attempt_list"), "{text}");
    }

    #[test]
    fn a_single_failed_attempt_is_listed() {
        let text = shown(vec![attempt(
            "primary",
            Some(500),
            Some("upstream_5xx"),
            3.0,
        )]);
        assert!(text.ends_with(
            "attempts:\n  1. provider=primary model=gpt-4o status=500 error=upstream_5xx latency=3.0ms\n"
        ), "{text}");
    }

    #[test]
    fn a_call_answered_first_time_lists_no_attempts() {
        assert!(!shown(vec![attempt("primary", Some(200), None, 3.0)]).contains("attempts:"));
        assert!(!shown(Vec::new()).contains("attempts:"));
    }
}
