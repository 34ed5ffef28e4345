//! The syntax tree of a LogQL query.
//!
//! A query is an [`Expr`]: either a log query ([`LogExpr`]: a stream selector and a
//! pipeline) or a metric query ([`MetricExpr`]). The tree keeps what the query means, not
//! how it was written: parentheses, comments, keyword case, the place of `[range]` and of
//! `by (...)`, and `=` versus `==` in numeric label filters are not kept, so every way of
//! writing a query parses to the same tree and prints (see [`Display`](std::fmt::Display))
//! in one canonical form. Scalar arithmetic is not folded (`1 + 1` stays a
//! [`BinaryOp`]); [`MetricExpr::constant_value`] folds it the way Loki does.
//!
//! A tree the parser returns passes [`crate::validate`]; a hand-built tree should too
//! before it is printed or evaluated. Identifiers in the tree are valid LogQL identifiers
//! and never keywords.

mod binop;
mod label_filter;
mod log;
mod metric;

pub use binop::{BinOp, BinOpModifier, BinaryOp, GroupModifier, VectorMatching};
pub use label_filter::{CmpOp, LabelFilter, LabelPredicate};
pub use log::{
    LabelExtraction, LabelFormat, LineFilter, LineFilterOp, LineFilterValue, LogExpr, Logfmt,
    MatchOp, Matcher, NamedMatcher, Stage,
};
pub use metric::{
    Conversion, Grouping, LabelReplace, LogRange, MetricExpr, RangeAggregation, RangeOp, Unwrap,
    VectorAggregation, VectorOp,
};

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A log query, `{app="api"} |= "error" | json`, which yields log lines.
    Log(LogExpr),
    /// A metric query, `sum by (level) (rate({app="api"}[5m]))`, which yields samples.
    Metric(MetricExpr),
}

impl Expr {
    /// Whether this is a log query (allowed only as a range query, not an instant one).
    pub fn is_log(&self) -> bool {
        matches!(self, Expr::Log(_))
    }

    /// Every stream selector in the query, left to right.
    pub fn selectors(&self) -> Vec<&[Matcher]> {
        match self {
            Expr::Log(log) => vec![&log.selector],
            Expr::Metric(m) => m
                .log_ranges()
                .into_iter()
                .map(|r| &*r.log.selector)
                .collect(),
        }
    }
}
