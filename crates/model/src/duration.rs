//! Durations in Go's and Prometheus's syntaxes.

use std::fmt;

use crate::error::ModelError;

/// A signed duration in nanoseconds, parsed and printed the way Go's `time.Duration` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct GoDuration(pub i64);

const UNITS_GO: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

const UNITS_PROM: &[(&str, u64)] = &[
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
    ("w", 604_800_000_000_000),
    ("y", 31_536_000_000_000_000),
];

impl GoDuration {
    /// From nanoseconds.
    pub const fn from_nanos(n: i64) -> Self {
        Self(n)
    }

    /// From whole seconds (saturating).
    pub const fn from_secs(s: i64) -> Self {
        Self(s.saturating_mul(1_000_000_000))
    }

    /// Nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// As a `std` duration; negative durations become zero.
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_nanos(u64::try_from(self.0).unwrap_or(0))
    }

    /// Parses Go's syntax (`time.ParseDuration`): an optional sign, then one or more
    /// decimal numbers, each with an optional fraction and a unit among `ns us µs ms s m h`,
    /// e.g. `1h30m`, `1.5s`, `-500ms`. A bare `0` is allowed.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let err = |reason| ModelError::InvalidDuration {
            input: s.chars().take(64).collect(),
            reason,
        };
        let (neg, body) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        if body == "0" {
            return Ok(Self(0));
        }
        if body.is_empty() {
            return Err(err("empty"));
        }
        let total = parse_terms(body, UNITS_GO, true).map_err(err)?;
        signed(total, neg)
            .map(Self)
            .ok_or_else(|| err("out of range"))
    }

    /// Parses Prometheus's syntax (used by LogQL ranges and Loki's `since`): integers with
    /// units among `ms s m h d w y`, largest first, e.g. `1h30m`, `7d`. No sign, no fraction.
    pub fn parse_prometheus(s: &str) -> Result<Self, ModelError> {
        let err = |reason| ModelError::InvalidDuration {
            input: s.chars().take(64).collect(),
            reason,
        };
        if s == "0" {
            return Ok(Self(0));
        }
        if s.is_empty() {
            return Err(err("empty"));
        }
        let total = parse_terms(s, UNITS_PROM, false).map_err(err)?;
        signed(total, false)
            .map(Self)
            .ok_or_else(|| err("out of range"))
    }
}

fn signed(total: u128, neg: bool) -> Option<i64> {
    if neg {
        if total > i64::MAX as u128 + 1 {
            return None;
        }
        Some((total as i128).wrapping_neg() as i64)
    } else {
        i64::try_from(total).ok()
    }
}

/// Parses `<number><unit>` terms. Go allows fractions and any unit order; Prometheus asks
/// for integers with each unit at most once, largest first.
fn parse_terms(mut s: &str, units: &[(&str, u64)], go: bool) -> Result<u128, &'static str> {
    let mut total: u128 = 0;
    let mut last_unit = u64::MAX;
    while !s.is_empty() {
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let (int, rest) = s.split_at(int_len);
        let (frac, rest) = match rest.strip_prefix('.') {
            Some(r) if go => {
                let n = r.bytes().take_while(u8::is_ascii_digit).count();
                r.split_at(n)
            }
            Some(_) => return Err("fractions are not allowed"),
            None => ("", rest),
        };
        if int.is_empty() && frac.is_empty() {
            return Err("expected a number");
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let (unit, rest) = rest.split_at(unit_len);
        let Some(&(_, mult)) = units.iter().find(|(u, _)| *u == unit) else {
            return Err(if unit.is_empty() {
                "missing unit"
            } else {
                "unknown unit"
            });
        };
        if !go {
            if mult >= last_unit {
                return Err("units must be given largest first, each once");
            }
            last_unit = mult;
        }
        let whole: u128 = if int.is_empty() {
            0
        } else {
            int.parse::<u128>().map_err(|_| "out of range")?
        };
        let mut v = whole.checked_mul(u128::from(mult)).ok_or("out of range")?;
        let mut scale = u128::from(mult);
        for d in frac.bytes() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            v += u128::from(d - b'0') * scale;
        }
        total = total.checked_add(v).ok_or("out of range")?;
        if total > u128::from(u64::MAX) {
            return Err("out of range");
        }
        s = rest;
    }
    Ok(total)
}

/// Prints like Go's `Duration.String()`: `1h30m0s`, `15.004s`, `500ms`, `1.5µs`, `0s`.
impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn frac(f: &mut fmt::Formatter<'_>, v: u64, prec: u32) -> fmt::Result {
            let p = 10u64.pow(prec);
            write!(f, "{}", v / p)?;
            let rest = v % p;
            if rest != 0 {
                let digits = format!("{:0width$}", rest, width = prec as usize);
                write!(f, ".{}", digits.trim_end_matches('0'))?;
            }
            Ok(())
        }
        if self.0 < 0 {
            f.write_str("-")?;
        }
        let u = self.0.unsigned_abs();
        if u == 0 {
            return f.write_str("0s");
        }
        if u < 1_000_000_000 {
            let (prec, unit) = match u {
                0..=999 => (0, "ns"),
                1_000..=999_999 => (3, "µs"),
                _ => (6, "ms"),
            };
            frac(f, u, prec)?;
            return f.write_str(unit);
        }
        let mins = u / 60_000_000_000;
        let (hours, mins) = (mins / 60, mins % 60);
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if hours > 0 || mins > 0 {
            write!(f, "{mins}m")?;
        }
        frac(f, u % 60_000_000_000, 9)?;
        f.write_str("s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn go_syntax() {
        let table: &[(&str, i64)] = &[
            ("0", 0),
            ("1h30m", 5_400_000_000_000),
            ("500ms", 500_000_000),
            ("1.5s", 1_500_000_000),
            (".5s", 500_000_000),
            ("1.s", 1_000_000_000),
            ("-2m", -120_000_000_000),
            ("+3s", 3_000_000_000),
            ("1µs", 1_000),
            ("1us2ns", 1_002),
            ("2562047h47m16.854775807s", i64::MAX),
            ("-2562047h47m16.854775808s", i64::MIN),
        ];
        for (input, want) in table {
            assert_eq!(GoDuration::parse(input).unwrap().0, *want, "{input}");
        }
        for bad in [
            "",
            "-",
            "1",
            "1d",
            "h",
            "1.5",
            "1h 30m",
            "2562047h47m16.854775808s",
            ".s",
        ] {
            assert!(GoDuration::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prometheus_syntax() {
        assert_eq!(
            GoDuration::parse_prometheus("1h30m").unwrap().0,
            5_400_000_000_000
        );
        assert_eq!(
            GoDuration::parse_prometheus("7d").unwrap().0,
            604_800_000_000_000
        );
        assert_eq!(
            GoDuration::parse_prometheus("1y").unwrap().0,
            31_536_000_000_000_000
        );
        for bad in ["1.5h", "30m1h", "1m1m", "-1s", "5", "1us"] {
            assert!(GoDuration::parse_prometheus(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prints_like_go() {
        let table: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (500_000_000, "500ms"),
            (15_004_000_000, "15.004s"),
            (60_000_000_000, "1m0s"),
            (5_400_000_000_000, "1h30m0s"),
            (-1_500_000_000, "-1.5s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ];
        for (n, want) in table {
            assert_eq!(GoDuration(*n).to_string(), *want);
        }
    }

    proptest! {
        #[test]
        fn print_parse_round_trip(n in any::<i64>()) {
            prop_assert_eq!(GoDuration::parse(&GoDuration(n).to_string()).unwrap().0, n);
        }

        #[test]
        fn never_panics(s in ".{0,30}") {
            let _ = GoDuration::parse(&s);
            let _ = GoDuration::parse_prometheus(&s);
        }
    }
}
