//! Template functions: Loki's own, the sprig ones Loki registers, and Go's built-ins
//! (`printf`, comparisons, `and`/`or`/`not`, `len`).

use super::value::{fmt_float, format_time, Value};
use crate::pipeline::{parse_bytes, parse_go_duration_secs, Row};

type R = Result<Value, String>;

fn s(v: &Value) -> String {
    v.to_text()
}

fn need(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ))
    }
}

fn num_op(
    args: &[Value],
    float: bool,
    f: impl Fn(f64, f64) -> f64,
    fi: impl Fn(i64, i64) -> Option<i64>,
) -> R {
    let mut it = args.iter();
    let first = it.next().ok_or("missing argument")?;
    if float {
        let mut acc = first.to_f64();
        for a in it {
            acc = f(acc, a.to_f64());
        }
        return Ok(Value::Num(acc));
    }
    let mut acc = first.to_i64();
    for a in it {
        acc = fi(acc, a.to_i64()).ok_or("integer divide by zero")?;
    }
    Ok(Value::Int(acc))
}

fn cmp(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Str(_), _) | (_, Value::Str(_)) => s(a).partial_cmp(&s(b)),
        _ => a.to_f64().partial_cmp(&b.to_f64()),
    }
}

fn regex(re: &Value) -> Result<regex::Regex, String> {
    regex::Regex::new(&s(re)).map_err(|e| e.to_string())
}

/// Calls a function with its evaluated arguments (a piped value is the last).
pub(super) fn call(name: &str, a: Vec<Value>, row: &Row<'_>) -> R {
    use std::cmp::Ordering::*;
    let one = |n: &str| need(n, &a, 1).map(|_| s(&a[0]));
    Ok(match name {
        "__line__" => Value::Str(row.line_str().into_owned()),
        "__timestamp__" => Value::Time(row.ts.as_unix_nanos()),
        "now" => Value::Time(kelp_model::Timestamp::now().as_unix_nanos()),
        "ToLower" | "lower" => Value::Str(one(name)?.to_lowercase()),
        "ToUpper" | "upper" => Value::Str(one(name)?.to_uppercase()),
        "title" => Value::Str(
            one(name)?
                .split(' ')
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "TrimSpace" => Value::Str(one(name)?.trim().to_owned()),
        "trim" => Value::Str(one(name)?.trim().to_owned()),
        "Trim" | "TrimLeft" | "TrimRight" => {
            need(name, &a, 2)?;
            let cut: Vec<char> = s(&a[1]).chars().collect();
            let v = s(&a[0]);
            Value::Str(
                match name {
                    "Trim" => v.trim_matches(cut.as_slice()),
                    "TrimLeft" => v.trim_start_matches(cut.as_slice()),
                    _ => v.trim_end_matches(cut.as_slice()),
                }
                .to_owned(),
            )
        }
        "trimAll" => {
            need(name, &a, 2)?;
            let cut: Vec<char> = s(&a[0]).chars().collect();
            Value::Str(s(&a[1]).trim_matches(cut.as_slice()).to_owned())
        }
        "TrimPrefix" | "TrimSuffix" => {
            need(name, &a, 2)?;
            let (v, p) = (s(&a[0]), s(&a[1]));
            Value::Str(
                if name == "TrimPrefix" {
                    v.strip_prefix(&*p)
                } else {
                    v.strip_suffix(&*p)
                }
                .unwrap_or(&v)
                .to_owned(),
            )
        }
        "trimPrefix" | "trimSuffix" => {
            need(name, &a, 2)?;
            let (p, v) = (s(&a[0]), s(&a[1]));
            Value::Str(
                if name == "trimPrefix" {
                    v.strip_prefix(&*p)
                } else {
                    v.strip_suffix(&*p)
                }
                .unwrap_or(&v)
                .to_owned(),
            )
        }
        "Replace" => {
            need(name, &a, 4)?;
            let (v, old, new, n) = (s(&a[0]), s(&a[1]), s(&a[2]), a[3].to_i64());
            Value::Str(if n < 0 {
                v.replace(&old, &new)
            } else {
                v.replacen(&old, &new, n as usize)
            })
        }
        "replace" => {
            need(name, &a, 3)?;
            Value::Str(s(&a[2]).replace(&s(&a[0]), &s(&a[1])))
        }
        "regexReplaceAll" | "regexReplaceAllLiteral" => {
            need(name, &a, 3)?;
            let re = regex(&a[0])?;
            let (v, rep) = (s(&a[1]), s(&a[2]));
            Value::Str(if name == "regexReplaceAll" {
                re.replace_all(&v, rep.as_str()).into_owned()
            } else {
                re.replace_all(&v, regex::NoExpand(&rep)).into_owned()
            })
        }
        "count" => {
            need(name, &a, 2)?;
            Value::Int(regex(&a[0])?.find_iter(&s(&a[1])).count() as i64)
        }
        "contains" => {
            need(name, &a, 2)?;
            Value::Bool(s(&a[1]).contains(&s(&a[0])))
        }
        "hasPrefix" | "hasSuffix" => {
            need(name, &a, 2)?;
            let (p, v) = (s(&a[0]), s(&a[1]));
            Value::Bool(if name == "hasPrefix" {
                v.starts_with(&p)
            } else {
                v.ends_with(&p)
            })
        }
        "repeat" => {
            need(name, &a, 2)?;
            Value::Str(s(&a[1]).repeat(a[0].to_i64().clamp(0, 10_000) as usize))
        }
        "trunc" => {
            need(name, &a, 2)?;
            let (n, v) = (a[0].to_i64(), s(&a[1]));
            let len = v.chars().count() as i64;
            Value::Str(if n >= 0 {
                v.chars().take(n as usize).collect()
            } else {
                v.chars().skip((len + n).max(0) as usize).collect()
            })
        }
        "substr" => {
            need(name, &a, 3)?;
            let v: Vec<char> = s(&a[2]).chars().collect();
            let (st, en) = (a[0].to_i64(), a[1].to_i64());
            let st = st.clamp(0, v.len() as i64) as usize;
            let en = if en < 0 {
                v.len()
            } else {
                (en as usize).clamp(st, v.len())
            };
            Value::Str(v[st..en].iter().collect())
        }
        "indent" | "nindent" => {
            need(name, &a, 2)?;
            let pad = " ".repeat(a[0].to_i64().clamp(0, 1000) as usize);
            let body = s(&a[1])
                .lines()
                .map(|l| format!("{pad}{l}"))
                .collect::<Vec<_>>()
                .join("\n");
            Value::Str(if name == "nindent" {
                format!("\n{body}")
            } else {
                body
            })
        }
        "alignLeft" | "alignRight" => {
            need(name, &a, 2)?;
            let n = a[0].to_i64().clamp(0, 10_000) as usize;
            let v: Vec<char> = s(&a[1]).chars().collect();
            Value::Str(if v.len() >= n {
                v[..n].iter().collect()
            } else if name == "alignLeft" {
                format!(
                    "{}{}",
                    v.iter().collect::<String>(),
                    " ".repeat(n - v.len())
                )
            } else {
                format!(
                    "{}{}",
                    " ".repeat(n - v.len()),
                    v.iter().collect::<String>()
                )
            })
        }
        "urlencode" => Value::Str(urlencode(&one(name)?)),
        "urldecode" => Value::Str(urldecode(&one(name)?).ok_or("invalid URL escape")?),
        "b64enc" => Value::Str(b64enc(one(name)?.as_bytes())),
        "b64dec" => Value::Str(b64dec(&one(name)?).ok_or("illegal base64 data")?),
        "bytes" => Value::Num(parse_bytes(&one(name)?).ok_or("invalid bytes")?),
        "duration" | "duration_seconds" => {
            Value::Num(parse_go_duration_secs(&one(name)?).ok_or("invalid duration")?)
        }
        "int" => Value::Int(a.first().ok_or("missing argument")?.to_i64()),
        "float64" => Value::Num(a.first().ok_or("missing argument")?.to_f64()),
        "add" => num_op(&a, false, |x, y| x + y, |x, y| Some(x.wrapping_add(y)))?,
        "sub" => num_op(&a, false, |x, y| x - y, |x, y| Some(x.wrapping_sub(y)))?,
        "mul" => num_op(&a, false, |x, y| x * y, |x, y| Some(x.wrapping_mul(y)))?,
        "div" => num_op(&a, false, |x, y| x / y, |x, y| x.checked_div(y))?,
        "mod" => num_op(&a, false, |x, y| x % y, |x, y| x.checked_rem(y))?,
        "addf" => num_op(&a, true, |x, y| x + y, |_, _| None)?,
        "subf" => num_op(&a, true, |x, y| x - y, |_, _| None)?,
        "mulf" => num_op(&a, true, |x, y| x * y, |_, _| None)?,
        "divf" => num_op(&a, true, |x, y| x / y, |_, _| None)?,
        "max" => num_op(&a, false, f64::max, |x, y| Some(x.max(y)))?,
        "min" => num_op(&a, false, f64::min, |x, y| Some(x.min(y)))?,
        "maxf" => num_op(&a, true, f64::max, |_, _| None)?,
        "minf" => num_op(&a, true, f64::min, |_, _| None)?,
        "ceil" => Value::Num(a.first().ok_or("missing argument")?.to_f64().ceil()),
        "floor" => Value::Num(a.first().ok_or("missing argument")?.to_f64().floor()),
        "round" => {
            let x = a.first().ok_or("missing argument")?.to_f64();
            let p = 10f64.powi(a.get(1).map_or(0, |p| p.to_i64().clamp(0, 15) as i32));
            Value::Num((x * p).round() / p)
        }
        "default" => {
            need(name, &a, 2)?;
            if a[1].truthy() {
                a[1].clone()
            } else {
                a[0].clone()
            }
        }
        "fromJson" => {
            let v = one(name)?;
            Value::Str(match crate::pipeline::json_parse(&v) {
                Some(j) => j.to_label(),
                None => String::new(),
            })
        }
        "unixEpoch" | "unixEpochMillis" | "unixEpochNanos" => {
            need(name, &a, 1)?;
            let Value::Time(t) = a[0] else {
                return Err(format!("{name}: not a time"));
            };
            Value::Int(match name {
                "unixEpoch" => t.div_euclid(1_000_000_000),
                "unixEpochMillis" => t.div_euclid(1_000_000),
                _ => t,
            })
        }
        "unixToTime" => {
            let v = one(name)?;
            let n: i64 = v
                .trim()
                .parse()
                .map_err(|_| format!("unable to parse {v:?}"))?;
            // Loki reads seconds, milliseconds, microseconds or nanoseconds by length.
            Value::Time(match v.trim().len() {
                0..=10 => n.saturating_mul(1_000_000_000),
                11..=13 => n.saturating_mul(1_000_000),
                14..=16 => n.saturating_mul(1_000),
                _ => n,
            })
        }
        "date" => {
            need(name, &a, 2)?;
            let t = match &a[1] {
                Value::Time(t) => *t,
                v => v.to_i64().saturating_mul(1_000_000_000),
            };
            Value::Str(format_time(t, &s(&a[0])))
        }
        "toDate" | "toDateInZone" => {
            let v = s(a.last().ok_or("missing argument")?);
            let t =
                kelp_model::Timestamp::parse_rfc3339(v.as_bytes()).map_err(|e| e.to_string())?;
            Value::Time(t.as_unix_nanos())
        }
        "printf" => Value::Str(printf(&s(a.first().ok_or("missing format")?), &a[1..])),
        "len" => Value::Int(one(name)?.chars().count() as i64),
        "eq" => {
            let first = a.first().ok_or("missing argument")?;
            Value::Bool(a[1..].iter().any(|b| cmp(first, b) == Some(Equal)))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            need(name, &a, 2)?;
            let o = cmp(&a[0], &a[1]).ok_or("incomparable values")?;
            Value::Bool(match name {
                "ne" => o != Equal,
                "lt" => o == Less,
                "le" => o != Greater,
                "gt" => o == Greater,
                _ => o != Less,
            })
        }
        "and" => a
            .iter()
            .find(|v| !v.truthy())
            .or(a.last())
            .cloned()
            .unwrap_or(Value::Nil),
        "or" => a
            .iter()
            .find(|v| v.truthy())
            .or(a.last())
            .cloned()
            .unwrap_or(Value::Nil),
        "not" => Value::Bool(!a.first().ok_or("missing argument")?.truthy()),
        _ => return Err(format!("function {name:?} not defined")),
    })
}

/// Go's `fmt.Sprintf` for `%s %v %d %f %g %e %q %x %t %%` with flags, width and precision.
fn printf(f: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = f.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_ascii_digit() || matches!(c, '-' | '+' | ' ' | '0' | '.' | '#') {
                spec.push(c);
                chars.next();
            } else {
                break;
            }
        }
        let Some(verb) = chars.next() else { break };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(v) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let left = spec.contains('-');
        let zero = spec.starts_with('0') || spec.contains("+0");
        let (w, p) = spec
            .trim_start_matches(['-', '+', ' ', '0', '#'])
            .split_once('.')
            .map_or(
                (
                    spec.trim_start_matches(['-', '+', ' ', '0', '#'])
                        .to_owned(),
                    None,
                ),
                |(w, p)| (w.to_owned(), Some(p.parse::<usize>().unwrap_or(0))),
            );
        let width: usize = w.parse().unwrap_or(0);
        let body = match verb {
            'd' => v.to_i64().to_string(),
            'f' | 'F' => format!("{:.*}", p.unwrap_or(6), v.to_f64()),
            'e' => format!("{:.*e}", p.unwrap_or(6), v.to_f64()),
            'g' => fmt_float(v.to_f64()),
            'q' => format!("{:?}", s(v)),
            'x' => match v {
                Value::Int(_) | Value::Num(_) => format!("{:x}", v.to_i64()),
                _ => s(v).bytes().map(|b| format!("{b:02x}")).collect(),
            },
            't' => v.truthy().to_string(),
            _ => match p {
                Some(p) => s(v).chars().take(p).collect(),
                None => s(v),
            },
        };
        let pad = width.saturating_sub(body.chars().count());
        if left {
            out.push_str(&body);
            out.push_str(&" ".repeat(pad));
        } else if zero && matches!(verb, 'd' | 'f' | 'F' | 'e' | 'g') {
            let (sign, digits) = body
                .strip_prefix('-')
                .map_or(("", body.as_str()), |d| ("-", d));
            out.push_str(sign);
            out.push_str(&"0".repeat(pad));
            out.push_str(digits);
        } else {
            out.push_str(&" ".repeat(pad));
            out.push_str(&body);
        }
    }
    out
}

fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

fn urldecode(v: &str) -> Option<String> {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(h, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn b64enc(b: &[u8]) -> String {
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn b64dec(v: &str) -> Option<String> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in v.trim_end_matches('=').bytes() {
        let d = B64.iter().position(|x| *x == c)? as u32;
        acc = (acc << 6) | d;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    String::from_utf8(out).ok()
}
