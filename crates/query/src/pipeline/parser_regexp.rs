//! The `regexp` parser (named groups) and the `pattern` parser (`<name>` captures).

use super::Row;
use crate::error::{QueryError, Result};
use crate::Limits;
use kelp_logql::pattern::{parts, Part};

/// A compiled `regexp` stage.
#[derive(Debug)]
pub(crate) struct RegexpParser {
    re: regex::Regex,
    names: Vec<(usize, String)>,
}

impl RegexpParser {
    /// Compiles the regex (unanchored) and collects its named groups.
    pub fn new(re: &str, limits: &Limits) -> Result<Self> {
        let re = regex::RegexBuilder::new(re)
            .size_limit(limits.max_regex_bytes)
            .build()
            .map_err(|e| QueryError::Invalid(format!("invalid regexp parser: {e}")))?;
        let names = re
            .capture_names()
            .enumerate()
            .filter_map(|(i, n)| n.map(|n| (i, n.to_owned())))
            .collect();
        Ok(Self { re, names })
    }

    /// Sets one label per named group that matched.
    pub fn run(&self, row: &mut Row<'_>) {
        let line = row.line_str().into_owned();
        let Some(caps) = self.re.captures(&line) else {
            return;
        };
        for (i, name) in &self.names {
            if let Some(m) = caps.get(*i) {
                row.set_extracted(name, m.as_str().to_owned());
            }
        }
    }
}

/// A compiled `pattern` stage: anchored at the line's start, each capture running up to
/// the next literal or the end of the line.
#[derive(Debug)]
pub(crate) struct PatternParser {
    parts: Vec<(bool, String)>,
}

impl PatternParser {
    /// Splits the pattern.
    pub fn new(p: &str) -> Result<Self> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for part in parts(p) {
            match part {
                Part::Literal(l) => out.push((false, l.to_owned())),
                Part::Capture(c) => {
                    if out.last().is_some_and(|(cap, _)| *cap) {
                        return Err(QueryError::Invalid(format!(
                            "invalid pattern parser {p:?}: consecutive captures are not allowed"
                        )));
                    }
                    out.push((true, c.to_owned()));
                }
            }
        }
        Ok(Self { parts: out })
    }

    /// Sets the captures when the whole pattern matches.
    pub fn run(&self, row: &mut Row<'_>) {
        let line = row.line_str().into_owned();
        let mut pos = 0;
        let mut found: Vec<(&str, &str)> = Vec::new();
        let mut i = 0;
        while i < self.parts.len() {
            let (cap, text) = &self.parts[i];
            if !cap {
                if !line[pos..].starts_with(text.as_str()) {
                    return;
                }
                pos += text.len();
                i += 1;
                continue;
            }
            let end = match self.parts.get(i + 1) {
                Some((false, lit)) => match line[pos..].find(lit.as_str()) {
                    Some(at) => pos + at,
                    None => return,
                },
                _ => line.len(),
            };
            if text != "_" {
                found.push((text, &line[pos..end]));
            }
            pos = end;
            i += 1;
        }
        for (name, v) in found {
            row.set_extracted(name, v.to_owned());
        }
    }
}
