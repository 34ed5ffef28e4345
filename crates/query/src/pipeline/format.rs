//! `label_format`, `drop`, `keep` and `decolorize`.

use std::collections::HashSet;

use kelp_logql::ast::{LabelFormat, NamedMatcher};

use super::label_filter::StrMatch;
use super::{Row, ERROR, ERROR_DETAILS};
use crate::error::{QueryError, Result};
use crate::template::Template;
use crate::Limits;

/// A compiled `label_format` stage.
#[derive(Debug)]
pub(crate) struct LabelFormatC {
    items: Vec<(String, Item)>,
}

#[derive(Debug)]
enum Item {
    Rename(String),
    Template(Template),
}

impl LabelFormatC {
    /// Compiles the items; a name may be set once per stage.
    pub fn new(items: &[LabelFormat]) -> Result<Self> {
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(items.len());
        for it in items {
            if !seen.insert(it.dst()) {
                return Err(QueryError::Invalid(format!(
                    "multiple label name '{}' not allowed in a single format operation",
                    it.dst()
                )));
            }
            out.push(match it {
                LabelFormat::Rename { dst, src } => (dst.clone(), Item::Rename(src.clone())),
                LabelFormat::Template { dst, template } => {
                    (dst.clone(), Item::Template(Template::parse(template)?))
                }
            });
        }
        Ok(Self { items: out })
    }

    /// Applies the items; templates see the labels as they were before the stage.
    pub fn run(&self, row: &mut Row<'_>) {
        let before = row.clone();
        for (dst, item) in &self.items {
            match item {
                Item::Rename(src) => {
                    let v = before.get(src).to_owned();
                    row.labels.remove(src);
                    row.labels.insert(dst.clone(), v);
                }
                Item::Template(t) => match t.render(&before) {
                    Ok(v) => {
                        row.labels.insert(dst.clone(), v);
                    }
                    Err(e) => row.set_error("TemplateFormatErr", e),
                },
            }
        }
    }
}

/// A compiled `drop` or `keep` list.
#[derive(Debug)]
pub(crate) struct DropKeep {
    items: Vec<(String, Option<StrMatch>)>,
}

impl DropKeep {
    /// Compiles the matchers.
    pub fn new(items: &[NamedMatcher], limits: &Limits) -> Result<Self> {
        let items = items
            .iter()
            .map(|m| {
                Ok(match m {
                    NamedMatcher::Name(n) => (n.clone(), None),
                    NamedMatcher::Matcher(m) => {
                        (m.name.clone(), Some(StrMatch::new(m.op, &m.value, limits)?))
                    }
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self { items })
    }

    fn selects(&self, name: &str, value: &str) -> bool {
        self.items
            .iter()
            .any(|(n, m)| n == name && m.as_ref().is_none_or(|m| m.matches(value)))
    }

    /// `drop`: removes the selected labels.
    pub fn drop(&self, row: &mut Row<'_>) {
        row.labels.retain(|n, v| !self.selects(n, v));
    }

    /// `keep`: keeps only the selected labels and the error labels.
    pub fn keep(&self, row: &mut Row<'_>) {
        row.labels
            .retain(|n, v| n == ERROR || n == ERROR_DETAILS || self.selects(n, v));
    }
}

/// Removes ANSI escape sequences.
pub(crate) fn decolorize(line: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if line[i] == 0x1b && line.get(i + 1) == Some(&b'[') {
            let mut j = i + 2;
            while j < line.len() && (0x20..=0x3f).contains(&line[j]) {
                j += 1;
            }
            if j < line.len() && (0x40..=0x7e).contains(&line[j]) {
                i = j + 1;
                continue;
            }
        }
        out.push(line[i]);
        i += 1;
    }
    out
}
