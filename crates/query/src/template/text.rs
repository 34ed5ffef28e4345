//! Text helpers of the template functions: Go's `printf`, URL and base64 coding.

use super::value::{fmt_float, Value};

fn s(v: &Value) -> String {
    v.to_text()
}

/// Go's `fmt.Sprintf` for `%s %v %d %f %g %e %q %x %t %%` with flags, width and precision.
pub(super) fn printf(f: &str, args: &[Value]) -> String {
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

pub(super) fn urlencode(v: &str) -> String {
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

pub(super) fn urldecode(v: &str) -> Option<String> {
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

pub(super) fn b64enc(b: &[u8]) -> String {
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

pub(super) fn b64dec(v: &str) -> Option<String> {
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
