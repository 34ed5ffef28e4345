//! Label filters: `| status >= 500 and (level="error" or latency > 2s)`.

use kelp_model::{ByteSize, GoDuration};

use super::Matcher;

/// A label filter expression.
///
/// `and`, `,` and plain juxtaposition are all [`LabelFilter::And`] and bind tighter than
/// `or`. Chains are flat: an `And` has at least two children and none of them is an
/// `And` (the same for `Or`), so `a and (b and c)` and `a b, c` are one `And` of three.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelFilter {
    /// Every child passes.
    And(Vec<LabelFilter>),
    /// Some child passes.
    Or(Vec<LabelFilter>),
    /// A single test.
    Predicate(LabelPredicate),
}

/// A single label test.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelPredicate {
    /// `level="error"`, `path=~"/api/.*"`: like a stream matcher (anchored regex, a
    /// missing label is `""`). The only kind that can test `__error__`.
    Matcher(Matcher),
    /// `addr=ip("10.0.0.0/8")` or `addr!=ip(...)`.
    Ip {
        /// The label.
        name: String,
        /// `!=` rather than `=`.
        negated: bool,
        /// The address, range (`a-b`) or CIDR.
        pattern: String,
    },
    /// `status >= 500`: the label read as a float64.
    Number {
        /// The label.
        name: String,
        /// The comparison.
        op: CmpOp,
        /// The right-hand side.
        value: f64,
    },
    /// `latency > 250ms`: the label read with Go's `time.ParseDuration`.
    Duration {
        /// The label.
        name: String,
        /// The comparison.
        op: CmpOp,
        /// The right-hand side.
        value: GoDuration,
    },
    /// `size > 10MB`: the label read as a humanized byte size.
    Bytes {
        /// The label.
        name: String,
        /// The comparison.
        op: CmpOp,
        /// The right-hand side.
        value: ByteSize,
    },
}

impl LabelPredicate {
    /// The label the predicate tests.
    pub fn name(&self) -> &str {
        match self {
            Self::Matcher(m) => &m.name,
            Self::Ip { name, .. }
            | Self::Number { name, .. }
            | Self::Duration { name, .. }
            | Self::Bytes { name, .. } => name,
        }
    }
}

/// A numeric comparison in a label filter. `=` and `==` are both [`CmpOp::Eq`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `==` (or `=`).
    Eq,
    /// `!=`.
    Neq,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
}

impl CmpOp {
    /// The canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "==",
            Self::Neq => "!=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Lt => "<",
            Self::Le => "<=",
        }
    }

    /// Applies the comparison.
    pub fn compare<T: PartialOrd>(self, left: T, right: T) -> bool {
        match self {
            Self::Eq => left == right,
            Self::Neq => left != right,
            Self::Gt => left > right,
            Self::Ge => left >= right,
            Self::Lt => left < right,
            Self::Le => left <= right,
        }
    }
}
