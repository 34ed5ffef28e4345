//! The store's own query vocabulary: label matchers and line filters (no LogQL types).

use kelp_model::Labels;
use memchr::memmem::Finder;
use regex_syntax::hir::{Hir, HirKind};

use crate::tokenizer::literal_grams;
use crate::{Result, StoreError};

/// How a label matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`: equal.
    Eq,
    /// `!=`: not equal.
    Neq,
    /// `=~`: the fully anchored regex matches.
    Re,
    /// `!~`: the fully anchored regex does not match.
    NotRe,
}

/// One label matcher; a missing label matches as the empty string (Prometheus semantics).
#[derive(Debug, Clone)]
pub struct LabelMatcher {
    /// The label name.
    pub name: String,
    /// The comparison.
    pub op: MatchOp,
    /// The value or regex.
    pub value: String,
    re: Option<regex::Regex>,
}

impl LabelMatcher {
    /// Builds a matcher, compiling the regex of `=~` and `!~` (within the `regex` crate's
    /// default size limit).
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Self> {
        Self::build(name, op, value, None)
    }

    /// [`LabelMatcher::new`] with the compiled regex capped at `max_regex_bytes` (the
    /// server's `limits.max_regex_bytes`, as for line filters): a larger one is
    /// [`StoreError::InvalidQuery`] `invalid stream selector regex "…": … exceeds size
    /// limit …`.
    pub fn with_regex_limit(
        name: &str,
        op: MatchOp,
        value: &str,
        max_regex_bytes: usize,
    ) -> Result<Self> {
        Self::build(name, op, value, Some(max_regex_bytes))
    }

    fn build(name: &str, op: MatchOp, value: &str, limit: Option<usize>) -> Result<Self> {
        let re = match op {
            MatchOp::Re | MatchOp::NotRe => {
                let mut b = regex::RegexBuilder::new(&format!("^(?:{value})$"));
                if let Some(n) = limit {
                    b.size_limit(n);
                }
                Some(b.build().map_err(|e| {
                    StoreError::InvalidQuery(format!(
                        "invalid stream selector regex {value:?}: {e}"
                    ))
                })?)
            }
            _ => None,
        };
        Ok(Self {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
            re,
        })
    }

    /// Shorthand for an `=` matcher.
    pub fn eq(name: &str, value: &str) -> Self {
        Self {
            name: name.to_owned(),
            op: MatchOp::Eq,
            value: value.to_owned(),
            re: None,
        }
    }

    /// Whether `labels` satisfy the matcher.
    pub fn matches(&self, labels: &Labels) -> bool {
        let v = labels.get(&self.name).unwrap_or("");
        match (self.op, &self.re) {
            (MatchOp::Eq, _) => v == self.value,
            (MatchOp::Neq, _) => v != self.value,
            (MatchOp::Re, Some(re)) => re.is_match(v),
            (MatchOp::NotRe, Some(re)) => !re.is_match(v),
            _ => false,
        }
    }
}

/// Whether every matcher accepts `labels`.
pub fn matches_all(matchers: &[LabelMatcher], labels: &Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

/// A line filter pushed down into the scan (LogQL `|=`, `!=`, `|~`, `!~`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineFilter {
    /// The line contains these bytes.
    Contains(Vec<u8>),
    /// The line does not contain these bytes.
    NotContains(Vec<u8>),
    /// The regex matches somewhere in the line.
    Regex(String),
    /// The regex matches nowhere in the line.
    NotRegex(String),
}

enum Test {
    Has(Box<Finder<'static>>, bool),
    Re(regex::bytes::Regex, bool),
}

/// Filters compiled for a scan, with the grams a block must have to possibly match.
pub(crate) struct Filters {
    tests: Vec<Test>,
    /// Every group must pass the block's bloom.
    pub grams: Vec<Vec<u32>>,
    /// A byte string every passing line's *template* contains (see `segment/column.rs`):
    /// the longest run without digits or template markers of a `|=` literal, when at least
    /// 4 bytes long. Lines whose template lacks it are not rebuilt.
    pub template_literal: Option<Box<Finder<'static>>>,
}

impl Filters {
    pub(crate) fn compile(filters: &[LineFilter]) -> Result<Self> {
        let mut tests = Vec::new();
        let mut grams = Vec::new();
        for f in filters {
            match f {
                LineFilter::Contains(b) | LineFilter::NotContains(b) => {
                    let pos = matches!(f, LineFilter::Contains(_));
                    if pos {
                        grams.push(literal_grams(b));
                    }
                    tests.push(Test::Has(Box::new(Finder::new(b).into_owned()), pos));
                }
                LineFilter::Regex(r) | LineFilter::NotRegex(r) => {
                    let pos = matches!(f, LineFilter::Regex(_));
                    let re = regex::bytes::Regex::new(r)
                        .map_err(|e| StoreError::InvalidQuery(format!("line regex {r:?}: {e}")))?;
                    if pos {
                        for lit in required_literals(r) {
                            grams.push(literal_grams(&lit));
                        }
                    }
                    tests.push(Test::Re(re, pos));
                }
            }
        }
        grams.retain(|g| !g.is_empty());
        let template_literal = filters
            .iter()
            .filter_map(|f| match f {
                LineFilter::Contains(b) => b
                    .split(|c| c.is_ascii_digit() || *c == crate::format::TEMPLATE_MARKER)
                    .max_by_key(|r| r.len()),
                _ => None,
            })
            .filter(|r| r.len() >= 4)
            .max_by_key(|r| r.len())
            .map(|r| Box::new(Finder::new(r).into_owned()));
        Ok(Self {
            tests,
            grams,
            template_literal,
        })
    }

    /// Whether no filter is set.
    pub(crate) fn is_empty(&self) -> bool {
        self.tests.is_empty()
    }

    /// The longest `|=` literal: every passing line contains it, so a head chunk can
    /// search its line pages for it in bulk before looking at single lines.
    pub(crate) fn required_literal(&self) -> Option<&Finder<'static>> {
        self.tests
            .iter()
            .filter_map(|t| match t {
                Test::Has(f, true) if !f.needle().is_empty() => Some(&**f),
                _ => None,
            })
            .max_by_key(|f| f.needle().len())
    }

    /// Whether `line` passes every filter.
    #[inline]
    pub(crate) fn pass(&self, line: &[u8]) -> bool {
        self.tests.iter().all(|t| match t {
            Test::Has(f, want) => f.find(line).is_some() == *want,
            Test::Re(re, want) => re.is_match(line) == *want,
        })
    }
}

/// Literals every match of regex `re` must contain (empty when none can be proven).
pub fn required_literals(re: &str) -> Vec<Vec<u8>> {
    match regex_syntax::ParserBuilder::new()
        .utf8(false)
        .build()
        .parse(re)
    {
        Ok(hir) => {
            let mut out = Vec::new();
            collect(&hir, &mut out);
            out.retain(|l| !l.is_empty());
            out
        }
        Err(_) => Vec::new(),
    }
}

/// Appends literals that must appear in every match of `h`.
fn collect(h: &Hir, out: &mut Vec<Vec<u8>>) {
    match h.kind() {
        HirKind::Literal(l) => out.push(l.0.to_vec()),
        HirKind::Capture(c) => collect(&c.sub, out),
        HirKind::Repetition(r) if r.min >= 1 => collect(&r.sub, out),
        HirKind::Concat(parts) => {
            // Adjacent literals join into one longer literal.
            let mut run: Vec<u8> = Vec::new();
            for p in parts {
                match p.kind() {
                    HirKind::Literal(l) => run.extend_from_slice(&l.0),
                    _ => {
                        if !run.is_empty() {
                            out.push(std::mem::take(&mut run));
                        }
                        collect(p, out);
                    }
                }
            }
            if !run.is_empty() {
                out.push(run);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_literals_of_regexes() {
        assert_eq!(
            required_literals("error.*timeout"),
            vec![b"error".to_vec(), b"timeout".to_vec()]
        );
        assert_eq!(
            required_literals("(foo|bar)baz+"),
            vec![b"ba".to_vec(), b"z".to_vec()]
        );
        assert!(required_literals("(?i)error").is_empty());
        assert!(required_literals("a|b").is_empty());
    }

    #[test]
    fn matchers_follow_prometheus() {
        let l = Labels::from_pairs([("app", "api"), ("env", "prod")]).unwrap();
        let m = |n, op, v| LabelMatcher::new(n, op, v).unwrap().matches(&l);
        assert!(m("app", MatchOp::Eq, "api"));
        assert!(m("app", MatchOp::Re, "a.*"));
        assert!(!m("app", MatchOp::Re, "a"));
        assert!(m("missing", MatchOp::Eq, ""));
        assert!(m("env", MatchOp::NotRe, "dev|test"));
        assert!(m("env", MatchOp::Neq, "dev"));
    }

    #[test]
    fn a_selector_regex_over_the_size_limit_is_refused_with_the_reason() {
        let big = "(a{100}){100}";
        let e = LabelMatcher::with_regex_limit("app", MatchOp::Re, big, 4096).unwrap_err();
        let StoreError::InvalidQuery(m) = e else {
            panic!("expected an invalid query, got {e:?}")
        };
        assert!(
            m.starts_with(r#"invalid stream selector regex "(a{100}){100}": "#),
            "{m}"
        );
        assert!(m.contains("exceeds size limit"), "{m}");
        assert!(LabelMatcher::with_regex_limit("app", MatchOp::NotRe, big, 4096).is_err());
        // Under the limit, and for operators without a regex, nothing changes.
        let l = Labels::from_pairs([("app", "api")]).unwrap();
        assert!(
            LabelMatcher::with_regex_limit("app", MatchOp::Re, "a.+", 4096)
                .unwrap()
                .matches(&l)
        );
        assert!(LabelMatcher::with_regex_limit("app", MatchOp::Eq, big, 1).is_ok());
        assert!(LabelMatcher::new("app", MatchOp::Re, big).is_ok());
    }
}
