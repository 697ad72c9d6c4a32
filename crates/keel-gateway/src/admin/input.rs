//! Reading and checking admin request bodies: every mistake is a 400 that
//! names its field, and nothing is written until the whole body is valid.

use bytes::Bytes;
use keel_store::governance::{Limits, Period};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::context::{invalid, AdminError};

/// The limit fields every team, user, key and model budget accepts.
pub const LIMIT_FIELDS: &[&str] = &[
    "rpm",
    "tpm",
    "budget_usd",
    "budget_tokens",
    "budget_period",
    "run_budget_usd",
];

/// Largest accepted USD limit: anything above is a typo.
const MAX_USD: f64 = 1e9;
/// Largest accepted token or request count.
const MAX_COUNT: u64 = 1_000_000_000_000;

/// The body as a JSON object, refusing fields not in `allowed`.
pub fn object(body: &Bytes, allowed: &[&str]) -> Result<Map<String, Value>, AdminError> {
    let value: Value = if body.is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body)
            .map_err(|e| invalid("body", format!("The body is not valid JSON: {e}")))?
    };
    let Value::Object(map) = value else {
        return Err(invalid("body", "The body must be a JSON object."));
    };
    if let Some(unknown) = map
        .keys()
        .find(|k| !allowed.contains(&k.as_str()) && !LIMIT_FIELDS.contains(&k.as_str()))
    {
        return Err(invalid(unknown, format!("Unknown field '{unknown}'.")));
    }
    Ok(map)
}

/// A field of `map` as `T`, if present and not null.
pub fn field<T: DeserializeOwned>(
    map: &Map<String, Value>,
    name: &str,
    expected: &str,
) -> Result<Option<T>, AdminError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|_| invalid(name, format!("'{name}' must be {expected}."))),
    }
}

/// A required, non-empty name of at most 128 characters.
pub fn name(map: &Map<String, Value>, field_name: &str) -> Result<String, AdminError> {
    let value: Option<String> = field(map, field_name, "a string")?;
    let value = value.map(|v| v.trim().to_owned()).unwrap_or_default();
    if value.is_empty() {
        return Err(invalid(field_name, format!("'{field_name}' is required.")));
    }
    if value.chars().count() > 128 || value.chars().any(char::is_control) {
        return Err(invalid(
            field_name,
            format!("'{field_name}' must be at most 128 printable characters."),
        ));
    }
    Ok(value)
}

/// `limits` with the limit fields of `map` applied: a number sets a limit,
/// `null` removes it, an absent field leaves it as it was.
pub fn apply_limits(limits: &Limits, map: &Map<String, Value>) -> Result<Limits, AdminError> {
    let mut out = limits.clone();
    let count = |name: &str| -> Result<Option<u64>, AdminError> {
        let n: Option<u64> = field(map, name, "a positive whole number")?;
        match n {
            Some(0) => Err(invalid(name, format!("'{name}' must be greater than 0."))),
            Some(n) if n > MAX_COUNT => Err(invalid(name, format!("'{name}' is too large."))),
            n => Ok(n),
        }
    };
    let usd = |name: &str| -> Result<Option<f64>, AdminError> {
        let n: Option<f64> = field(map, name, "a number of US dollars")?;
        match n {
            Some(v) if !v.is_finite() || v < 0.0 => {
                Err(invalid(name, format!("'{name}' must be zero or more.")))
            }
            Some(v) if v > MAX_USD => Err(invalid(name, format!("'{name}' is too large."))),
            v => Ok(v),
        }
    };
    if map.contains_key("rpm") {
        out.rpm = count("rpm")?;
    }
    if map.contains_key("tpm") {
        out.tpm = count("tpm")?;
    }
    if map.contains_key("budget_usd") {
        out.budget_usd = usd("budget_usd")?;
    }
    if map.contains_key("budget_tokens") {
        out.budget_tokens = count("budget_tokens")?;
    }
    if map.contains_key("run_budget_usd") {
        out.run_budget_usd = usd("run_budget_usd")?;
    }
    if map.contains_key("budget_period") {
        let text: Option<String> = field(map, "budget_period", "a string")?;
        out.budget_period = match text {
            None => None,
            Some(t) => Some(Period::parse(&t).ok_or_else(|| {
                invalid(
                    "budget_period",
                    format!("'{t}' is not a budget period: use daily, weekly, monthly or total."),
                )
            })?),
        };
    }
    if out.budget_period.is_some() && !out.has_budget() {
        return Err(invalid(
            "budget_period",
            "A budget period needs budget_usd or budget_tokens.",
        ));
    }
    Ok(out)
}

/// A point in time from `expires`: an RFC 3339 time or a duration from
/// now such as `30d` or `12h`.
pub fn expiry(text: &str, now_ms: i64) -> Result<i64, AdminError> {
    if let Some(ms) = duration_ms(text) {
        return Ok(now_ms + ms);
    }
    keel_store::timefmt::parse_time(text, now_ms)
        .ok()
        .filter(|&at| text.contains('T') && at > now_ms)
        .ok_or_else(|| {
            invalid(
                "expires",
                format!(
                    "'{text}' is neither a duration like 30d, 12h, 90m nor a future RFC 3339 time."
                ),
            )
        })
}

/// A duration such as `90s`, `15m`, `1h`, `30d`, in ms.
pub fn duration_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = text.split_at(split);
    let n: i64 = num.parse().ok()?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(unit_ms)
}
