//! Calendar arithmetic on `SystemTime` for the formats the crate writes and reads (HTTP
//! dates, RFC 3339 records and configuration dates). No clock is read here: every time
//! comes from the caller.
//!
//! The day-count conversions are Howard Hinnant's `days_from_civil` / `civil_from_days`
//! for the proleptic Gregorian calendar; callers keep years within 0..=9999 (the RFC 3339
//! range), where every intermediate value is far inside `i64`.

use std::time::{Duration, SystemTime};

/// Seconds since the Unix epoch (negative before it), saturating far outside any date
/// the crate handles.
pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// The time `secs` seconds after (or before, if negative) the Unix epoch.
pub(crate) fn from_unix_seconds(secs: i64) -> Option<SystemTime> {
    if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    }
}

/// Whole seconds since the epoch (negative before it) and the microseconds within the
/// second, flooring towards the past.
pub(crate) fn unix_micros(time: SystemTime) -> (i64, u32) {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => (
            i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
            after.subsec_micros(),
        ),
        Err(before) => {
            let before = before.duration();
            let secs = i64::try_from(before.as_secs()).unwrap_or(i64::MAX);
            let nanos = before.subsec_nanos();
            if nanos == 0 {
                (-secs, 0)
            } else {
                // 1.2 s before the epoch is -2 s + 0.8 s.
                (
                    (-secs).saturating_sub(1),
                    1_000_000_000u32.saturating_sub(nanos) / 1000,
                )
            }
        }
    }
}

/// Year, month (1..=12) and day (1..=31) of a day count from 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Days from 1970-01-01 to a date.
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The number of days in a month of a (proleptic Gregorian) year.
pub(crate) fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_counts_round_trip_and_agree_with_known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(days_from_civil(0, 1, 1), -719_528);
        assert_eq!(days_from_civil(9999, 12, 31), 2_932_896);
        for days in (-719_528..=2_932_896).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
        }
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(days_in_month(2000, 2), 29);
    }

    #[test]
    fn seconds_and_micros_floor_towards_the_past() {
        let t = SystemTime::UNIX_EPOCH - Duration::from_millis(1200);
        assert_eq!(unix_micros(t), (-2, 800_000));
        assert_eq!(
            unix_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(5)),
            5
        );
        assert_eq!(
            from_unix_seconds(-5),
            SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(5))
        );
    }
}
