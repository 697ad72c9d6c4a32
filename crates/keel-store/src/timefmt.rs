//! Timestamps: records keep Unix milliseconds (portable across SQLite and
//! PostgreSQL); people read and type RFC 3339.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// RFC 3339 (UTC, millisecond precision) for display.
pub fn format_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// Parses a point in time: RFC 3339 (`2026-11-26T10:00:00Z`), or an age
/// before `now_ms` such as `90s`, `15m`, `2h`, `7d`.
pub fn parse_time(input: &str, now_ms: i64) -> Result<i64, String> {
    let s = input.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: i64 = num
        .parse()
        .map_err(|_| format!("'{input}' is neither RFC 3339 nor an age like 15m, 2h, 7d"))?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "'{input}': unknown unit '{unit}' (use s, m, h or d)"
            ))
        }
    };
    Ok(now_ms - n * unit_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_rfc3339() {
        let ms = parse_time("2026-11-26T10:00:00.250Z", 0).unwrap();
        assert_eq!(format_ms(ms), "2026-11-26T10:00:00.25Z");
    }

    #[test]
    fn parses_ages() {
        assert_eq!(
            parse_time("2h", 10_000_000).unwrap(),
            10_000_000 - 7_200_000
        );
        assert_eq!(parse_time("30s", 100_000).unwrap(), 70_000);
        assert!(parse_time("2 weeks", 0).is_err());
        assert!(parse_time("yesterday", 0).is_err());
    }
}
