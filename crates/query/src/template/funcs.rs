//! Template functions: Loki's own, the sprig ones Loki registers, and Go's built-ins
//! (`printf`, comparisons, `and`/`or`/`not`, `len`).

use super::text::{b64dec, b64enc, printf, urldecode, urlencode};
use super::value::{format_time, Value};
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

/// A parsed JSON document as a template value (objects sorted by key, later duplicates
/// winning).
fn from_json(j: &crate::pipeline::Json<'_>) -> Value {
    use crate::pipeline::Json;
    match j {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Num(n) => n.parse().map_or(Value::Str((*n).to_owned()), Value::Num),
        Json::Str(s) => Value::Str(s.clone()),
        Json::Obj(members, _) => {
            let m: std::collections::BTreeMap<&str, Value> = members
                .iter()
                .map(|(k, v)| (k.as_str(), from_json(v)))
                .collect();
            Value::Map(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
        }
        Json::Arr(items, _) => Value::List(items.iter().map(from_json).collect()),
    }
}

/// Go's name for a value's type, for error messages.
pub(super) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Str(_) => "string",
        Value::Num(_) => "float64",
        Value::Int(_) => "int",
        Value::Bool(_) => "bool",
        Value::Time(_) => "time.Time",
        Value::Map(_) => "map[string]interface {}",
        Value::List(_) => "[]interface {}",
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
            crate::pipeline::json_parse(&v).map_or(Value::Nil, |j| from_json(&j))
        }
        "index" => {
            let (first, keys) = a.split_first().ok_or("missing argument")?;
            let mut v = first.clone();
            for k in keys {
                v = match &v {
                    Value::Map(_) => v.get(&s(k)),
                    Value::List(l) => {
                        let i = k.to_i64();
                        usize::try_from(i)
                            .ok()
                            .and_then(|i| l.get(i))
                            .cloned()
                            .ok_or_else(|| format!("index out of range: {i}"))?
                    }
                    Value::Nil => Value::Nil,
                    other => return Err(format!("can't index item of type {}", kind(other))),
                };
            }
            v
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
        "len" => {
            need(name, &a, 1)?;
            Value::Int(match &a[0] {
                Value::Map(m) => m.len(),
                Value::List(l) => l.len(),
                v => s(v).chars().count(),
            } as i64)
        }
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
