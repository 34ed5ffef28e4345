//! Binary operations and vector matching.

use super::MetricExpr;

/// `lhs op [bool] [on|ignoring (...) [group_left|group_right [(...)]]] rhs`.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryOp {
    /// The operator.
    pub op: BinOp,
    /// `bool` and vector matching.
    pub modifier: BinOpModifier,
    /// The left operand.
    pub lhs: Box<MetricExpr>,
    /// The right operand.
    pub rhs: Box<MetricExpr>,
}

/// A binary operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `or` (set union).
    Or,
    /// `and` (set intersection).
    And,
    /// `unless` (set difference).
    Unless,
    /// `==`.
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
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Mod,
    /// `^` (right-associative).
    Pow,
}

impl BinOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Or => "or",
            Self::And => "and",
            Self::Unless => "unless",
            Self::Eq => "==",
            Self::Neq => "!=",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Add => "+",
            Self::Sub => "-",
            Self::Mul => "*",
            Self::Div => "/",
            Self::Mod => "%",
            Self::Pow => "^",
        }
    }

    /// Binding strength, 1 (`or`) to 6 (`^`).
    pub fn precedence(self) -> u8 {
        match self {
            Self::Or => 1,
            Self::And | Self::Unless => 2,
            Self::Eq | Self::Neq | Self::Gt | Self::Ge | Self::Lt | Self::Le => 3,
            Self::Add | Self::Sub => 4,
            Self::Mul | Self::Div | Self::Mod => 5,
            Self::Pow => 6,
        }
    }

    /// Whether `a op b op c` is `a op (b op c)` (only `^`).
    pub fn is_right_associative(self) -> bool {
        self == Self::Pow
    }

    /// `== != > >= < <=`.
    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }

    /// `and or unless`.
    pub fn is_set(self) -> bool {
        matches!(self, Self::Or | Self::And | Self::Unless)
    }

    /// The operator on two scalars: arithmetic, or 1/0 for comparisons; `None` for the
    /// set operators, which take vectors only.
    pub fn apply_scalar(self, l: f64, r: f64) -> Option<f64> {
        let truth = |b: bool| if b { 1.0 } else { 0.0 };
        Some(match self {
            Self::Or | Self::And | Self::Unless => return None,
            Self::Eq => truth(l == r),
            Self::Neq => truth(l != r),
            Self::Gt => truth(l > r),
            Self::Ge => truth(l >= r),
            Self::Lt => truth(l < r),
            Self::Le => truth(l <= r),
            Self::Add => l + r,
            Self::Sub => l - r,
            Self::Mul => l * r,
            Self::Div => l / r,
            Self::Mod => l % r,
            Self::Pow => l.powf(r),
        })
    }
}

/// What follows a binary operator.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct BinOpModifier {
    /// `bool`: comparisons return 0/1 instead of filtering (comparisons only).
    pub return_bool: bool,
    /// `on`/`ignoring`; `None` matches on all labels, one to one.
    pub matching: Option<VectorMatching>,
}

/// `on (labels)` or `ignoring (labels)`, optionally with `group_left`/`group_right`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VectorMatching {
    /// `on` (match on these labels) rather than `ignoring` (match on all others).
    pub on: bool,
    /// The labels.
    pub labels: Vec<String>,
    /// Many-to-one or one-to-many matching (not for the set operators).
    pub group: Option<GroupModifier>,
}

/// `group_left [(labels)]` or `group_right [(labels)]`: the labels are copied from the
/// "one" side.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupModifier {
    /// The left side is the "many" side.
    Left(Vec<String>),
    /// The right side is the "many" side.
    Right(Vec<String>),
}
