//! The `logfmt` parser (go-logfmt's rules), with `--strict`, `--keep-empty` and params.

use std::collections::HashSet;

use kelp_logql::ast::Logfmt;

use super::Row;

/// A compiled `logfmt` stage.
#[derive(Debug)]
pub(crate) struct LogfmtParser {
    strict: bool,
    keep_empty: bool,
    /// `(label, key)`; empty for every key.
    params: Vec<(String, String)>,
}

impl LogfmtParser {
    /// From the stage.
    pub fn new(l: &Logfmt) -> Self {
        Self {
            strict: l.strict,
            keep_empty: l.keep_empty,
            params: l
                .params
                .iter()
                .map(|p| (p.label.clone(), p.expression.clone()))
                .collect(),
        }
    }

    /// Extracts the pairs of the line.
    pub fn run(&self, row: &mut Row<'_>) {
        let line = row.line_str().into_owned();
        let mut seen = HashSet::new();
        let mut rest = line.as_str();
        loop {
            rest = rest.trim_start_matches(|c: char| c <= ' ');
            if rest.is_empty() {
                break;
            }
            match pair(rest) {
                Ok((k, v, standalone, next)) => {
                    rest = next;
                    if standalone && !self.keep_empty {
                        continue;
                    }
                    self.set(row, &mut seen, k, v);
                }
                Err(next) => {
                    if self.strict {
                        row.set_error("LogfmtParserErr", "malformed logfmt pair");
                        return;
                    }
                    rest = next;
                }
            }
        }
    }

    fn set(&self, row: &mut Row<'_>, seen: &mut HashSet<String>, k: &str, v: String) {
        if self.params.is_empty() {
            if seen.insert(k.to_owned()) {
                row.set_extracted(k, v);
            }
        } else {
            for (label, key) in &self.params {
                if key == k && seen.insert(label.clone()) {
                    row.set_extracted(label, v.clone());
                }
            }
        }
    }
}

/// Reads one `key[=value]` at the start of `s`: `(key, value, standalone, rest)`, or the
/// rest after the malformed pair.
fn pair(s: &str) -> Result<(&str, String, bool, &str), &str> {
    let skip = |s: &str| -> usize { s.find(|c: char| c <= ' ').unwrap_or(s.len()) };
    let key_end = s
        .find(|c: char| c <= ' ' || c == '=' || c == '"')
        .unwrap_or(s.len());
    let key = &s[..key_end];
    let after = &s[key_end..];
    if key.is_empty() || after.starts_with('"') {
        let n = skip(s).max(1).min(s.len());
        return Err(&s[n..]);
    }
    let Some(val) = after.strip_prefix('=') else {
        return Ok((key, String::new(), true, after));
    };
    if let Some(q) = val.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = q.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => return Ok((key, out, false, &q[i + 1..])),
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, 'r')) => out.push('\r'),
                    Some((_, c)) => out.push(c),
                    None => break,
                },
                c => out.push(c),
            }
        }
        return Err("");
    }
    let end = skip(val);
    let v = &val[..end];
    if v.contains(['=', '"']) {
        return Err(&val[end..]);
    }
    Ok((key, v.to_owned(), false, &val[end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs() {
        assert_eq!(pair("a=1 b").unwrap(), ("a", "1".into(), false, " b"));
        assert_eq!(pair(r#"a="x \"y\"" z"#).unwrap().1, "x \"y\"");
        assert_eq!(
            pair("flag rest").unwrap(),
            ("flag", "".into(), true, " rest")
        );
        assert!(pair("=x y").is_err());
        assert!(pair(r#"a="open"#).is_err());
    }
}
