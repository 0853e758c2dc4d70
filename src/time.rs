//! Calendar arithmetic on `SystemTime` for the formats the crate writes and reads (HTTP
//! dates, RFC 3339 records and configuration dates). No clock is read here: every time
//! comes from the caller.
//!
//! The day-count conversions are Howard Hinnant's `days_from_civil` / `civil_from_days`
//! for the proleptic Gregorian calendar; callers keep years within 0..=9999 (the RFC 3339
//! range), where every intermediate value is far inside `i64`.

// Every caller passes day counts derived from 64-bit second counts (|days| < 2^47) or
// years of four digits, so no intermediate below exceeds 2^60: plain arithmetic is safe.
#![allow(clippy::arithmetic_side_effects)]

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

/// Parses an HTTP `Date` value in any form real senders use: RFC 7231 §7.1.1.1's
/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), obsolete RFC 850
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`), and the
/// RFC 5322 date-time that mail-derived AS2 products write (`Mon, 11 Jul 2022 23:36:06
/// +0000`, one-digit days, no day name, no seconds, `UT`/`EST`-style zones, a trailing
/// `(comment)`). The day name, when present, must be a day name but is not checked
/// against the date. `None` for anything else.
pub(crate) fn parse_http_date(text: &str) -> Option<SystemTime> {
    // A trailing comment such as `+0000 (UTC)`.
    let text = text.split('(').next().unwrap_or_default();
    let mut tokens: Vec<&str> = text
        .split(|c: char| c.is_ascii_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.first().is_some_and(|t| is_day_name(t)) {
        tokens.remove(0);
    }
    // RFC 850's `06-Nov-94` is three tokens.
    if let Some(first) = tokens.first().copied()
        && first.contains('-')
        && !first.starts_with('-')
    {
        let parts: Vec<&str> = first.split('-').collect();
        if parts.len() != 3 {
            return None;
        }
        tokens.splice(0..1, parts);
    }
    let (day, month, year, time, zone) = match tokens.as_slice() {
        // asctime: month day time year.
        [month, day, time, year] if month_number(month).is_some() => {
            (*day, *month, *year, *time, None)
        }
        [day, month, year, time, zone] => (*day, *month, *year, *time, Some(*zone)),
        _ => return None,
    };
    let day = number(day, 1, 2)?;
    let month = month_number(month)?;
    let year = match year.len() {
        4 => number(year, 4, 4)?,
        // RFC 5322 §4.3: two digits below 50 are 20xx, others 19xx; three digits add 1900.
        2 => number(year, 2, 2).map(|y| if y < 50 { 2000 + y } else { 1900 + y })?,
        3 => number(year, 3, 3)? + 1900,
        _ => return None,
    };
    let mut clock = time.split(':');
    let hour = number(clock.next()?, 1, 2)?;
    let minute = number(clock.next()?, 2, 2)?;
    let second = match clock.next() {
        Some(s) => number(s, 2, 2)?,
        None => 0,
    };
    if clock.next().is_some()
        || !(1900..=9999).contains(&year)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let offset = match zone {
        None => 0,
        Some(zone) => zone_offset(zone)?,
    };
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    from_unix_seconds(secs)
}

/// Checks a request's `Date` header: absent or parseable by [`parse_http_date`] is fine;
/// anything else is [`Error::UnsupportedDateFormat`](crate::Error::UnsupportedDateFormat)
/// (`INVALID_REQUEST`, the reference's `Unsupported date format: ...`) unless
/// `limits.accept_malformed_date` is set for lenient partners.
pub(crate) fn check_date_header(
    value: Option<&[u8]>,
    limits: &crate::limits::Limits,
) -> Result<(), crate::error::Error> {
    let Some(value) = value else {
        return Ok(());
    };
    if limits.accept_malformed_date {
        return Ok(());
    }
    let text = String::from_utf8_lossy(value);
    if parse_http_date(text.trim()).is_some() {
        return Ok(());
    }
    // The partner's text goes into records and logs: printable and bounded.
    let shown: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(MAX_SHOWN_DATE_CHARS)
        .collect();
    Err(crate::error::Error::UnsupportedDateFormat(shown))
}

/// The most characters of a malformed `Date` value quoted in the error.
const MAX_SHOWN_DATE_CHARS: usize = 100;

fn is_day_name(token: &str) -> bool {
    const DAYS: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let lower = token.to_ascii_lowercase();
    DAYS.iter()
        .any(|d| lower == *d || (lower.len() == 3 && d.starts_with(lower.as_str())))
}

fn month_number(token: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let lower = token.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| *m == lower)
        .and_then(|i| i64::try_from(i).ok())
        .map(|i| i + 1)
}

/// `min..=max` ASCII digits as a number.
fn number(token: &str, min: usize, max: usize) -> Option<i64> {
    if !(min..=max).contains(&token.len()) || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

/// A zone's offset east of UTC in seconds: `+hhmm`/`-hhmm`, or an RFC 5322 §4.3 name.
fn zone_offset(zone: &str) -> Option<i64> {
    if let Some(sign) = zone
        .strip_prefix('+')
        .map(|z| (1, z))
        .or_else(|| zone.strip_prefix('-').map(|z| (-1, z)))
    {
        let (sign, digits) = sign;
        let value = number(digits, 4, 4)?;
        let (hours, minutes) = (value / 100, value % 100);
        if hours > 23 || minutes > 59 {
            return None;
        }
        return Some(sign * (hours * 3600 + minutes * 60));
    }
    let hours = match zone.to_ascii_uppercase().as_str() {
        "GMT" | "UT" | "UTC" | "Z" => 0,
        "EDT" => -4,
        "EST" | "CDT" => -5,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" => -8,
        // RFC 5322 §4.3: other military zones are to be treated as -0000.
        military if military.len() == 1 && military.bytes().all(|b| b.is_ascii_alphabetic()) => 0,
        _ => return None,
    };
    Some(hours * 3600)
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
    fn http_dates_in_every_form_senders_use() {
        let t = |s: &str| parse_http_date(s).map(unix_seconds);
        // RFC 7231 §7.1.1.1's three examples are the same instant.
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 6 Nov 1994 03:49:37 -0500",
            "6 Nov 1994 09:49:37 +0100 (CET)",
            "Sun, 06 Nov 1994 03:49:37 EST",
            "sun, 06 nov 1994 08:49:37 gmt",
        ] {
            assert_eq!(t(form), Some(784_111_777), "{form}");
        }
        assert_eq!(t("Mon, 11 Jul 2022 23:36:06 +0000"), Some(1_657_582_566));
        assert_eq!(t("Mon, 11 Jul 2022 23:36 UT"), Some(1_657_582_560));
        for bad in [
            "2022/123/456T",
            "",
            "Sun, 06 Nov 1994",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 +25:00",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
            "2022-07-11T06:30:10Z",
            "Funday, 06 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
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
