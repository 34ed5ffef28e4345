//! Metric queries: range and vector aggregations, binary operations, literals and functions.

use kelp_model::GoDuration;

use super::{BinaryOp, LabelFilter, LogExpr};

/// A metric query, which yields samples.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricExpr {
    /// `rate({app="api"}[5m])`, `quantile_over_time(0.9, ... | unwrap x [5m]) by (host)`.
    RangeAggregation(RangeAggregation),
    /// `sum by (level) (...)`, `topk(5, ...)`.
    VectorAggregation(VectorAggregation),
    /// `a / on (host) group_left b`, `x > bool 10`, `1 + 1`.
    BinaryOp(BinaryOp),
    /// A number, `-1.5`: a scalar.
    Literal(f64),
    /// `vector(1)`: a label-less sample of this value at every step.
    Vector(f64),
    /// `label_replace(v, "dst", "$1", "src", "(.*)")`.
    LabelReplace(LabelReplace),
}

impl MetricExpr {
    /// The value of a scalar-only expression (literals and arithmetic or comparisons on
    /// them), folded as Loki folds it at parse time: arithmetic as usual, comparisons give
    /// 1 or 0 with or without `bool`. `None` when a vector is involved.
    pub fn constant_value(&self) -> Option<f64> {
        match self {
            MetricExpr::Literal(v) => Some(*v),
            MetricExpr::BinaryOp(b) => {
                let (l, r) = (b.lhs.constant_value()?, b.rhs.constant_value()?);
                b.op.apply_scalar(l, r)
            }
            _ => None,
        }
    }

    /// Every log range in the expression, left to right.
    pub fn log_ranges(&self) -> Vec<&LogRange> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            match e {
                MetricExpr::RangeAggregation(r) => out.push(&r.range),
                MetricExpr::VectorAggregation(v) => stack.push(&v.expr),
                MetricExpr::LabelReplace(l) => stack.push(&l.expr),
                MetricExpr::BinaryOp(b) => stack.extend([&*b.rhs, &*b.lhs]),
                MetricExpr::Literal(_) | MetricExpr::Vector(_) => {}
            }
        }
        out
    }
}

/// `op([param,] range) [by|without (...)]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeAggregation {
    /// The function (with its parameter, for `quantile_over_time`).
    pub op: RangeOp,
    /// What it aggregates.
    pub range: LogRange,
    /// `by`/`without` after the call; allowed only where [`RangeOp::allows_grouping`].
    pub grouping: Option<Grouping>,
}

/// A range aggregation function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RangeOp {
    /// `count_over_time`: entries in the window.
    CountOverTime,
    /// `rate`: entries (or the sum of unwrapped values) per second.
    Rate,
    /// `rate_counter`: a Prometheus-style counter rate of the unwrapped values.
    RateCounter,
    /// `bytes_over_time`: bytes of the lines in the window.
    BytesOverTime,
    /// `bytes_rate`: bytes per second.
    BytesRate,
    /// `absent_over_time`: 1 when the window is empty.
    AbsentOverTime,
    /// `sum_over_time`.
    SumOverTime,
    /// `avg_over_time`.
    AvgOverTime,
    /// `min_over_time`.
    MinOverTime,
    /// `max_over_time`.
    MaxOverTime,
    /// `stddev_over_time` (population).
    StddevOverTime,
    /// `stdvar_over_time` (population).
    StdvarOverTime,
    /// `quantile_over_time(φ, ...)`.
    QuantileOverTime(f64),
    /// `first_over_time`.
    FirstOverTime,
    /// `last_over_time`.
    LastOverTime,
}

const RANGE_OPS: [(&str, RangeOp); 15] = [
    ("count_over_time", RangeOp::CountOverTime),
    ("rate", RangeOp::Rate),
    ("rate_counter", RangeOp::RateCounter),
    ("bytes_over_time", RangeOp::BytesOverTime),
    ("bytes_rate", RangeOp::BytesRate),
    ("absent_over_time", RangeOp::AbsentOverTime),
    ("sum_over_time", RangeOp::SumOverTime),
    ("avg_over_time", RangeOp::AvgOverTime),
    ("min_over_time", RangeOp::MinOverTime),
    ("max_over_time", RangeOp::MaxOverTime),
    ("stddev_over_time", RangeOp::StddevOverTime),
    ("stdvar_over_time", RangeOp::StdvarOverTime),
    ("quantile_over_time", RangeOp::QuantileOverTime(0.0)),
    ("first_over_time", RangeOp::FirstOverTime),
    ("last_over_time", RangeOp::LastOverTime),
];

impl RangeOp {
    /// The function's name.
    pub fn name(self) -> &'static str {
        let same = |op: &RangeOp| std::mem::discriminant(op) == std::mem::discriminant(&self);
        RANGE_OPS
            .iter()
            .find(|(_, op)| same(op))
            .map_or("", |(name, _)| name)
    }

    /// The function named `name` (ASCII case-insensitive); `quantile` is the parameter of
    /// `quantile_over_time`.
    pub(crate) fn from_name(name: &str, quantile: f64) -> Option<Self> {
        let (_, op) = RANGE_OPS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))?;
        Some(match op {
            RangeOp::QuantileOverTime(_) => RangeOp::QuantileOverTime(quantile),
            op => *op,
        })
    }

    /// Whether `by`/`without` may follow the call.
    pub fn allows_grouping(self) -> bool {
        matches!(
            self,
            Self::AvgOverTime
                | Self::MinOverTime
                | Self::MaxOverTime
                | Self::StddevOverTime
                | Self::StdvarOverTime
                | Self::QuantileOverTime(_)
                | Self::FirstOverTime
                | Self::LastOverTime
        )
    }

    /// Whether the range may have `| unwrap`.
    pub fn allows_unwrap(self) -> bool {
        !matches!(
            self,
            Self::CountOverTime | Self::BytesOverTime | Self::BytesRate
        )
    }

    /// Whether the range must have `| unwrap`.
    pub fn requires_unwrap(self) -> bool {
        !matches!(
            self,
            Self::CountOverTime
                | Self::Rate
                | Self::BytesOverTime
                | Self::BytesRate
                | Self::AbsentOverTime
        )
    }
}

/// A log query over a time window: `{app="api"} | json | unwrap latency [5m] offset 1h`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRange {
    /// The selector and pipeline.
    pub log: LogExpr,
    /// `| unwrap label` and its post-filters.
    pub unwrap: Option<Unwrap>,
    /// The window length (`[5m]`).
    pub interval: GoDuration,
    /// `offset 1h`: how far back the window is moved (may be negative; zero when absent).
    pub offset: GoDuration,
}

/// `| unwrap [conv(]label[)] (| label filter)*`.
#[derive(Debug, Clone, PartialEq)]
pub struct Unwrap {
    /// The label whose value becomes the sample.
    pub label: String,
    /// How the value is read; a float64 when `None`.
    pub conversion: Option<Conversion>,
    /// Label filters after the unwrap, in order.
    pub post_filters: Vec<LabelFilter>,
}

/// An unwrap conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Conversion {
    /// `bytes(x)`: a humanized byte size, in bytes.
    Bytes,
    /// `duration(x)`: a Go duration, in seconds.
    Duration,
    /// `duration_seconds(x)`: the same as `duration`.
    DurationSeconds,
}

impl Conversion {
    /// The function's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bytes => "bytes",
            Self::Duration => "duration",
            Self::DurationSeconds => "duration_seconds",
        }
    }
}

/// `op [grouping] ([param,] expr)`.
#[derive(Debug, Clone, PartialEq)]
pub struct VectorAggregation {
    /// The aggregation (with `k` for `topk`, `bottomk`, `approx_topk`).
    pub op: VectorOp,
    /// `by`/`without`, written before or after the arguments. `None` aggregates everything,
    /// like `by ()`.
    pub grouping: Option<Grouping>,
    /// What it aggregates.
    pub expr: Box<MetricExpr>,
}

/// A vector aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VectorOp {
    /// `sum`.
    Sum,
    /// `avg`.
    Avg,
    /// `min`.
    Min,
    /// `max`.
    Max,
    /// `count`: the number of series.
    Count,
    /// `stddev` (population).
    Stddev,
    /// `stdvar` (population).
    Stdvar,
    /// `topk(k, ...)`, k > 0.
    TopK(u64),
    /// `bottomk(k, ...)`, k > 0.
    BottomK(u64),
    /// `sort`: ascending by value.
    Sort,
    /// `sort_desc`.
    SortDesc,
    /// `approx_topk(k, ...)`, k > 0.
    ApproxTopK(u64),
}

const VECTOR_OPS: [&str; 12] = [
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "sort",
    "sort_desc",
    "approx_topk",
];

impl VectorOp {
    /// The aggregation's name.
    pub fn name(self) -> &'static str {
        let i = match self {
            Self::Sum => 0,
            Self::Avg => 1,
            Self::Min => 2,
            Self::Max => 3,
            Self::Count => 4,
            Self::Stddev => 5,
            Self::Stdvar => 6,
            Self::TopK(_) => 7,
            Self::BottomK(_) => 8,
            Self::Sort => 9,
            Self::SortDesc => 10,
            Self::ApproxTopK(_) => 11,
        };
        VECTOR_OPS[i]
    }

    /// The canonical name of the aggregation called `name` (ASCII case-insensitive).
    pub(crate) fn canonical_name(name: &str) -> Option<&'static str> {
        VECTOR_OPS
            .iter()
            .find(|n| n.eq_ignore_ascii_case(name))
            .copied()
    }

    /// The aggregation called `name` (canonical), with `k` for those that take it.
    pub(crate) fn from_name(name: &str, k: u64) -> Option<Self> {
        Some(match name {
            "sum" => Self::Sum,
            "avg" => Self::Avg,
            "min" => Self::Min,
            "max" => Self::Max,
            "count" => Self::Count,
            "stddev" => Self::Stddev,
            "stdvar" => Self::Stdvar,
            "topk" => Self::TopK(k),
            "bottomk" => Self::BottomK(k),
            "sort" => Self::Sort,
            "sort_desc" => Self::SortDesc,
            "approx_topk" => Self::ApproxTopK(k),
            _ => return None,
        })
    }

    /// `k`, for `topk`, `bottomk` and `approx_topk`.
    pub fn k(self) -> Option<u64> {
        match self {
            Self::TopK(k) | Self::BottomK(k) | Self::ApproxTopK(k) => Some(k),
            _ => None,
        }
    }

    /// Whether the aggregation called `name` (canonical) takes `k`.
    pub(crate) fn takes_k(name: &str) -> bool {
        matches!(name, "topk" | "bottomk" | "approx_topk")
    }

    /// Whether `by`/`without` is allowed.
    pub fn allows_grouping(self) -> bool {
        !matches!(self, Self::Sort | Self::SortDesc | Self::ApproxTopK(_))
    }
}

/// `by (labels)` or `without (labels)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Grouping {
    /// Keep only these labels.
    By(Vec<String>),
    /// Drop these labels.
    Without(Vec<String>),
}

/// `label_replace(expr, "dst", "replacement", "src", "regex")`.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelReplace {
    /// The input vector.
    pub expr: Box<MetricExpr>,
    /// The label to set.
    pub dst: String,
    /// The replacement, with `$1`, `${name}` references.
    pub replacement: String,
    /// The label matched.
    pub src: String,
    /// The regex, fully anchored.
    pub regex: String,
}
