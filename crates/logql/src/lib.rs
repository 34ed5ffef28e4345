//! # kelp-logql
//!
//! LogQL, the query language of Loki, as syntax: a lexer, a parser, the syntax tree and a
//! canonical printer. Planning and evaluation live elsewhere (the query engine is written
//! against [`ast`]); this crate knows nothing of storage or HTTP.
//!
//! - [`parse`] turns a query into an [`Expr`], applying every rule Loki's parser applies
//!   (a selector must select something, `topk` needs `k > 0`, `sum_over_time` needs
//!   `unwrap`, ...). It never panics, rejects queries longer than [`MAX_QUERY_BYTES`] and
//!   nesting deeper than [`MAX_DEPTH`].
//! - [`ast`]: [`Expr`] is a log query ([`ast::LogExpr`]) or a metric query
//!   ([`ast::MetricExpr`]).
//! - `Display` on every tree type prints the canonical form: parsing it again gives the
//!   same tree.
//! - [`ParseError`]: the one error type, with the position of the problem and Loki's
//!   wording.
//! - [`validate()`] checks a tree built by hand.
//!
//! The grammar and its rules are described in `docs/logql.md`.
//!
//! ```
//! use kelp_logql::ast::{Expr, MetricExpr, RangeOp, Stage, VectorOp};
//!
//! let query = r#"SUM BY (level) (rate({app="api"} |= "error" | json | status >= 500 [5m]))"#;
//! let expr = kelp_logql::parse(query).unwrap();
//!
//! let Expr::Metric(MetricExpr::VectorAggregation(sum)) = &expr else { unreachable!() };
//! assert_eq!(sum.op, VectorOp::Sum);
//! let MetricExpr::RangeAggregation(rate) = &*sum.expr else { unreachable!() };
//! assert_eq!(rate.op, RangeOp::Rate);
//! assert_eq!(rate.range.interval.as_nanos(), 300_000_000_000);
//! assert!(matches!(rate.range.log.pipeline[1], Stage::Json(_)));
//!
//! // The canonical form, which parses back to the same tree.
//! let printed = expr.to_string();
//! assert_eq!(
//!     printed,
//!     r#"sum by (level) (rate({app="api"} |= "error" | json | status>=500 [5m]))"#
//! );
//! assert_eq!(kelp_logql::parse(&printed).unwrap(), expr);
//!
//! // Errors say where, in Loki's words.
//! let err = kelp_logql::parse(r#"count_over_time({app="api"}[5m]) by (pod)"#).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "parse error at line 1, col 1: grouping not allowed for count_over_time aggregation"
//! );
//! let err = kelp_logql::parse(r#"{app=~".*"}"#).unwrap_err();
//! assert!(err.to_string().contains("at least one regexp or equality matcher"));
//! ```

pub mod ast;
mod error;
mod lexer;
mod parser;
pub mod pattern;
mod printer;
mod units;
mod validate;

pub use ast::Expr;
pub use error::{ParseError, Position};
pub use validate::validate;

/// The longest query accepted, in bytes (Loki's limit).
pub const MAX_QUERY_BYTES: usize = 128 * 1024;

/// How deeply a query may nest: parentheses, aggregations and chained binary operators
/// each add a level. Deeper queries are rejected rather than risking the stack.
pub const MAX_DEPTH: usize = 128;

/// Parses and validates a LogQL query.
///
/// Never panics, whatever the input.
pub fn parse(query: &str) -> Result<Expr, ParseError> {
    parser::parse(query)
}
