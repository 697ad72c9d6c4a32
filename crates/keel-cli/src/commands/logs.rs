//! `keel logs`: list, filter and show invocation records.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use keel_store::timefmt::{format_ms, now_ms, parse_time};
use keel_store::{Attempt, Durability, Invocation, LogFilter};

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
        let data_dir = args
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("keel-data"));
        let store = keel_store::open(args.database_url.as_deref(), &data_dir, Durability::Batched)
            .await
            .map_err(|e| e.to_string())?;
        let mut out = std::io::stdout().lock();
        let result = match &args.show {
            Some(ShowCommand::Show { id }) => {
                match store.get(id).await.map_err(|e| e.to_string())? {
                    Some(r) if args.json => {
                        writeln!(out, "{}", r.to_json(true)).map_err(|e| e.to_string())
                    }
                    Some(r) => write_detail(&mut out, &r),
                    None => Err(format!(
                        "no record with id '{id}' (or the prefix is not unique)"
                    )),
                }
            }
            None => {
                let filter = filter(&args)?;
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
    })
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
    let mut value: serde_json::Value =
        serde_json::from_str(&r.to_json(true)).map_err(|e| e.to_string())?;
    // The attempts get a line each below rather than a JSON array.
    if let Some(fields) = value.as_object_mut() {
        fields.remove("attempt_list");
    }
    let pretty = serde_json::to_string_pretty(&value).map_err(|e| e.to_string())?;
    writeln!(out, "{pretty}").map_err(|e| e.to_string())?;
    write_attempts(out, &r.attempt_list)
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
