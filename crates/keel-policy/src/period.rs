//! Budget periods in UTC: where the current one started and when it ends.

use keel_store::governance::Period;
use time::{Date, Duration, Month, OffsetDateTime, Time};

const DAY_MS: i64 = 86_400_000;

/// The UTC day (days since the epoch) of `ms`.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// The first day of the period containing `now_ms` (0 for `total`).
pub fn start_day(period: Period, now_ms: i64) -> i64 {
    let today = day_of(now_ms);
    match period {
        Period::Daily => today,
        // 1970-01-01 was a Thursday: Monday is 3 days before it.
        Period::Weekly => today - (today + 3).rem_euclid(7),
        Period::Monthly => {
            let date = date_of_day(today);
            let first = date.replace_day(1).unwrap_or(date);
            day_of_date(first)
        }
        Period::Total => 0,
    }
}

/// When the period containing `now_ms` ends (None for `total`), in ms.
pub fn resets_at_ms(period: Period, now_ms: i64) -> Option<i64> {
    let start = start_day(period, now_ms);
    let next = match period {
        Period::Daily => start + 1,
        Period::Weekly => start + 7,
        Period::Monthly => {
            let first = date_of_day(start);
            let (year, month) = match first.month() {
                Month::December => (first.year() + 1, Month::January),
                m => (first.year(), m.next()),
            };
            Date::from_calendar_date(year, month, 1)
                .map(day_of_date)
                .unwrap_or(start + 31)
        }
        Period::Total => return None,
    };
    Some(next * DAY_MS)
}

fn date_of_day(day: i64) -> Date {
    let epoch = Date::from_calendar_date(1970, Month::January, 1).unwrap_or(Date::MIN);
    epoch.checked_add(Duration::days(day)).unwrap_or(Date::MAX)
}

fn day_of_date(date: Date) -> i64 {
    let at = OffsetDateTime::new_utc(date, Time::MIDNIGHT);
    at.unix_timestamp().div_euclid(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-04 (a Friday) 18:00 UTC.
    const NOW: i64 = 1_796_407_200_000;

    #[test]
    fn periods_start_and_reset_on_utc_boundaries() {
        let day = day_of(NOW);
        assert_eq!(
            keel_store::timefmt::format_ms(day * DAY_MS),
            "2026-12-04T00:00:00Z"
        );
        let monday = start_day(Period::Weekly, NOW);
        assert_eq!(
            keel_store::timefmt::format_ms(monday * DAY_MS),
            "2026-11-30T00:00:00Z"
        );
        let first = start_day(Period::Monthly, NOW);
        assert_eq!(
            keel_store::timefmt::format_ms(first * DAY_MS),
            "2026-12-01T00:00:00Z"
        );
        let fmt = |p| keel_store::timefmt::format_ms(resets_at_ms(p, NOW).unwrap());
        assert_eq!(fmt(Period::Daily), "2026-12-05T00:00:00Z");
        assert_eq!(fmt(Period::Weekly), "2026-12-07T00:00:00Z");
        assert_eq!(fmt(Period::Monthly), "2027-01-01T00:00:00Z");
        assert_eq!(resets_at_ms(Period::Total, NOW), None);
        assert_eq!(start_day(Period::Total, NOW), 0);
    }
}
