//! Label filters: string, number, duration, bytes and ip predicates joined by and/or.

use kelp_logql::ast::{CmpOp, LabelFilter, LabelPredicate, MatchOp};

use super::filter::IpMatcher;
use super::{Row, ERROR};
use crate::error::{QueryError, Result};
use crate::Limits;

/// A compiled label filter.
#[derive(Debug)]
pub(crate) enum LabelFilterC {
    And(Vec<LabelFilterC>),
    Or(Vec<LabelFilterC>),
    Str {
        name: String,
        m: StrMatch,
    },
    Ip {
        name: String,
        negated: bool,
        m: IpMatcher,
    },
    Num {
        name: String,
        kind: NumKind,
        op: CmpOp,
        value: f64,
    },
}

/// How a string predicate compares.
#[derive(Debug)]
pub(crate) enum StrMatch {
    Eq(String),
    Neq(String),
    Re(regex::Regex),
    Nre(regex::Regex),
}

impl StrMatch {
    /// Compiles a matcher (regexes fully anchored).
    pub fn new(op: MatchOp, value: &str, limits: &Limits) -> Result<Self> {
        let re = || {
            regex::RegexBuilder::new(&format!("^(?:{value})$"))
                .size_limit(limits.max_regex_bytes)
                .build()
                .map_err(|e| QueryError::Invalid(format!("invalid regex {value:?}: {e}")))
        };
        Ok(match op {
            MatchOp::Eq => Self::Eq(value.to_owned()),
            MatchOp::Neq => Self::Neq(value.to_owned()),
            MatchOp::Re => Self::Re(re()?),
            MatchOp::Nre => Self::Nre(re()?),
        })
    }

    /// Whether `v` (`""` for a missing label) matches.
    pub fn matches(&self, v: &str) -> bool {
        match self {
            Self::Eq(s) => v == s,
            Self::Neq(s) => v != s,
            Self::Re(r) => r.is_match(v),
            Self::Nre(r) => !r.is_match(v),
        }
    }
}

/// The type a numeric predicate reads its label as.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NumKind {
    Float,
    Duration,
    Bytes,
}

impl LabelFilterC {
    /// Compiles a filter.
    pub fn compile(f: &LabelFilter, limits: &Limits) -> Result<Self> {
        Ok(match f {
            LabelFilter::And(v) => Self::And(
                v.iter()
                    .map(|f| Self::compile(f, limits))
                    .collect::<Result<_>>()?,
            ),
            LabelFilter::Or(v) => Self::Or(
                v.iter()
                    .map(|f| Self::compile(f, limits))
                    .collect::<Result<_>>()?,
            ),
            LabelFilter::Predicate(p) => match p {
                LabelPredicate::Matcher(m) => Self::Str {
                    name: m.name.clone(),
                    m: StrMatch::new(m.op, &m.value, limits)?,
                },
                LabelPredicate::Ip {
                    name,
                    negated,
                    pattern,
                } => Self::Ip {
                    name: name.clone(),
                    negated: *negated,
                    m: IpMatcher::parse(pattern)?,
                },
                LabelPredicate::Number { name, op, value } => Self::Num {
                    name: name.clone(),
                    kind: NumKind::Float,
                    op: *op,
                    value: *value,
                },
                LabelPredicate::Duration { name, op, value } => Self::Num {
                    name: name.clone(),
                    kind: NumKind::Duration,
                    op: *op,
                    value: value.as_nanos() as f64 / 1e9,
                },
                LabelPredicate::Bytes { name, op, value } => Self::Num {
                    name: name.clone(),
                    kind: NumKind::Bytes,
                    op: *op,
                    value: value.as_u64() as f64,
                },
            },
        })
    }

    /// Whether the row passes; conversion failures pass and set `__error__`.
    pub fn run(&self, row: &mut Row<'_>) -> bool {
        match self {
            Self::And(v) => v.iter().all(|f| f.run(row)),
            Self::Or(v) => v.iter().any(|f| f.run(row)),
            Self::Str { name, m } => m.matches(row.get(name)),
            Self::Ip { name, negated, m } => {
                let v = row.get(name);
                !v.is_empty() && m.matches_str(v) != *negated
            }
            Self::Num {
                name,
                kind,
                op,
                value,
            } => {
                let Some(v) = row.labels.get(name).filter(|v| !v.is_empty()) else {
                    return false;
                };
                match convert(*kind, v) {
                    Some(x) => op.compare(x, *value),
                    None => {
                        if row.get(ERROR).is_empty() {
                            let details = format!("cannot convert label {name}={v:?}");
                            row.set_error("LabelFilterErr", details);
                        }
                        true
                    }
                }
            }
        }
    }
}

fn convert(kind: NumKind, v: &str) -> Option<f64> {
    match kind {
        NumKind::Float => parse_float(v),
        NumKind::Duration => parse_go_duration_secs(v),
        NumKind::Bytes => parse_bytes(v),
    }
}

/// Go's `strconv.ParseFloat` for the usual forms (also `Inf`, `NaN`).
pub(crate) fn parse_float(v: &str) -> Option<f64> {
    v.trim().parse::<f64>().ok()
}

/// Go's `time.ParseDuration`, in seconds.
pub(crate) fn parse_go_duration_secs(v: &str) -> Option<f64> {
    kelp_model::GoDuration::parse(v.trim())
        .ok()
        .map(|d| d.as_nanos() as f64 / 1e9)
}

/// go-humanize's `ParseBytes`: `42`, `3k`, `5 MiB`, `1.5GB` (`kB` and `k` are 1000, `KiB`
/// is 1024; case-insensitive units), truncated to whole bytes as Loki does.
pub(crate) fn parse_bytes(v: &str) -> Option<f64> {
    kelp_model::ByteSize::parse_humanize(v)
        .ok()
        .map(|b| b.as_u64() as f64)
}
