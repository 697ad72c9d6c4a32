//! The `attempt_list` column: a record's attempts as a JSON array, NULL when
//! there are none (most calls reach their first candidate, and records from
//! before the column have none).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::record::Attempt;

/// The column's value for `attempts`: serialised once, `None` (NULL) when empty.
pub fn encode(attempts: &[Attempt]) -> Option<String> {
    if attempts.is_empty() {
        return None;
    }
    match serde_json::to_string(attempts) {
        Ok(text) => Some(text),
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a record's attempts; stored without them");
            None
        }
    }
}

/// The attempts stored in the column. Text that does not parse (written by
/// hand, not by Keel) gives no attempts rather than making the whole record
/// unreadable.
pub fn decode(text: Option<&str>) -> Vec<Attempt> {
    let Some(text) = text else {
        return Vec::new();
    };
    match serde_json::from_str::<Vec<Stored<'_>>>(text) {
        Ok(stored) => stored.into_iter().map(Stored::into_attempt).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "a record's attempt_list is not valid; shown without it");
            Vec::new()
        }
    }
}

/// An [`Attempt`] as stored, its latency kept as the JSON number's text:
/// serde_json's default float parsing may be one unit in the last place off,
/// while `str::parse` is exact, so a record reads back equal to what was
/// written. A latency that was not finite was written as `null` and reads
/// back as NaN.
#[derive(Deserialize)]
struct Stored<'a> {
    provider: String,
    model: String,
    status: Option<u16>,
    error_class: Option<String>,
    #[serde(borrow)]
    latency_ms: &'a RawValue,
}

impl Stored<'_> {
    fn into_attempt(self) -> Attempt {
        Attempt {
            provider: self.provider,
            model: self.model,
            status: self.status,
            error_class: self.error_class,
            latency_ms: self.latency_ms.get().parse().unwrap_or(f64::NAN),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(latency_ms: f64) -> Attempt {
        Attempt {
            provider: "a \"quoted\" name".into(),
            model: "m".into(),
            status: None,
            error_class: Some("upstream_connect".into()),
            latency_ms,
        }
    }

    #[test]
    fn no_attempts_are_null() {
        assert_eq!(encode(&[]), None);
        assert!(decode(None).is_empty());
    }

    #[test]
    fn latencies_read_back_exactly() {
        // 20094.430344342214 is one that serde_json's default (best-effort)
        // float parser reads back one unit in the last place off.
        let attempts: Vec<Attempt> = [20094.430344342214, 0.1 + 0.2, 5e-324, 1.0e300]
            .into_iter()
            .map(attempt)
            .collect();
        let text = encode(&attempts);
        assert_eq!(decode(text.as_deref()), attempts);
    }

    #[test]
    fn a_non_finite_latency_reads_back_as_nan() {
        let text = encode(&[attempt(f64::INFINITY)]);
        let back = decode(text.as_deref());
        assert_eq!(back.len(), 1);
        assert!(back[0].latency_ms.is_nan());
    }

    #[test]
    fn invalid_text_gives_no_attempts() {
        assert!(decode(Some("not json")).is_empty());
    }
}
