//! The `json` parser (all leaves, or the listed paths) and `unpack`.

use std::collections::HashSet;

use kelp_logql::ast::LabelExtraction;

use super::json::{parse, Json};
use super::Row;
use crate::error::{QueryError, Result};

/// One step of a `json` path.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A compiled `json` stage.
#[derive(Debug)]
pub(crate) struct JsonParser {
    /// Empty: every scalar leaf.
    paths: Vec<(String, Vec<Seg>)>,
}

impl JsonParser {
    /// Compiles the parameters' paths.
    pub fn new(params: &[LabelExtraction]) -> Result<Self> {
        let paths = params
            .iter()
            .map(|p| Ok((p.label.clone(), parse_path(&p.expression)?)))
            .collect::<Result<_>>()?;
        Ok(Self { paths })
    }

    /// Extracts labels; a line that is not a JSON object gets `JSONParserErr`.
    pub fn run(&self, row: &mut Row<'_>) {
        let line = row.line_str().into_owned();
        let Some(doc @ Json::Obj(..)) = parse(&line) else {
            row.set_error("JSONParserErr", "invalid JSON object");
            return;
        };
        if self.paths.is_empty() {
            let mut seen = HashSet::new();
            flatten(&doc, &mut String::new(), row, &mut seen);
        } else {
            for (label, path) in &self.paths {
                let v = lookup(&doc, path).map(Json::to_label).unwrap_or_default();
                row.set_extracted(label, v);
            }
        }
    }
}

fn flatten(v: &Json<'_>, prefix: &mut String, row: &mut Row<'_>, seen: &mut HashSet<String>) {
    let Json::Obj(members, _) = v else { return };
    for (k, v) in members {
        let len = prefix.len();
        if !prefix.is_empty() {
            prefix.push('_');
        }
        prefix.push_str(k);
        match v {
            Json::Obj(..) => flatten(v, prefix, row, seen),
            Json::Arr(..) => {}
            leaf => {
                let key = super::sanitize_key(prefix);
                if seen.insert(key.clone()) {
                    row.set_extracted(&key, leaf.to_label());
                }
            }
        }
        prefix.truncate(len);
    }
}

fn lookup<'v, 'a>(mut v: &'v Json<'a>, path: &[Seg]) -> Option<&'v Json<'a>> {
    for seg in path {
        v = match (v, seg) {
            (Json::Obj(m, _), Seg::Key(k)) => &m.iter().find(|(n, _)| n == k)?.1,
            (Json::Arr(a, _), Seg::Index(i)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Parses `a.b`, `a["b c"]`, `list[0]` and combinations.
fn parse_path(expr: &str) -> Result<Vec<Seg>> {
    let bad = || QueryError::Invalid(format!("invalid json path {expr:?}"));
    let mut out = Vec::new();
    let s = expr.as_bytes();
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'.' if i > 0 => i += 1,
            b'[' => {
                let close = expr[i..].find(']').ok_or_else(bad)? + i;
                let inner = expr[i + 1..close].trim();
                if let Some(q) = inner.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
                    out.push(Seg::Key(q.replace("\\\"", "\"")));
                } else {
                    out.push(Seg::Index(inner.parse().map_err(|_| bad())?));
                }
                i = close + 1;
            }
            _ => {
                let end = expr[i..].find(['.', '[']).map_or(s.len(), |e| e + i);
                if end == i {
                    return Err(bad());
                }
                out.push(Seg::Key(expr[i..end].to_owned()));
                i = end;
            }
        }
    }
    if out.is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// `unpack`: top-level string fields become labels; `_entry` replaces the line.
pub(crate) fn unpack(row: &mut Row<'_>) {
    let line = row.line_str().into_owned();
    let Some(Json::Obj(members, _)) = parse(&line) else {
        row.set_error("JSONParserErr", "invalid JSON object");
        return;
    };
    let mut seen = HashSet::new();
    for (k, v) in members {
        if let Json::Str(s) = v {
            if k == "_entry" {
                row.line = s.into_bytes();
            } else if seen.insert(k.clone()) {
                row.set_extracted(&k, s);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            parse_path(r#"req.headers["User-Agent"]"#).unwrap(),
            vec![
                Seg::Key("req".into()),
                Seg::Key("headers".into()),
                Seg::Key("User-Agent".into())
            ]
        );
        assert_eq!(
            parse_path("list[0].a").unwrap(),
            vec![Seg::Key("list".into()), Seg::Index(0), Seg::Key("a".into())]
        );
        assert!(parse_path("a[").is_err());
    }
}
