//! Nanosecond timestamps and the textual forms Kubernetes and Loki use.
//!
//! The RFC 3339 parser is hand-written because it sits on the agent's hot path (every CRI
//! record starts with one); property tests check it against `chrono`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{excerpt, ModelError};

const NANOS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// A point in time: nanoseconds since the Unix epoch, UTC. Covers 1677-09-21 to 2262-04-11.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The earliest representable time.
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    /// The latest representable time.
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// From nanoseconds since the epoch.
    pub const fn from_unix_nanos(n: i64) -> Self {
        Self(n)
    }

    /// Nanoseconds since the epoch.
    pub const fn as_unix_nanos(self) -> i64 {
        self.0
    }

    /// From whole seconds since the epoch, saturating at the ends of the range.
    pub const fn from_unix_secs(s: i64) -> Self {
        Self(s.saturating_mul(NANOS_PER_SEC))
    }

    /// The current wall-clock time.
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    /// Parses RFC 3339 as the kubelet does (`RFC3339NanoLenient`): `YYYY-MM-DDTHH:MM:SS`,
    /// an optional fraction of any length (digits past the ninth are dropped), and `Z` or
    /// `±hh:mm`. Calendar fields are range-checked.
    pub fn parse_rfc3339(s: &[u8]) -> Result<Self, ModelError> {
        parse_rfc3339(s).map_err(|(offset, reason)| ModelError::InvalidTimestamp {
            input: excerpt(s),
            offset,
            reason,
        })
    }

    /// Parses a Loki `start`/`end`/`time` parameter: float Unix seconds when it has a `.`
    /// (fraction rounded to milliseconds), an integer of at most 10 characters as Unix
    /// seconds, a longer integer as Unix nanoseconds, otherwise RFC 3339.
    pub fn parse_loki(s: &str) -> Result<Self, ModelError> {
        if s.contains('.') {
            if let Ok(f) = s.parse::<f64>() {
                let secs = f.trunc();
                if f.is_finite() && secs.abs() < 9.2e9 {
                    let millis = ((f - secs) * 1000.0).round() as i64;
                    return Ok(Self(secs as i64 * NANOS_PER_SEC + millis * 1_000_000));
                }
            }
        }
        if let Ok(n) = s.parse::<i64>() {
            return Ok(if s.len() <= 10 {
                Self::from_unix_secs(n)
            } else {
                Self(n)
            });
        }
        Self::parse_rfc3339(s.as_bytes())
    }

    /// Parses a Unix timestamp in the given unit: an optional sign, digits, and for
    /// [`UnixUnit::Secs`] and [`UnixUnit::Millis`] an optional fraction (kept to the
    /// nanosecond, further digits dropped). Out-of-range values are errors.
    pub fn parse_unix(s: &str, unit: UnixUnit) -> Result<Self, ModelError> {
        let err = |offset, reason| ModelError::InvalidTimestamp {
            input: excerpt(s.as_bytes()),
            offset,
            reason,
        };
        let (neg, body) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let sign_len = s.len() - body.len();
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let digits_ok = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || !digits_ok(int) {
            return Err(err(sign_len, "expected digits"));
        }
        if !digits_ok(frac) || (body.contains('.') && (frac.is_empty() || unit == UnixUnit::Nanos))
        {
            return Err(err(sign_len + int.len(), "bad fraction"));
        }
        let per_unit: i128 = match unit {
            UnixUnit::Secs => 1_000_000_000,
            UnixUnit::Millis => 1_000_000,
            UnixUnit::Nanos => 1,
        };
        let whole: i128 = int.parse().map_err(|_| err(sign_len, "out of range"))?;
        let mut nanos = whole * per_unit;
        let mut scale = per_unit;
        for d in frac.bytes() {
            scale /= 10;
            nanos += i128::from(d - b'0') * scale;
        }
        let nanos = if neg { -nanos } else { nanos };
        i64::try_from(nanos)
            .map(Self)
            .map_err(|_| err(0, "out of the representable range (1677..2262)"))
    }

    /// Parses what a user may type for a point in time: RFC 3339, or a Unix timestamp
    /// whose unit is told by its magnitude as most tools do (up to 10 integer digits:
    /// seconds, up to 13: milliseconds, more: nanoseconds).
    pub fn parse_any(s: &str) -> Result<Self, ModelError> {
        if s.contains('T') {
            return Self::parse_rfc3339(s.as_bytes());
        }
        let int_digits = s
            .trim_start_matches(['-', '+'])
            .split('.')
            .next()
            .unwrap_or("")
            .len();
        let unit = match int_digits {
            0..=10 => UnixUnit::Secs,
            11..=13 => UnixUnit::Millis,
            _ => UnixUnit::Nanos,
        };
        Self::parse_unix(s, unit)
    }

    /// Go's `RFC3339Nano` as containerd writes it: UTC, `Z`, fraction with trailing zeros
    /// trimmed and left out when zero (`2024-06-01T12:00:00.5Z`).
    pub fn to_rfc3339_nano(self) -> String {
        self.format(Fraction::Trimmed)
    }

    /// The fixed form `kubectl logs --timestamps` prints: always nine fraction digits
    /// (`2024-06-01T12:00:00.500000000Z`).
    pub fn to_rfc3339_fixed(self) -> String {
        self.format(Fraction::Fixed)
    }

    /// Whole seconds only, as metrics.k8s.io prints timestamps (`2024-06-01T12:00:00Z`).
    pub fn to_rfc3339_secs(self) -> String {
        self.format(Fraction::None)
    }

    /// Appends [`Self::to_rfc3339_nano`] to `out` without allocating.
    pub fn write_rfc3339_nano(self, out: &mut Vec<u8>) {
        let mut buf = [0u8; 40];
        let n = self.format_into(Fraction::Trimmed, &mut buf);
        out.extend_from_slice(&buf[..n]);
    }

    fn format(self, frac: Fraction) -> String {
        let mut buf = [0u8; 40];
        let n = self.format_into(frac, &mut buf);
        // The buffer holds only ASCII digits and punctuation.
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    fn format_into(self, frac: Fraction, buf: &mut [u8; 40]) -> usize {
        fn put(buf: &mut [u8], at: usize, width: usize, mut v: u32) {
            for i in (at..at + width).rev() {
                buf[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        }
        let secs = self.0.div_euclid(NANOS_PER_SEC);
        let nanos = self.0.rem_euclid(NANOS_PER_SEC) as u32;
        let days = secs.div_euclid(SECS_PER_DAY);
        let sod = secs.rem_euclid(SECS_PER_DAY) as u32;
        let (y, m, d) = civil_from_days(days);
        // Years of the i64 range have four digits (1677..=2262).
        buf[..20].copy_from_slice(b"0000-00-00T00:00:00Z");
        put(buf, 0, 4, y as u32);
        put(buf, 5, 2, m);
        put(buf, 8, 2, d);
        put(buf, 11, 2, sod / 3600);
        put(buf, 14, 2, sod / 60 % 60);
        put(buf, 17, 2, sod % 60);
        let mut n = 19;
        let width = match frac {
            Fraction::None => 0,
            Fraction::Fixed => 9,
            Fraction::Trimmed if nanos == 0 => 0,
            Fraction::Trimmed => 9 - nanos.trailing_zeros_decimal(),
        };
        if width > 0 {
            buf[n] = b'.';
            put(buf, n + 1, width, nanos / 10u32.pow((9 - width) as u32));
            n += 1 + width;
        }
        buf[n] = b'Z';
        n + 1
    }
}

trait TrailingZerosDecimal {
    fn trailing_zeros_decimal(self) -> usize;
}

impl TrailingZerosDecimal for u32 {
    /// Decimal trailing zeros of a non-zero value.
    fn trailing_zeros_decimal(mut self) -> usize {
        let mut n = 0;
        while self % 10 == 0 && n < 9 {
            self /= 10;
            n += 1;
        }
        n
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339_nano())
    }
}

/// The unit of a Unix timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnixUnit {
    /// Seconds since the epoch.
    Secs,
    /// Milliseconds since the epoch.
    Millis,
    /// Nanoseconds since the epoch.
    Nanos,
}

#[derive(Clone, Copy)]
enum Fraction {
    None,
    Fixed,
    Trimmed,
}

type ParseErr = (usize, &'static str);

#[inline]
fn digits(s: &[u8], at: usize, n: usize, what: &'static str) -> Result<u32, ParseErr> {
    let mut v = 0u32;
    for i in at..at + n {
        match s.get(i) {
            Some(b) if b.is_ascii_digit() => v = v * 10 + u32::from(b - b'0'),
            _ => return Err((i.min(s.len()), what)),
        }
    }
    Ok(v)
}

#[inline]
fn expect(s: &[u8], at: usize, want: u8, what: &'static str) -> Result<(), ParseErr> {
    if s.get(at) == Some(&want) {
        Ok(())
    } else {
        Err((at.min(s.len()), what))
    }
}

fn parse_rfc3339(s: &[u8]) -> Result<Timestamp, ParseErr> {
    let year = digits(s, 0, 4, "expected a 4-digit year")?;
    expect(s, 4, b'-', "expected '-' after the year")?;
    let month = digits(s, 5, 2, "expected a 2-digit month")?;
    expect(s, 7, b'-', "expected '-' after the month")?;
    let day = digits(s, 8, 2, "expected a 2-digit day")?;
    expect(s, 10, b'T', "expected 'T' between date and time")?;
    let hour = digits(s, 11, 2, "expected a 2-digit hour")?;
    expect(s, 13, b':', "expected ':' after the hour")?;
    let min = digits(s, 14, 2, "expected 2-digit minutes")?;
    expect(s, 16, b':', "expected ':' after the minutes")?;
    let sec = digits(s, 17, 2, "expected 2-digit seconds")?;
    if !(1..=12).contains(&month) {
        return Err((5, "month out of range"));
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err((8, "day out of range"));
    }
    if hour > 23 {
        return Err((11, "hour out of range"));
    }
    if min > 59 {
        return Err((14, "minute out of range"));
    }
    if sec > 59 {
        return Err((17, "second out of range"));
    }
    let mut i = 19;
    let mut nanos = 0i64;
    if s.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        let mut scale = 100_000_000i64;
        while let Some(b) = s.get(i).filter(|b| b.is_ascii_digit()) {
            nanos += i64::from(b - b'0') * scale;
            scale /= 10;
            i += 1;
        }
        if i == start {
            return Err((i, "expected digits after '.'"));
        }
    }
    let offset_secs: i64 = match s.get(i) {
        Some(b'Z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = digits(s, i + 1, 2, "expected a 2-digit offset hour")?;
            expect(s, i + 3, b':', "expected ':' in the offset")?;
            let om = digits(s, i + 4, 2, "expected 2-digit offset minutes")?;
            if oh > 23 || om > 59 {
                return Err((i + 1, "offset out of range"));
            }
            let off = i64::from(oh * 3600 + om * 60);
            i += 6;
            if sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return Err((i.min(s.len()), "expected 'Z' or a numeric offset")),
    };
    if i != s.len() {
        return Err((i, "unexpected bytes after the timestamp"));
    }
    let days = days_from_civil(year as i64, month, day);
    let secs = days * SECS_PER_DAY + i64::from(hour * 3600 + min * 60 + sec) - offset_secs;
    secs.checked_mul(NANOS_PER_SEC)
        .and_then(|n| n.checked_add(nanos))
        .map(Timestamp)
        .ok_or((0, "out of the representable range (1677..2262)"))
}

fn is_leap(y: u32) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Result<i64, ModelError> {
        Timestamp::parse_rfc3339(s.as_bytes()).map(|t| t.0)
    }

    #[test]
    fn runtime_forms_parse() {
        // containerd (trimmed), conmon (9 digits, +00:00), no fraction, local offsets.
        assert_eq!(p("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(
            p("2024-06-01T12:00:00.5Z").unwrap(),
            1_717_243_200_500_000_000
        );
        assert_eq!(
            p("2024-06-01T12:00:00.000000001+00:00").unwrap(),
            1_717_243_200_000_000_001
        );
        assert_eq!(
            p("2024-06-01T20:00:00+08:00").unwrap(),
            p("2024-06-01T12:00:00Z").unwrap()
        );
        assert_eq!(
            p("2024-06-01T11:30:00-00:30").unwrap(),
            p("2024-06-01T12:00:00Z").unwrap()
        );
        // More than nine digits: the rest is dropped.
        assert_eq!(
            p("2024-06-01T12:00:00.1234567891Z").unwrap(),
            1_717_243_200_123_456_789
        );
        assert_eq!(p("1969-12-31T23:59:59.9Z").unwrap(), -100_000_000);
    }

    #[test]
    fn bad_forms_are_rejected_with_offsets() {
        let table: &[(&str, usize)] = &[
            ("", 0),
            ("2024-06-01", 10),
            ("2024-06-01 12:00:00Z", 10),
            ("2024-13-01T12:00:00Z", 5),
            ("2023-02-29T12:00:00Z", 8),
            ("2024-06-01T24:00:00Z", 11),
            ("2024-06-01T12:60:00Z", 14),
            ("2024-06-01T12:00:60Z", 17),
            ("2024-06-01T12:00:00", 19),
            ("2024-06-01T12:00:00.Z", 20),
            ("2024-06-01T12:00:00+0800", 22),
            ("2024-06-01T12:00:00Zx", 20),
            ("2024-06-01T12:00:00z", 19),
            ("9999-06-01T12:00:00Z", 0),
        ];
        for (input, offset) in table {
            match Timestamp::parse_rfc3339(input.as_bytes()) {
                Err(ModelError::InvalidTimestamp { offset: o, .. }) => {
                    assert_eq!(o, *offset, "{input:?}")
                }
                other => panic!("{input:?} gave {other:?}"),
            }
        }
        assert!(p("2024-02-29T00:00:00Z").is_ok());
    }

    #[test]
    fn formats() {
        let t = Timestamp(1_717_243_200_500_000_000);
        assert_eq!(t.to_rfc3339_nano(), "2024-06-01T12:00:00.5Z");
        assert_eq!(t.to_rfc3339_fixed(), "2024-06-01T12:00:00.500000000Z");
        assert_eq!(t.to_rfc3339_secs(), "2024-06-01T12:00:00Z");
        assert_eq!(Timestamp(0).to_rfc3339_nano(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp(-1).to_rfc3339_nano(),
            "1969-12-31T23:59:59.999999999Z"
        );
        assert_eq!(
            Timestamp::MIN.to_rfc3339_nano(),
            "1677-09-21T00:12:43.145224192Z"
        );
        assert_eq!(
            Timestamp::MAX.to_rfc3339_nano(),
            "2262-04-11T23:47:16.854775807Z"
        );
        let mut out = b"x ".to_vec();
        t.write_rfc3339_nano(&mut out);
        assert_eq!(out, b"x 2024-06-01T12:00:00.5Z");
    }

    #[test]
    fn loki_parameter_forms() {
        let table: &[(&str, i64)] = &[
            ("1700000000", 1_700_000_000_000_000_000),
            ("-1", -1_000_000_000),
            ("1700000000000000000", 1_700_000_000_000_000_000),
            ("17000000000", 17_000_000_000),
            ("1700000000.123456", 1_700_000_000_123_000_000),
            ("2024-05-01T12:00:00Z", 1_714_564_800_000_000_000),
        ];
        for (input, want) in table {
            assert_eq!(Timestamp::parse_loki(input).unwrap().0, *want, "{input}");
        }
        assert!(Timestamp::parse_loki("yesterday").is_err());
        assert!(Timestamp::parse_loki("").is_err());
    }

    #[test]
    fn unix_forms() {
        let table: &[(&str, UnixUnit, i64)] = &[
            ("1700000000", UnixUnit::Secs, 1_700_000_000_000_000_000),
            ("1700000000.25", UnixUnit::Secs, 1_700_000_000_250_000_000),
            ("-1.5", UnixUnit::Secs, -1_500_000_000),
            ("1700000000123", UnixUnit::Millis, 1_700_000_000_123_000_000),
            ("1.0000005", UnixUnit::Millis, 1_000_000),
            (
                "1700000000123456789",
                UnixUnit::Nanos,
                1_700_000_000_123_456_789,
            ),
        ];
        for (input, unit, want) in table {
            assert_eq!(
                Timestamp::parse_unix(input, *unit).unwrap().0,
                *want,
                "{input}"
            );
        }
        for (bad, unit) in [
            ("", UnixUnit::Secs),
            ("1.", UnixUnit::Secs),
            ("1.5", UnixUnit::Nanos),
            ("1e9", UnixUnit::Secs),
            ("9300000000", UnixUnit::Secs),
            ("x", UnixUnit::Millis),
        ] {
            assert!(Timestamp::parse_unix(bad, unit).is_err(), "{bad}");
        }
        let any = |s: &str| Timestamp::parse_any(s).unwrap().0;
        assert_eq!(any("1700000000"), 1_700_000_000_000_000_000);
        assert_eq!(any("1700000000123"), 1_700_000_000_123_000_000);
        assert_eq!(any("1700000000123456789"), 1_700_000_000_123_456_789);
        assert_eq!(any("2023-11-14T22:13:20Z"), 1_700_000_000_000_000_000);
    }

    proptest! {
        #[test]
        fn format_parse_round_trip(n in any::<i64>()) {
            let t = Timestamp(n);
            prop_assert_eq!(Timestamp::parse_rfc3339(t.to_rfc3339_nano().as_bytes()).unwrap(), t);
            prop_assert_eq!(Timestamp::parse_rfc3339(t.to_rfc3339_fixed().as_bytes()).unwrap(), t);
        }

        #[test]
        fn agrees_with_chrono(
            secs in -6_000_000_000i64..9_000_000_000i64,
            nanos in 0u32..1_000_000_000,
            offset_min in -(23 * 60 + 59)..(23 * 60 + 59),
            digits in 0usize..10,
        ) {
            use chrono::{DateTime, FixedOffset, SecondsFormat};
            let off = FixedOffset::east_opt(offset_min * 60).unwrap();
            let nanos = if digits == 0 { 0 } else { nanos / 10u32.pow(9 - digits as u32) * 10u32.pow(9 - digits as u32) };
            let dt = DateTime::from_timestamp(secs, nanos).unwrap().with_timezone(&off);
            let text = dt.to_rfc3339_opts(SecondsFormat::Nanos, false);
            let want = dt.timestamp_nanos_opt();
            prop_assume!(want.is_some());
            prop_assert_eq!(Timestamp::parse_rfc3339(text.as_bytes()).ok().map(|t| t.0), want);
            // And our formatter agrees with chrono's UTC form.
            let utc = dt.with_timezone(&chrono::Utc).to_rfc3339_opts(SecondsFormat::AutoSi, true);
            let ours = Timestamp(want.unwrap_or_default()).to_rfc3339_nano();
            prop_assert_eq!(
                Timestamp::parse_rfc3339(utc.as_bytes()).unwrap(),
                Timestamp::parse_rfc3339(ours.as_bytes()).unwrap()
            );
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40), text in "[-+0-9.TZ:]{0,30}") {
            let _ = Timestamp::parse_rfc3339(&bytes);
            let _ = Timestamp::parse_any(&text);
            let _ = Timestamp::parse_loki(&text);
            let _ = Timestamp::parse_any(&String::from_utf8_lossy(&bytes));
        }
    }
}
