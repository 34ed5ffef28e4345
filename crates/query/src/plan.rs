//! Planning: selectors into store matchers, leading line filters into store filters
//! (pushdown, so blooms prune blocks), evaluation steps.

use kelp_logql::ast::{LineFilterOp, LineFilterValue, MatchOp, Matcher, Stage};
use kelp_store::{LabelMatcher, LineFilter, MatchOp as StoreOp};

use crate::error::{QueryError, Result};
use crate::pipeline::filter::line_regex;
use crate::Limits;

/// The store matchers of a selector; a regex compiled larger than
/// `limits.max_regex_bytes` is refused as line filters' are.
pub(crate) fn matchers(selector: &[Matcher], limits: &Limits) -> Result<Vec<LabelMatcher>> {
    selector
        .iter()
        .map(|m| {
            let op = match m.op {
                MatchOp::Eq => StoreOp::Eq,
                MatchOp::Neq => StoreOp::Neq,
                MatchOp::Re => StoreOp::Re,
                MatchOp::Nre => StoreOp::NotRe,
            };
            LabelMatcher::with_regex_limit(&m.name, op, &m.value, limits.max_regex_bytes).map_err(
                |e| match e {
                    kelp_store::StoreError::InvalidQuery(m) => QueryError::Invalid(m),
                    e => QueryError::from(e),
                },
            )
        })
        .collect()
}

/// Splits a pipeline into the line filters the store applies and the stages left to
/// run. Only line filters before the first other stage move (they do not depend on
/// labels and commute with each other); those the store cannot run (patterns, `ip()`)
/// stay, in order.
pub(crate) fn pushdown(
    pipeline: &[Stage],
    limits: &Limits,
) -> Result<(Vec<LineFilter>, Vec<Stage>)> {
    let lead = pipeline
        .iter()
        .take_while(|s| matches!(s, Stage::LineFilter(_)))
        .count();
    let mut pushed = Vec::new();
    let mut rest = Vec::new();
    for s in &pipeline[..lead] {
        let Stage::LineFilter(f) = s else { continue };
        let texts: Option<Vec<&str>> = f
            .values
            .iter()
            .map(|v| match v {
                LineFilterValue::Text(t) => Some(t.as_str()),
                LineFilterValue::Ip(_) => None,
            })
            .collect();
        let Some(texts) = texts else {
            rest.push(s.clone());
            continue;
        };
        match f.op {
            LineFilterOp::Contains if texts.len() == 1 => {
                pushed.push(LineFilter::Contains(texts[0].as_bytes().to_vec()))
            }
            LineFilterOp::Contains => pushed.push(LineFilter::Regex(
                texts
                    .iter()
                    .map(|t| regex::escape(t))
                    .collect::<Vec<_>>()
                    .join("|"),
            )),
            LineFilterOp::NotContains => pushed.extend(
                texts
                    .iter()
                    .map(|t| LineFilter::NotContains(t.as_bytes().to_vec())),
            ),
            LineFilterOp::Match | LineFilterOp::NotMatch => {
                for t in &texts {
                    line_regex(t, limits)?; // report a bad regex in our words
                }
                let alts: Vec<String> = texts.iter().map(|t| format!("(?s:{t})")).collect();
                if f.op == LineFilterOp::Match {
                    pushed.push(LineFilter::Regex(alts.join("|")));
                } else {
                    pushed.extend(alts.into_iter().map(LineFilter::NotRegex));
                }
            }
            LineFilterOp::Pattern | LineFilterOp::NotPattern => rest.push(s.clone()),
        }
    }
    rest.extend(pipeline[lead..].iter().cloned());
    Ok((pushed, rest))
}

/// Evaluation times `start + k·step`, `k < n`, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Steps {
    /// The first time.
    pub start: i64,
    /// The distance between times (> 0).
    pub step: i64,
    /// How many.
    pub n: usize,
}

impl Steps {
    /// The `k`th time.
    pub fn at(&self, k: usize) -> i64 {
        self.start
            .saturating_add(self.step.saturating_mul(k as i64))
    }

    /// The last time.
    pub fn last(&self) -> i64 {
        self.at(self.n.saturating_sub(1))
    }
}
