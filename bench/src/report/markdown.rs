//! The markdown printed on stdout: the rows, then the goals.

use super::rows::FRONT_DOOR;
use super::{Goal, Row};

/// How to read the front door's rows, printed under the table.
const FRONT_DOOR_NOTE: &str = "4b: \"direct\" is Keel's OpenAI-format stream \
(`/v1/chat/completions`), \"keel\" is Keel's Anthropic stream (`/v1/messages`), \
\"keel added\" is what the translation adds. Both run mixed on the same connections in \
the same rounds; CPU per stream comes from rounds of one kind each (phase 4's keel \
side and a messages-only round).";

/// A number with as many decimals as it deserves; `–` when missing.
pub(super) fn cell(v: Option<f64>) -> String {
    match v {
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.2}"),
        None => "–".to_owned(),
    }
}

/// [`cell`] with a sign, for added values.
pub(super) fn signed(v: Option<f64>) -> String {
    match v {
        Some(x) if x >= 0.0 => format!("+{}", cell(v)),
        _ => cell(v),
    }
}

/// The rows as a table under `header`; the proxy and keel columns only when
/// some row has them.
pub fn table(rows: &[Row], header: &str) -> String {
    let proxy = rows.iter().any(|r| r.proxy.is_some());
    let keel = rows.iter().any(|r| r.keel.is_some());
    let mut columns = vec!["phase", "metric", "unit", "direct"];
    let mut align = vec!["---", "---", "---", "---:"];
    for (shown, name) in [
        (proxy, "proxy"),
        (keel, "keel"),
        (proxy, "proxy added"),
        (keel, "keel added"),
    ] {
        if shown {
            columns.push(name);
            align.push("---:");
        }
    }
    columns.extend(["goal", "ok"]);
    align.extend(["---", "---"]);
    let mut out = format!(
        "{header}\n\n| {} |\n|{}|\n",
        columns.join(" | "),
        align.join("|")
    );
    for r in rows {
        let mut cells = vec![
            r.phase.to_owned(),
            r.metric.clone(),
            r.unit.to_owned(),
            cell(r.direct),
        ];
        for (shown, value) in [
            (proxy, cell(r.proxy)),
            (keel, cell(r.keel)),
            (proxy, signed(r.proxy_added)),
            (keel, signed(r.added)),
        ] {
            if shown {
                cells.push(value);
            }
        }
        cells.push(r.goal.clone().unwrap_or_default());
        cells.push(verdict(r.pass, "yes", "NO").to_owned());
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    if rows.iter().any(|r| r.phase == FRONT_DOOR) {
        out.push_str(&format!("\n{FRONT_DOOR_NOTE}\n"));
    }
    out
}

fn verdict(pass: Option<bool>, yes: &'static str, no: &'static str) -> &'static str {
    match pass {
        Some(true) => yes,
        Some(false) => no,
        None => "",
    }
}

/// The goals table: Keel's figure, the proxy's, the ratio, the goal and
/// whether it is met.
pub fn goals(goals: &[Goal]) -> String {
    let mut out = String::from(
        "## Goals (ratios to the bare proxy, same run)\n\n\
         | goal | keel | proxy | keel ÷ proxy | goal | met |\n\
         |---|---:|---:|---:|---|---|\n",
    );
    for g in goals {
        let value = |v: Option<f64>| match v {
            None => "–".to_owned(),
            Some(_) if g.signed => format!("{} {}", signed(v), g.unit),
            Some(_) => format!("{} {}", cell(v), g.unit),
        };
        let name = match &g.note {
            Some(note) => format!("{} ({note})", g.name),
            None => g.name.to_owned(),
        };
        let ratio = g.ratio.map_or(String::new(), |r| format!("{r:.2}"));
        out.push_str(&format!(
            "| {name} | {} | {} | {ratio} | {} | {} |\n",
            value(g.keel),
            value(g.proxy),
            g.target,
            g.met
                .map_or("n/a", |m| if m { "met" } else { "**not met**" }),
        ));
    }
    out
}
