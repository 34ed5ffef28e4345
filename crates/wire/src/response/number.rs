//! Number formats Grafana and logcli parse strictly (spec §3.3).

use serde::ser::SerializeTuple;
use serde::{Serialize, Serializer};

/// A metric sample: a millisecond timestamp and a value, serialized as Loki does,
/// `[<seconds, at most 3 decimals>, "<value>"]`, for example `[1714557660.5,"4.25"]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Milliseconds since the epoch.
    pub t_ms: i64,
    /// The value.
    pub value: f64,
}

impl Point {
    /// A point at `t_ms` milliseconds.
    pub fn new(t_ms: i64, value: f64) -> Self {
        Self { t_ms, value }
    }
}

impl Serialize for Point {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(2)?;
        if self.t_ms % 1000 == 0 {
            t.serialize_element(&(self.t_ms / 1000))?;
        } else {
            // The shortest form that round-trips has at most 3 decimals here.
            t.serialize_element(&(self.t_ms as f64 / 1000.0))?;
        }
        t.serialize_element(&format_value(self.value))?;
        t.end()
    }
}

/// Formats a sample value as Go's `strconv.FormatFloat(v, 'f', -1, 64)`: the shortest
/// decimal that round-trips, never an exponent; `NaN`, `+Inf`, `-Inf`.
///
/// ```
/// use kelp_wire::response::format_value;
/// assert_eq!(format_value(0.1), "0.1");
/// assert_eq!(format_value(2.0), "2");
/// assert_eq!(format_value(1e21), "1000000000000000000000");
/// assert_eq!(format_value(f64::INFINITY), "+Inf");
/// ```
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_print_like_prometheus() {
        let table: &[(i64, f64, &str)] = &[
            (1714557600000, 3.0, r#"[1714557600,"3"]"#),
            (1714557660500, 4.25, r#"[1714557660.5,"4.25"]"#),
            (1714557660123, 0.1, r#"[1714557660.123,"0.1"]"#),
            (4000, 2.0, r#"[4,"2"]"#),
            (1, f64::NAN, r#"[0.001,"NaN"]"#),
            (-1500, f64::NEG_INFINITY, r#"[-1.5,"-Inf"]"#),
            (0, 1267.1266666666666, r#"[0,"1267.1266666666666"]"#),
            (0, 1e-7, r#"[0,"0.0000001"]"#),
        ];
        for (t, v, want) in table {
            assert_eq!(serde_json::to_string(&Point::new(*t, *v)).unwrap(), *want);
        }
    }
}
