//! Dates in partner configuration: RFC 3339 text (`2020-06-01`, `2020-06-01T12:00:00Z`,
//! `2020-06-01T14:00:00+02:00`) read into [`SystemTime`], and written back as
//! `YYYY-MM-DDTHH:MM:SSZ`.
//!
//! The reference service takes Active and Inactive Dates as calendar dates; a bare date
//! means midnight UTC at its start. TOML's native date and date-time values are accepted as
//! well as quoted strings, and a local time without offset is taken as UTC.

use core::fmt;
use std::time::SystemTime;

use crate::time::{
    civil_from_days, days_from_civil, days_in_month, from_unix_seconds, unix_seconds,
};

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserializer, Serializer};

/// Reads exactly `n` ASCII digits.
fn digits(text: &mut &[u8], n: usize) -> Option<u32> {
    let (head, rest) = text.split_at_checked(n)?;
    let mut value = 0u32;
    for b in head {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u32::from(b - b'0');
    }
    *text = rest;
    Some(value)
}

fn byte(text: &mut &[u8], expected: &[u8]) -> Option<u8> {
    let (&first, rest) = text.split_first()?;
    if expected.contains(&first) {
        *text = rest;
        Some(first)
    } else {
        None
    }
}

/// Parses an RFC 3339 date or date-time (see the module docs).
pub(crate) fn parse(text: &str) -> Option<SystemTime> {
    let mut t = text.trim().as_bytes();
    let year = i64::from(digits(&mut t, 4)?);
    byte(&mut t, b"-")?;
    let month = digits(&mut t, 2)?;
    byte(&mut t, b"-")?;
    let day = digits(&mut t, 2)?;
    if !(1..=12).contains(&month)
        || day == 0
        || i64::from(day) > days_in_month(year, i64::from(month))
    {
        return None;
    }
    let mut seconds = 0i64;
    let mut offset = 0i64;
    if !t.is_empty() {
        byte(&mut t, b"Tt ")?;
        let hour = digits(&mut t, 2)?;
        byte(&mut t, b":")?;
        let minute = digits(&mut t, 2)?;
        byte(&mut t, b":")?;
        // A leap second is read as the last second of the minute.
        let second = digits(&mut t, 2)?.min(59);
        if hour > 23 || minute > 59 {
            return None;
        }
        seconds = i64::from(hour * 3600 + minute * 60 + second);
        if byte(&mut t, b".").is_some() {
            let fraction = t.iter().take_while(|b| b.is_ascii_digit()).count();
            if fraction == 0 {
                return None;
            }
            t = t.get(fraction..)?;
        }
        match t.first() {
            None => {}
            Some(b'Z' | b'z') => t = t.get(1..)?,
            Some(b'+' | b'-') => {
                let sign = if byte(&mut t, b"+-")? == b'-' { -1 } else { 1 };
                let oh = digits(&mut t, 2)?;
                byte(&mut t, b":")?;
                let om = digits(&mut t, 2)?;
                if oh > 23 || om > 59 {
                    return None;
                }
                offset = sign * i64::from(oh * 3600 + om * 60);
            }
            Some(_) => return None,
        }
    }
    if !t.is_empty() {
        return None;
    }
    from_unix_seconds(
        days_from_civil(year, i64::from(month), i64::from(day)) * 86_400 + seconds - offset,
    )
}

/// A [`SystemTime`] shown as `YYYY-MM-DDTHH:MM:SSZ`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rfc3339(pub SystemTime);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = unix_seconds(self.0);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

/// The key under which the `toml` crate passes a native date-time through serde.
const TOML_DATETIME_KEY: &str = "$__toml_private_datetime";

struct DateVisitor;

impl<'de> Visitor<'de> for DateVisitor {
    type Value = SystemTime;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 date such as 2020-06-01 or 2020-06-01T00:00:00Z")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<SystemTime, E> {
        parse(value).ok_or_else(|| E::invalid_value(de::Unexpected::Str(value), &self))
    }

    /// TOML hands its native date-times over as a one-entry map holding the text under a
    /// private key.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SystemTime, A::Error> {
        match map.next_entry::<String, String>()? {
            Some((key, text)) if key == TOML_DATETIME_KEY => self.visit_str(&text),
            _ => Err(de::Error::invalid_type(de::Unexpected::Map, &self)),
        }
    }
}

struct OptionalDateVisitor;

impl<'de> Visitor<'de> for OptionalDateVisitor {
    type Value = Option<SystemTime>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 date or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(DateVisitor).map(Some)
    }
}

/// `#[serde(with = "...")]` support for `Option<SystemTime>` fields.
pub(crate) mod optional {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(
        value: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(t) => s.collect_str(&Rfc3339(*t)),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SystemTime>, D::Error> {
        d.deserialize_option(OptionalDateVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> SystemTime {
        from_unix_seconds(secs).unwrap()
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(parse("1970-01-01"), Some(at(0)));
        assert_eq!(parse("2020-06-01"), Some(at(1_590_969_600)));
        assert_eq!(parse("2020-06-01T00:00:00Z"), Some(at(1_590_969_600)));
        assert_eq!(parse("2020-06-01t01:02:03z"), Some(at(1_590_973_323)));
        assert_eq!(parse("2020-06-01T02:00:00+02:00"), Some(at(1_590_969_600)));
        assert_eq!(parse("2020-05-31T22:00:00-02:00"), Some(at(1_590_969_600)));
        assert_eq!(parse("2020-06-01 00:00:00.250Z"), Some(at(1_590_969_600)));
        assert_eq!(parse("2020-02-29"), Some(at(1_582_934_400)));
        assert_eq!(parse("1969-12-31T23:59:59Z"), Some(at(-1)));
    }

    #[test]
    fn rejects_nonsense() {
        for bad in [
            "",
            "2020",
            "2020-13-01",
            "2019-02-29",
            "2020-06-31",
            "2020-06-01T24:00:00Z",
            "2020-06-01T00:00Z",
            "2020-06-01T00:00:00.Z",
            "2020-06-01T00:00:00+0200",
            "2020-06-01X",
            "2020-06-01T00:00:00Zjunk",
            "２０２０-06-01",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_round_trip() {
        for secs in [
            0,
            1_590_969_600,
            1_609_372_800,
            1_704_067_200,
            -86_400,
            4_102_444_799,
        ] {
            let text = Rfc3339(at(secs)).to_string();
            assert_eq!(parse(&text), Some(at(secs)), "{text}");
        }
        assert_eq!(
            Rfc3339(at(1_609_372_800)).to_string(),
            "2020-12-31T00:00:00Z"
        );
    }
}
