//! The canonical printer: `Display` for the tree. Parsing the output gives the same tree.
//!
//! The form: lowercase keywords; matchers and predicates without spaces (`a="b"`,
//! `status>=500`); stages separated by one space; strings double-quoted with Go escapes;
//! `[range]` last in a log range (directly after the selector when there is no pipeline);
//! grouping before the arguments of a vector aggregation and after the call of a range
//! aggregation; `and`/`or` in label filters; parentheses only where precedence needs them;
//! durations in Prometheus units (`1h30m`); byte sizes in the largest exact binary unit.

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::{
    BinOp, BinaryOp, Expr, GroupModifier, Grouping, LabelExtraction, LabelFilter, LabelFormat,
    LabelPredicate, LabelReplace, LineFilter, LineFilterValue, LogExpr, LogRange, Matcher,
    MetricExpr, NamedMatcher, RangeAggregation, RangeOp, Stage, Unwrap, VectorAggregation,
};
use crate::units::{fmt_bytes, fmt_duration, Show};

/// Writes `s` as a double-quoted string with Go's escapes.
fn quote(f: &mut Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c < ' ' || c == '\u{7f}' => write!(f, "\\x{:02x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// Writes items separated by `sep`.
fn join<T>(
    f: &mut Formatter<'_>,
    items: &[T],
    sep: &str,
    mut item: impl FnMut(&mut Formatter<'_>, &T) -> fmt::Result,
) -> fmt::Result {
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        item(f, x)?;
    }
    Ok(())
}

/// `(a, b)`.
fn labels(f: &mut Formatter<'_>, names: &[String]) -> fmt::Result {
    f.write_char('(')?;
    join(f, names, ", ", |f, n| f.write_str(n))?;
    f.write_char(')')
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Log(log) => log.fmt(f),
            Expr::Metric(m) => m.fmt(f),
        }
    }
}

impl Display for LogExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_char('{')?;
        join(f, &self.selector, ", ", |f, m| m.fmt(f))?;
        f.write_char('}')?;
        self.pipeline.iter().try_for_each(|s| write!(f, " {s}"))
    }
}

impl Display for Matcher {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.name, self.op.as_str())?;
        quote(f, &self.value)
    }
}

impl Display for LineFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.op.as_str())?;
        join(f, &self.values, " or ", |f, v| match v {
            LineFilterValue::Text(s) => quote(f, s),
            LineFilterValue::Ip(s) => {
                f.write_str("ip(")?;
                quote(f, s)?;
                f.write_char(')')
            }
        })
    }
}

fn extractions(f: &mut Formatter<'_>, params: &[LabelExtraction]) -> fmt::Result {
    if !params.is_empty() {
        f.write_char(' ')?;
    }
    join(f, params, ", ", |f, p| {
        f.write_str(&p.label)?;
        if p.expression == p.label {
            return Ok(());
        }
        f.write_char('=')?;
        quote(f, &p.expression)
    })
}

fn named_matchers(f: &mut Formatter<'_>, stage: &str, items: &[NamedMatcher]) -> fmt::Result {
    write!(f, "| {stage} ")?;
    join(f, items, ", ", |f, item| match item {
        NamedMatcher::Name(n) => f.write_str(n),
        NamedMatcher::Matcher(m) => m.fmt(f),
    })
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::LineFilter(lf) => lf.fmt(f),
            Stage::Json(params) => {
                f.write_str("| json")?;
                extractions(f, params)
            }
            Stage::Logfmt(l) => {
                f.write_str("| logfmt")?;
                if l.strict {
                    f.write_str(" --strict")?;
                }
                if l.keep_empty {
                    f.write_str(" --keep-empty")?;
                }
                extractions(f, &l.params)
            }
            Stage::Regexp(re) => {
                f.write_str("| regexp ")?;
                quote(f, re)
            }
            Stage::Pattern(p) => {
                f.write_str("| pattern ")?;
                quote(f, p)
            }
            Stage::Unpack => f.write_str("| unpack"),
            Stage::LabelFilter(lf) => write!(f, "| {lf}"),
            Stage::LineFormat(t) => {
                f.write_str("| line_format ")?;
                quote(f, t)
            }
            Stage::LabelFormat(items) => {
                f.write_str("| label_format ")?;
                join(f, items, ", ", |f, item| match item {
                    LabelFormat::Rename { dst, src } => write!(f, "{dst}={src}"),
                    LabelFormat::Template { dst, template } => {
                        write!(f, "{dst}=")?;
                        quote(f, template)
                    }
                })
            }
            Stage::Drop(items) => named_matchers(f, "drop", items),
            Stage::Keep(items) => named_matchers(f, "keep", items),
            Stage::Decolorize => f.write_str("| decolorize"),
        }
    }
}

impl Display for LabelFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (items, sep) = match self {
            LabelFilter::Predicate(p) => return p.fmt(f),
            LabelFilter::And(items) => (items, " and "),
            LabelFilter::Or(items) => (items, " or "),
        };
        let and = matches!(self, LabelFilter::And(_));
        join(f, items, sep, |f, item| match item {
            LabelFilter::Or(_) | LabelFilter::And(_)
                if and || matches!(item, LabelFilter::Or(_)) =>
            {
                write!(f, "({item})")
            }
            item => item.fmt(f),
        })
    }
}

impl Display for LabelPredicate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            LabelPredicate::Matcher(m) => m.fmt(f),
            LabelPredicate::Ip {
                name,
                negated,
                pattern,
            } => {
                write!(f, "{name}{}ip(", if *negated { "!=" } else { "=" })?;
                quote(f, pattern)?;
                f.write_char(')')
            }
            LabelPredicate::Number { name, op, value } => {
                write!(f, "{name}{}{}", op.as_str(), Number(*value))
            }
            LabelPredicate::Duration { name, op, value } => {
                write!(f, "{name}{}{}", op.as_str(), Show(*value, fmt_duration))
            }
            LabelPredicate::Bytes { name, op, value } => {
                write!(f, "{name}{}{}", op.as_str(), Show(*value, fmt_bytes))
            }
        }
    }
}

/// A float as Loki writes it when it is not finite (`NaN`, `+Inf`), else in Rust's shortest
/// exact form.
struct Number(f64);

impl Display for Number {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.0 {
            v if v.is_nan() => f.write_str("NaN"),
            f64::INFINITY => f.write_str("+Inf"),
            f64::NEG_INFINITY => f.write_str("-Inf"),
            v => write!(f, "{v}"),
        }
    }
}

impl Display for MetricExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            MetricExpr::RangeAggregation(r) => r.fmt(f),
            MetricExpr::VectorAggregation(v) => v.fmt(f),
            MetricExpr::BinaryOp(b) => b.fmt(f),
            MetricExpr::Literal(v) => Number(*v).fmt(f),
            MetricExpr::Vector(v) => write!(f, "vector({})", Number(*v)),
            MetricExpr::LabelReplace(l) => l.fmt(f),
        }
    }
}

impl Display for Grouping {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let (word, names) = match self {
            Grouping::By(names) => ("by", names),
            Grouping::Without(names) => ("without", names),
        };
        write!(f, "{word} ")?;
        labels(f, names)
    }
}

impl Display for RangeAggregation {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.op.name())?;
        if let RangeOp::QuantileOverTime(q) = self.op {
            write!(f, "{}, ", Number(q))?;
        }
        write!(f, "{})", self.range)?;
        match &self.grouping {
            Some(g) => write!(f, " {g}"),
            None => Ok(()),
        }
    }
}

impl Display for LogRange {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        self.log.fmt(f)?;
        if let Some(u) = &self.unwrap {
            write!(f, " {u}")?;
        }
        if !self.log.pipeline.is_empty() || self.unwrap.is_some() {
            f.write_char(' ')?;
        }
        write!(f, "[{}]", Show(self.interval, fmt_duration))?;
        if self.offset.as_nanos() != 0 {
            write!(f, " offset {}", Show(self.offset, fmt_duration))?;
        }
        Ok(())
    }
}

impl Display for Unwrap {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.conversion {
            Some(c) => write!(f, "| unwrap {}({})", c.name(), self.label)?,
            None => write!(f, "| unwrap {}", self.label)?,
        }
        self.post_filters
            .iter()
            .try_for_each(|p| write!(f, " | {p}"))
    }
}

impl Display for VectorAggregation {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.op.name())?;
        if let Some(g) = &self.grouping {
            write!(f, " {g} ")?;
        }
        f.write_char('(')?;
        if let Some(k) = self.op.k() {
            write!(f, "{k}, ")?;
        }
        write!(f, "{})", self.expr)
    }
}

/// Whether `child`, an operand of `parent`, needs parentheses: it binds more loosely, or
/// equally on the side `parent` does not associate to.
fn needs_parens(parent: BinOp, child: &MetricExpr, left: bool) -> bool {
    match child {
        MetricExpr::BinaryOp(b) => {
            let (p, q) = (parent.precedence(), b.op.precedence());
            q < p || (q == p && left == parent.is_right_associative())
        }
        _ => false,
    }
}

/// Whether the printed operand `e` of `parent` starts with `(`.
fn starts_with_paren(parent: BinOp, mut e: &MetricExpr, left: bool) -> bool {
    if needs_parens(parent, e, left) {
        return true;
    }
    while let MetricExpr::BinaryOp(b) = e {
        if needs_parens(b.op, &b.lhs, true) {
            return true;
        }
        e = &b.lhs;
    }
    false
}

impl Display for BinaryOp {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let operand = |f: &mut Formatter<'_>, e: &MetricExpr, left: bool| {
            if needs_parens(self.op, e, left) {
                write!(f, "({e})")
            } else {
                e.fmt(f)
            }
        };
        operand(f, &self.lhs, true)?;
        write!(f, " {}", self.op.as_str())?;
        if self.modifier.return_bool {
            f.write_str(" bool")?;
        }
        if let Some(m) = &self.modifier.matching {
            f.write_str(if m.on { " on " } else { " ignoring " })?;
            labels(f, &m.labels)?;
            let (word, names): (&str, &[String]) = match &m.group {
                Some(GroupModifier::Left(names)) => (" group_left", names),
                Some(GroupModifier::Right(names)) => (" group_right", names),
                None => ("", &[]),
            };
            f.write_str(word)?;
            // `group_left (x)` would read a right operand starting with `(` as labels.
            let ambiguous = starts_with_paren(self.op, &self.rhs, false);
            if !word.is_empty() && (!names.is_empty() || ambiguous) {
                f.write_char(' ')?;
                labels(f, names)?;
            }
        }
        f.write_char(' ')?;
        operand(f, &self.rhs, false)
    }
}

impl Display for LabelReplace {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "label_replace({}", self.expr)?;
        for s in [&self.dst, &self.replacement, &self.src, &self.regex] {
            f.write_str(", ")?;
            quote(f, s)?;
        }
        f.write_char(')')
    }
}
