//! Kubernetes `resource.Quantity` canonical strings for metrics (spec §5.4), and the
//! values `kubectl top` derives from them (§5.5).
//!
//! - CPU is a quantity of nanocores at scale −9, DecimalSI: trailing decimal zeros are
//!   removed, the exponent is lowered to a multiple of 3 and named (`n`, `u`, `m`, none,
//!   `k`, …): `4281307n`, `12u`, `250m`, `1`, `1500m`.
//! - Memory is bytes, BinarySI: the largest power of 1024 that divides the value (`Ki`,
//!   `Mi`, … `Ei`), otherwise the plain number. Below 1024 apimachinery switches to
//!   DecimalSI, so `512` is `512` but `1000` is `1k` (working sets are never that small).
//! - Zero is `0`.

/// The canonical string of a CPU quantity of `nanocores`.
pub fn cpu(nanocores: u64) -> String {
    decimal_si(nanocores, -9)
}

/// The canonical string of a memory quantity of `bytes`.
pub fn memory(bytes: u64) -> String {
    if bytes < 1024 {
        return decimal_si(bytes, 0);
    }
    let (mut v, mut exp) = (bytes, 0usize);
    while v % 1024 == 0 && exp < BINARY.len() - 1 {
        v /= 1024;
        exp += 1;
    }
    format!("{v}{}", BINARY[exp])
}

const BINARY: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
/// DecimalSI suffixes for exponents −9, −6, … 18.
const DECIMAL: [(i32, &str); 10] = [
    (-9, "n"),
    (-6, "u"),
    (-3, "m"),
    (0, ""),
    (3, "k"),
    (6, "M"),
    (9, "G"),
    (12, "T"),
    (15, "P"),
    (18, "E"),
];

fn decimal_si(value: u64, scale: i32) -> String {
    if value == 0 {
        return "0".into();
    }
    let (mut v, mut exp) = (u128::from(value), scale);
    while v % 10 == 0 {
        v /= 10;
        exp += 1;
    }
    let down = exp.rem_euclid(3);
    v *= 10u128.pow(down as u32);
    exp -= down;
    let suffix = DECIMAL
        .iter()
        .find(|(e, _)| *e == exp)
        .map_or("", |(_, s)| s);
    format!("{v}{suffix}")
}

/// Nanocores from a CPU quantity string with a DecimalSI suffix (`250m`, `1`, `12u`,
/// `4281307n`, `2k`); `None` when it is not one or does not fit.
pub fn parse_cpu(s: &str) -> Option<u64> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let v: u128 = s[..digits].parse().ok()?;
    let (exp, _) = DECIMAL.iter().find(|(_, x)| *x == &s[digits..])?;
    let shift = exp + 9;
    u64::try_from(v.checked_mul(10u128.checked_pow(shift as u32)?)?).ok()
}

/// Bytes from a memory quantity string (`47132Ki`, `48263169`, `1k`); `None` when it is
/// not one or does not fit.
pub fn parse_memory(s: &str) -> Option<u64> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let v: u128 = s[..digits].parse().ok()?;
    let suffix = &s[digits..];
    let mult = match BINARY.iter().position(|b| *b == suffix) {
        Some(i) => 1024u128.pow(i as u32),
        None => {
            let (exp, _) = DECIMAL.iter().find(|(e, x)| *x == suffix && *e >= 0)?;
            10u128.pow(*exp as u32)
        }
    };
    u64::try_from(v.checked_mul(mult)?).ok()
}

/// `Quantity.MilliValue()` of a CPU quantity: millicores rounded up (`8230452n` → 9).
pub fn cpu_millis(nanocores: u64) -> u64 {
    nanocores.div_ceil(1_000_000)
}

/// What `kubectl top` prints for memory: whole mebibytes, rounded down.
pub fn memory_mebibytes(bytes: u64) -> u64 {
    bytes / (1024 * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_strings() {
        for (n, s) in [
            (0, "0"),
            (4_281_307, "4281307n"),
            (12_000, "12u"),
            (250_000_000, "250m"),
            (1_000_000_000, "1"),
            (1_500_000_000, "1500m"),
            (20_000_000, "20m"),
            (187_263_491, "187263491n"),
            (100_000, "100u"),
            (10, "10n"),
            (2_000_000_000_000, "2k"),
        ] {
            assert_eq!(cpu(n), s, "{n}");
            assert_eq!(parse_cpu(s), Some(n), "{s}");
        }
        for (b, s) in [
            (0, "0"),
            (512, "512"),
            (1000, "1k"),
            (1023, "1023"),
            (1024, "1Ki"),
            (48_263_168, "47132Ki"),
            (48_263_169, "48263169"),
            (1_878_544_384, "1834516Ki"),
            (1 << 30, "1Gi"),
            (3 << 20, "3Mi"),
        ] {
            assert_eq!(memory(b), s, "{b}");
            assert_eq!(parse_memory(s), Some(b), "{s}");
        }
        assert_eq!(cpu_millis(8_230_452), 9);
        assert_eq!(cpu_millis(187_263_491), 188);
        assert_eq!(cpu_millis(20_000_000), 20);
        assert_eq!(memory_mebibytes(48_263_168), 46);
        for bad in ["", "m", "1x", "1.5", "-1", "1Ki"] {
            assert_eq!(parse_cpu(bad), None, "{bad}");
        }
        for bad in ["", "Ki", "1m", "1KiB", "-1"] {
            assert_eq!(parse_memory(bad), None, "{bad}");
        }
    }
}
