//! Kubernetes byte quantities.

use std::fmt;

use crate::error::ModelError;

/// A size in bytes, parsed from a Kubernetes quantity (`10Mi`, `1G`, `1.5Gi`, `1e6`, `4096`),
/// as `containerLogMaxSize` is. Fractional results are rounded up to a whole byte, as the
/// kubelet's `Quantity.Value()` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

const SUFFIXES: &[(&str, u128, u32)] = &[
    // (suffix, base, exponent): value = number * base^exponent
    ("Ki", 1024, 1),
    ("Mi", 1024, 2),
    ("Gi", 1024, 3),
    ("Ti", 1024, 4),
    ("Pi", 1024, 5),
    ("Ei", 1024, 6),
    ("k", 1000, 1),
    ("M", 1000, 2),
    ("G", 1000, 3),
    ("T", 1000, 4),
    ("P", 1000, 5),
    ("E", 1000, 6),
    ("", 1, 0),
];

impl ByteSize {
    /// The size in bytes.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Parses a Kubernetes quantity. Negative values and the sub-unit suffixes `m`, `u`, `n`
    /// are rejected: a byte count is a non-negative integer.
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let err = |reason| ModelError::InvalidByteSize {
            input: s.chars().take(64).collect(),
            reason,
        };
        let body = match s.as_bytes().first() {
            Some(b'-') => return Err(err("must not be negative")),
            Some(b'+') => &s[1..],
            _ => s,
        };
        let num_len = body
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let (num, suffix) = body.split_at(num_len);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(err("expected a number"));
        }
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        // mantissa = int.frac as an integer; value = mantissa * mult / 10^frac.len()
        let digits = format!("{int}{frac}");
        let digits = digits.trim_start_matches('0');
        if digits.len() > 30 {
            return Err(err("too large"));
        }
        let mantissa: u128 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| err("expected a number"))?
        };
        let (mut num_scale, mut den_scale) = (1u128, 10u128.pow(frac.len() as u32));
        if let Some(&(_, base, exp)) = SUFFIXES.iter().find(|(x, _, _)| *x == suffix) {
            num_scale = base.pow(exp);
        } else if let Some(exp) = suffix.strip_prefix(['e', 'E']) {
            let e: i32 = exp.parse().map_err(|_| err("bad exponent"))?;
            if e.unsigned_abs() > 30 {
                return Err(err("exponent out of range"));
            }
            if e >= 0 {
                num_scale = 10u128.pow(e as u32);
            } else {
                den_scale *= 10u128.pow(e.unsigned_abs());
            }
        } else {
            return Err(err(
                "unknown suffix (use Ki, Mi, Gi, Ti, Pi, Ei, k, M, G, T, P, E)",
            ));
        }
        let scaled = mantissa
            .checked_mul(num_scale)
            .ok_or_else(|| err("too large"))?;
        let value = scaled.div_ceil(den_scale);
        u64::try_from(value).map(Self).map_err(|_| err("too large"))
    }
}

impl ByteSize {
    /// Parses a size the way go-humanize's `ParseBytes` does, as LogQL's bytes literals and
    /// `unwrap bytes()` read them: a decimal number (commas allowed) and a case-insensitive
    /// unit, decimal (`k`, `kB` = 1000) or binary (`Ki`, `KiB` = 1024), up to exa; the
    /// result is truncated to whole bytes.
    pub fn parse_humanize(s: &str) -> Result<Self, ModelError> {
        let err = |reason| ModelError::InvalidByteSize {
            input: s.chars().take(64).collect(),
            reason,
        };
        let t = s.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let value: f64 = num
            .replace(',', "")
            .parse()
            .map_err(|_| err("expected a number"))?;
        let pow = |k: i32| 1000f64.powi(k);
        let shift = |k: i32| 1024f64.powi(k);
        let mult = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "k" | "kb" => pow(1),
            "ki" | "kib" => shift(1),
            "m" | "mb" => pow(2),
            "mi" | "mib" => shift(2),
            "g" | "gb" => pow(3),
            "gi" | "gib" => shift(3),
            "t" | "tb" => pow(4),
            "ti" | "tib" => shift(4),
            "p" | "pb" => pow(5),
            "pi" | "pib" => shift(5),
            "e" | "eb" => pow(6),
            "ei" | "eib" => shift(6),
            _ => return Err(err("unknown unit")),
        };
        let total = value * mult;
        // 2^64 as f64: at or above it does not fit, as in go-humanize.
        if total >= 18_446_744_073_709_551_616.0 {
            return Err(err("too large"));
        }
        Ok(Self(total as u64))
    }
}

/// Prints the canonical Kubernetes form for bytes: the largest exact binary suffix, or the
/// plain number.
impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 6] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
        let mut v = self.0;
        let mut unit = None;
        for name in NAMES {
            if v >= 1024 && v % 1024 == 0 {
                v /= 1024;
                unit = Some(name);
            } else {
                break;
            }
        }
        write!(f, "{v}{}", unit.unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quantities() {
        let table: &[(&str, u64)] = &[
            ("0", 0),
            ("4096", 4096),
            ("10Mi", 10 << 20),
            ("1G", 1_000_000_000),
            ("1k", 1000),
            ("1Ki", 1024),
            ("1.5Gi", 3 << 29),
            ("0.5", 1),
            ("1e3", 1000),
            ("1E6", 1_000_000),
            ("15e-1", 2),
            ("+64Ki", 65536),
        ];
        for (input, want) in table {
            assert_eq!(ByteSize::parse(input).unwrap().0, *want, "{input}");
        }
        assert_eq!(ByteSize::parse("15Ei").unwrap().0, 15 << 60);
        for bad in [
            "", "-1", "10MB", "1m", "abc", ".", "1.2.3", "16Ei", "1e40", "Mi",
        ] {
            assert!(ByteSize::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn humanize_sizes() {
        let table: &[(&str, u64)] = &[
            ("42", 42),
            ("42b", 42),
            ("3k", 3000),
            ("250kB", 250_000),
            ("2.5KiB", 2560),
            ("5 MiB", 5 << 20),
            ("1.5GB", 1_500_000_000),
            ("1,000", 1000),
            ("1EiB", 1 << 60),
        ];
        for (input, want) in table {
            assert_eq!(ByteSize::parse_humanize(input).unwrap().0, *want, "{input}");
        }
        for bad in ["", "k", "1 parsec", "16EiB", "-1"] {
            assert!(ByteSize::parse_humanize(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn prints_canonically() {
        assert_eq!(ByteSize(10 << 20).to_string(), "10Mi");
        assert_eq!(ByteSize(1000).to_string(), "1000");
        assert_eq!(ByteSize(1536).to_string(), "1536");
        assert_eq!(ByteSize(0).to_string(), "0");
    }

    proptest! {
        #[test]
        fn print_parse_round_trip(n in any::<u64>()) {
            prop_assert_eq!(ByteSize::parse(&ByteSize(n).to_string()).unwrap().0, n);
        }

        #[test]
        fn never_panics(s in "[-+0-9.eEKMGTPkimu]{0,24}") {
            let _ = ByteSize::parse(&s);
        }
    }
}
