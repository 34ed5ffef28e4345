//! Template values and their conversions, as Go's `fmt` and sprig's casts do them.

/// A template value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Nil,
    Str(String),
    Num(f64),
    Int(i64),
    Bool(bool),
    /// A time (nanoseconds since the epoch, UTC).
    Time(i64),
    /// A map, sorted by key (`fromJson` objects; the row's labels when ranged over).
    Map(Vec<(String, Value)>),
    /// A list (`fromJson` arrays).
    List(Vec<Value>),
}

impl Value {
    /// Go's `%v` text.
    pub fn to_text(&self) -> String {
        match self {
            Value::Nil => String::new(),
            Value::Str(s) => s.clone(),
            Value::Num(n) => fmt_float(*n),
            Value::Int(i) => i.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Time(t) => format_time(*t, "2006-01-02 15:04:05.999999999 -0700 MST"),
            Value::Map(m) => {
                let items: Vec<String> = m
                    .iter()
                    .map(|(k, v)| format!("{k}:{}", v.to_text()))
                    .collect();
                format!("map[{}]", items.join(" "))
            }
            Value::List(l) => {
                let items: Vec<String> = l.iter().map(Value::to_text).collect();
                format!("[{}]", items.join(" "))
            }
        }
    }

    /// The value of key `k` of a map (`Nil` when absent or not a map: `missingkey=zero`).
    pub fn get(&self, k: &str) -> Value {
        match self {
            Value::Map(m) => m
                .binary_search_by(|(n, _)| n.as_str().cmp(k))
                .map_or(Value::Nil, |i| m[i].1.clone()),
            _ => Value::Nil,
        }
    }

    /// Go's template truth: empty, zero and nil are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Str(s) => !s.is_empty(),
            Value::Num(n) => *n != 0.0,
            Value::Int(i) => *i != 0,
            Value::Bool(b) => *b,
            Value::Time(_) => true,
            Value::Map(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
        }
    }

    /// sprig's `toFloat64`: unparsable text is 0.
    pub fn to_f64(&self) -> f64 {
        match self {
            Value::Str(s) => s.trim().parse().unwrap_or(0.0),
            Value::Num(n) => *n,
            Value::Int(i) => *i as f64,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Time(t) => *t as f64,
            Value::Nil | Value::Map(_) | Value::List(_) => 0.0,
        }
    }

    /// sprig's `toInt64`: floats truncate, unparsable text is 0.
    pub fn to_i64(&self) -> i64 {
        match self {
            Value::Str(s) => s
                .trim()
                .parse::<i64>()
                .unwrap_or_else(|_| s.trim().parse::<f64>().unwrap_or(0.0) as i64),
            Value::Int(i) => *i,
            v => v.to_f64() as i64,
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` for the usual range (shortest text).
pub(crate) fn fmt_float(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let a = n.abs();
    if a != 0.0 && !(1e-4..1e21).contains(&a) {
        let s = format!("{n:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        return format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    format!("{n}")
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
];

/// Formats a UTC time with a Go layout (`2006-01-02T15:04:05.000Z07:00`, `Jan`, `Mon`,
/// `MST`, fractional seconds; other text is copied).
pub(crate) fn format_time(nanos: i64, layout: &str) -> String {
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, mo, d) = civil(days);
    let (h, mi, s) = (sod / 3600, sod / 60 % 60, sod % 60);
    let wd = DAYS[days.rem_euclid(7) as usize];
    let month = MONTHS[(mo - 1) as usize];
    let tokens: [(&str, String); 20] = [
        ("2006", format!("{y:04}")),
        ("January", month.into()),
        ("Jan", month[..3].into()),
        ("Monday", wd.into()),
        ("Mon", wd[..3].into()),
        ("MST", "UTC".into()),
        ("Z07:00", "Z".into()),
        ("-07:00", "+00:00".into()),
        ("-0700", "+0000".into()),
        (".000000000", format!(".{frac:09}")),
        (".999999999", trim_frac(frac, 9)),
        (".000000", format!(".{:06}", frac / 1000)),
        (".000", format!(".{:03}", frac / 1_000_000)),
        ("01", format!("{mo:02}")),
        ("02", format!("{d:02}")),
        ("15", format!("{h:02}")),
        (
            "03",
            format!("{:02}", if h % 12 == 0 { 12 } else { h % 12 }),
        ),
        ("04", format!("{mi:02}")),
        ("05", format!("{s:02}")),
        ("PM", if h < 12 { "AM" } else { "PM" }.into()),
    ];
    let mut out = String::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        for (tok, val) in &tokens {
            if let Some(r) = rest.strip_prefix(tok) {
                out.push_str(val);
                rest = r;
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

fn trim_frac(frac: i64, digits: usize) -> String {
    if frac == 0 {
        return String::new();
    }
    let s = format!(".{frac:0digits$}");
    s.trim_end_matches('0').to_owned()
}
