//! Turns [`Results`] into comparison rows, the goals against the bare proxy
//! and the soak's summary, then into markdown tables and a JSON document
//! (rows plus per-round raw numbers, to judge noise).

mod goals;
mod governance;
mod json;
mod markdown;
mod rows;
mod soak;

pub use goals::{goals, Goal};
pub use governance::{json as governance_json, markdown as governance_markdown};
pub use json::doc as json_doc;
pub use markdown::{goals as goals_markdown, table as markdown};
pub use rows::rows;
pub use soak::markdown as soak_markdown;

use crate::results::Sides;

/// Bytes in a megabyte (MiB), as RSS is reported.
const MB: f64 = 1024.0 * 1024.0;

/// One line of the comparison.
#[derive(Debug, Clone)]
pub struct Row {
    /// Phase label, e.g. `1 c=1`.
    pub phase: &'static str,
    /// What the row measures.
    pub metric: String,
    /// Unit of every number in the row.
    pub unit: &'static str,
    /// The upstream alone (its own CPU or RSS in those rows).
    pub direct: Option<f64>,
    /// Through the bare proxy.
    pub proxy: Option<f64>,
    /// Through Keel.
    pub keel: Option<f64>,
    /// proxy − direct, when both exist.
    pub proxy_added: Option<f64>,
    /// keel − direct, when both exist.
    pub added: Option<f64>,
    /// Keel's goal on this row, as text.
    pub goal: Option<String>,
    /// Whether Keel meets it.
    pub pass: Option<bool>,
}

impl Row {
    /// A row with what the proxy and Keel add on top of direct.
    fn new(
        phase: &'static str,
        metric: impl Into<String>,
        unit: &'static str,
        v: Sides<f64>,
    ) -> Row {
        Row {
            proxy_added: v.proxy.map(|p| p - v.direct),
            added: v.keel.map(|k| k - v.direct),
            ..Row::plain(
                phase,
                metric,
                unit,
                Sides {
                    direct: Some(v.direct),
                    proxy: v.proxy.map(Some),
                    keel: v.keel.map(Some),
                },
            )
        }
    }

    /// A row of values that are not compared by difference (CPU, RSS, ratios).
    fn plain(
        phase: &'static str,
        metric: impl Into<String>,
        unit: &'static str,
        v: Sides<Option<f64>>,
    ) -> Row {
        Row {
            phase,
            metric: metric.into(),
            unit,
            direct: v.direct,
            proxy: v.proxy.flatten(),
            keel: v.keel.flatten(),
            proxy_added: None,
            added: None,
            goal: None,
            pass: None,
        }
    }

    /// A goal for Keel's figure of this row, met or not (`None`: unknown).
    fn goal(mut self, text: &str, pass: Option<bool>) -> Row {
        self.goal = Some(text.to_owned());
        self.pass = pass;
        self
    }

    /// Goal on Keel's added value: at most `limit`.
    fn added_at_most(self, limit: f64, text: &str) -> Row {
        let pass = self.added.map(|a| a <= limit);
        self.goal(text, pass)
    }
}
