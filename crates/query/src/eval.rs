//! Metric evaluation: every node yields a scalar or a set of series with one optional
//! value per evaluation step.

use kelp_logql::ast::{Grouping, MetricExpr};
use kelp_model::Labels;

use crate::engine::Ctx;
use crate::error::{QueryError, Result};
use crate::plan::Steps;

/// One series: labels and a value (or none) per step.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SeriesV {
    /// The labels.
    pub labels: Labels,
    /// `values[k]` at step `k`.
    pub values: Vec<Option<f64>>,
}

/// What a node yields.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// The same number at every step.
    Scalar(f64),
    /// Series, in the order later stages should keep (sorted by labels unless a sort
    /// reordered them).
    Vector(Vec<SeriesV>),
}

/// Evaluates a metric expression at `steps`.
pub(crate) fn eval(ctx: &Ctx<'_>, e: &MetricExpr, steps: &Steps) -> Result<Value> {
    ctx.check()?;
    if let Some(v) = e.constant_value() {
        return Ok(Value::Scalar(v));
    }
    let v = match e {
        MetricExpr::Literal(v) => Value::Scalar(*v),
        MetricExpr::Vector(v) => Value::Vector(vec![SeriesV {
            labels: Labels::empty(),
            values: vec![Some(*v); steps.n],
        }]),
        MetricExpr::RangeAggregation(r) => Value::Vector(crate::range::eval(ctx, r, steps)?),
        MetricExpr::VectorAggregation(a) => {
            let inner = match eval(ctx, &a.expr, steps)? {
                Value::Vector(v) => v,
                Value::Scalar(_) => {
                    return Err(QueryError::Invalid(format!(
                        "{} expects a vector, not a scalar",
                        a.op.name()
                    )))
                }
            };
            Value::Vector(crate::vector::aggregate(a, inner, steps.n)?)
        }
        MetricExpr::BinaryOp(b) => {
            let l = eval(ctx, &b.lhs, steps)?;
            let r = eval(ctx, &b.rhs, steps)?;
            crate::binary::apply(b, l, r, steps.n)?
        }
        MetricExpr::LabelReplace(l) => match eval(ctx, &l.expr, steps)? {
            Value::Vector(v) => Value::Vector(crate::binary::label_replace(l, v, ctx.limits)?),
            s => s,
        },
    };
    if let Value::Vector(v) = &v {
        if v.len() > ctx.limits.max_series {
            return Err(QueryError::TooManySeries {
                max: ctx.limits.max_series,
            });
        }
    }
    Ok(v)
}

/// The labels a grouping keeps: `by` keeps the listed ones, `without` drops them.
pub(crate) fn group_labels(labels: &Labels, g: Option<&Grouping>) -> Labels {
    match g {
        None => Labels::empty(),
        Some(Grouping::By(names)) => filter_labels(labels, |n| names.iter().any(|x| x == n)),
        Some(Grouping::Without(names)) => filter_labels(labels, |n| !names.iter().any(|x| x == n)),
    }
}

/// The labels whose name passes `keep`.
pub(crate) fn filter_labels(labels: &Labels, keep: impl Fn(&str) -> bool) -> Labels {
    let pairs: Vec<(&str, &str)> = labels
        .iter()
        .filter(|p| keep(&p.name))
        .map(|p| (p.name.as_str(), p.value.as_str()))
        .collect();
    // A subset of a valid label set is valid.
    Labels::from_pairs(pairs).unwrap_or_default()
}
