//! Durations and byte sizes as LogQL writes them, and their canonical printed forms.

use std::fmt;

use kelp_model::{ByteSize, GoDuration};

const NANOS_PER_MILLI: i64 = 1_000_000;

/// Prometheus units, largest first, in milliseconds.
const PROM_UNITS: &[(&str, u64)] = &[
    ("y", 365 * 24 * 3_600_000),
    ("w", 7 * 24 * 3_600_000),
    ("d", 24 * 3_600_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

/// A duration literal outside `[...]`: Prometheus syntax first, then Go's, as Loki does.
pub(crate) fn parse_duration(s: &str) -> Option<GoDuration> {
    GoDuration::parse_prometheus(s)
        .or_else(|_| GoDuration::parse(s))
        .ok()
}

/// A range (`[5m]`): Prometheus syntax only. The error reads like Go's.
pub(crate) fn parse_range(s: &str) -> Result<GoDuration, String> {
    GoDuration::parse_prometheus(s).map_err(|_| {
        let unknown = s
            .split(|c: char| c.is_ascii_digit() || c == '.')
            .find(|unit| !unit.is_empty() && !PROM_UNITS.iter().any(|(u, _)| u == unit));
        match unknown {
            Some(unit) => format!("unknown unit {unit:?} in duration {s:?}"),
            None => format!("not a valid duration string: {s:?}"),
        }
    })
}

/// A byte size the way go-humanize's `ParseBytes` reads it (`250kB`, `2.5KiB`, `3G`).
pub(crate) fn parse_bytes(s: &str) -> Option<u64> {
    ByteSize::parse_humanize(s).ok().map(ByteSize::as_u64)
}

/// Prints a duration so that the lexer reads it back exactly: Prometheus style (`1h30m`,
/// `500ms`) when it is a whole number of milliseconds, Go style (`1.5µs`) otherwise.
pub(crate) fn fmt_duration(d: GoDuration, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let nanos = d.as_nanos();
    let abs = nanos.unsigned_abs();
    if abs % NANOS_PER_MILLI as u64 != 0 {
        return write!(f, "{d}");
    }
    if nanos < 0 {
        f.write_str("-")?;
    }
    fmt_millis(abs / NANOS_PER_MILLI as u64, f)
}

fn fmt_millis(mut ms: u64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if ms == 0 {
        return f.write_str("0s");
    }
    for (unit, size) in PROM_UNITS {
        if ms >= *size {
            write!(f, "{}{unit}", ms / size)?;
            ms %= size;
        }
    }
    Ok(())
}

/// Prints a byte size so that the lexer reads it back exactly: the largest binary unit that
/// divides it (`2KiB`), else bytes (`1500B`). Zero is `0KiB`, because Loki's lexer reads
/// `0B` as a binary-number prefix.
pub(crate) fn fmt_bytes(b: ByteSize, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let n = b.as_u64();
    if n == 0 {
        return f.write_str("0KiB");
    }
    for (k, unit) in [(5, "PiB"), (4, "TiB"), (3, "GiB"), (2, "MiB"), (1, "KiB")] {
        let size = 1u64 << (10 * k);
        if n % size == 0 {
            return write!(f, "{}{unit}", n / size);
        }
    }
    write!(f, "{n}B")
}

/// Adapts a formatting function to `Display`.
pub(crate) struct Show<T>(pub T, pub fn(T, &mut fmt::Formatter<'_>) -> fmt::Result);

impl<T: Copy> fmt::Display for Show<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.1)(self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_like_humanize() {
        let table: &[(&str, Option<u64>)] = &[
            ("1B", Some(1)),
            ("250kB", Some(250_000)),
            ("250KB", Some(250_000)),
            ("2.5KiB", Some(2560)),
            ("200MiB", Some(200 << 20)),
            ("10GB", Some(10_000_000_000)),
            ("3K", Some(3000)),
            ("1Ki", Some(1024)),
            ("1.5B", Some(1)),
            ("5Bk", None),
            ("10000PB", Some(10_000_000_000_000_000_000)),
            ("20000PB", None),
        ];
        for (input, want) in table {
            assert_eq!(parse_bytes(input), *want, "{input}");
        }
    }

    #[test]
    fn printed_forms() {
        let d = |ns: i64| Show(GoDuration(ns), fmt_duration).to_string();
        assert_eq!(d(0), "0s");
        assert_eq!(d(5_400_000_000_000), "1h30m");
        assert_eq!(d(-300_000_000_000), "-5m");
        assert_eq!(d(1_500), "1.5µs");
        assert_eq!(d(8 * 86_400_000_000_000), "1w1d");
        let b = |n: u64| Show(ByteSize(n), fmt_bytes).to_string();
        assert_eq!(b(0), "0KiB");
        assert_eq!(b(2560), "2560B");
        assert_eq!(b(3 << 20), "3MiB");
    }

    #[test]
    fn range_errors_read_like_go() {
        assert_eq!(
            parse_range("5minutes").unwrap_err(),
            r#"unknown unit "minutes" in duration "5minutes""#
        );
        assert_eq!(
            parse_range("1.5m").unwrap_err(),
            r#"not a valid duration string: "1.5m""#
        );
        assert!(parse_range("1h30m").is_ok());
    }
}
