//! LogQL's rules beyond the grammar, in Loki's words. The parser applies them as it builds
//! the tree (so errors carry positions); [`validate`] applies them, and the tree's own
//! invariants, to a tree built by hand.

use regex_syntax::hir::{Hir, HirKind, Look};

use crate::ast::{
    BinOp, BinOpModifier, Expr, GroupModifier, Grouping, LabelFilter, LabelFormat, LabelPredicate,
    LineFilterOp, LogExpr, MatchOp, Matcher, MetricExpr, NamedMatcher, RangeOp, Stage, VectorOp,
};
use crate::error::{ParseError, Position};
use crate::lexer::Keyword;
use crate::pattern;

/// The selector rule's message (Loki's `errAtleastOneEqualityMatcherRequired`).
pub(crate) const EMPTY_SELECTOR: &str = "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

/// Parses a regular expression (RE2 syntax as Rust's `regex` reads it).
pub(crate) fn regex(re: &str) -> Result<Hir, String> {
    regex_syntax::ParserBuilder::new()
        .octal(true)
        .build()
        .parse(re)
        .map_err(|e| {
            let kind = match &e {
                regex_syntax::Error::Parse(e) => e.kind().to_string(),
                regex_syntax::Error::Translate(e) => e.kind().to_string(),
                _ => "invalid regular expression".to_owned(),
            };
            format!("error parsing regexp: {kind}: `{re}`")
        })
}

/// Checks a matcher's regex; returns whether the matcher accepts the empty value (a
/// missing label), which makes it useless for choosing streams.
pub(crate) fn matcher(m: &Matcher) -> Result<bool, String> {
    Ok(match m.op {
        MatchOp::Eq => m.value.is_empty(),
        MatchOp::Neq => !m.value.is_empty(),
        MatchOp::Re => matches_empty(&regex(&m.value)?),
        MatchOp::Nre => !matches_empty(&regex(&m.value)?),
    })
}

/// Whether the anchored regex matches `""`. Every assertion is evaluated at the only
/// position of the empty text, so only the word-boundary ones fail there.
fn matches_empty(hir: &Hir) -> bool {
    match hir.kind() {
        HirKind::Empty => true,
        HirKind::Literal(_) | HirKind::Class(_) => false,
        HirKind::Look(look) => !matches!(
            look,
            Look::WordAscii
                | Look::WordUnicode
                | Look::WordStartAscii
                | Look::WordEndAscii
                | Look::WordStartUnicode
                | Look::WordEndUnicode
        ),
        HirKind::Repetition(r) => r.min == 0 || matches_empty(&r.sub),
        HirKind::Capture(c) => matches_empty(&c.sub),
        HirKind::Concat(subs) => subs.iter().all(matches_empty),
        HirKind::Alternation(subs) => subs.iter().any(matches_empty),
    }
}

/// The `| regexp` stage: a valid regex with at least one named group, each a valid label.
pub(crate) fn regexp_parser(re: &str) -> Result<(), String> {
    let hir = regex(re).map_err(|e| format!("invalid regexp parser: {e}"))?;
    let mut names = Vec::new();
    capture_names(&hir, &mut names);
    if names.is_empty() {
        return Err("invalid regexp parser: at least one named capture must be supplied".into());
    }
    match names.iter().find(|n| !kelp_model::is_valid_label_name(n)) {
        Some(bad) => Err(format!(
            "invalid regexp parser: invalid extracted label name '{bad}'"
        )),
        None => Ok(()),
    }
}

fn capture_names<'h>(hir: &'h Hir, out: &mut Vec<&'h str>) {
    match hir.kind() {
        HirKind::Capture(c) => {
            out.extend(c.name.as_deref());
            capture_names(&c.sub, out);
        }
        HirKind::Repetition(r) => capture_names(&r.sub, out),
        HirKind::Concat(subs) | HirKind::Alternation(subs) => {
            subs.iter().for_each(|s| capture_names(s, out));
        }
        _ => {}
    }
}

/// `label_replace`'s regex, anchored as it is applied.
pub(crate) fn label_replace_regex(re: &str) -> Result<(), String> {
    regex(&format!("^(?:{re})$"))
        .map(drop)
        .map_err(|e| format!("invalid regex in label_replace: {e}"))
}

/// Which functions take grouping and unwrap (spec 5.1, 5.2).
pub(crate) fn range_aggregation(op: RangeOp, grouped: bool, unwrapped: bool) -> Result<(), String> {
    let name = op.name();
    if grouped && !op.allows_grouping() {
        Err(format!("grouping not allowed for {name} aggregation"))
    } else if unwrapped && !op.allows_unwrap() {
        Err(format!("invalid aggregation {name} with unwrap"))
    } else if !unwrapped && op.requires_unwrap() {
        Err(format!("invalid aggregation {name} without unwrap"))
    } else {
        Ok(())
    }
}

/// `k > 0`, and no grouping for `sort`, `sort_desc` and `approx_topk` (spec 5.4).
pub(crate) fn vector_aggregation(op: VectorOp, grouped: bool) -> Result<(), String> {
    let name = op.name();
    match op.k() {
        Some(0) => {
            return Err(format!(
                "invalid parameter (must be greater than 0) {name}(0"
            ))
        }
        Some(k) if i64::try_from(k).is_err() => {
            return Err(format!("invalid parameter {name}({k},"))
        }
        _ => {}
    }
    match op {
        _ if !grouped || op.allows_grouping() => Ok(()),
        VectorOp::Sort | VectorOp::SortDesc => {
            Err("sort and sort_desc doesn't allow grouping by ".into())
        }
        _ => Err(format!("grouping not allowed for {name} aggregation")),
    }
}

/// Which operand of a binary operation broke a rule.
pub(crate) enum Culprit {
    Left,
    Right,
    Operator,
}

/// Literals with set operators, `bool` outside comparisons, grouping with set operators.
pub(crate) fn binary_op(
    op: BinOp,
    modifier: &BinOpModifier,
    lhs: &MetricExpr,
    rhs: &MetricExpr,
) -> Result<(), (Culprit, String)> {
    if op.is_set() {
        for (leg, culprit, name) in [(lhs, Culprit::Left, "left"), (rhs, Culprit::Right, "right")] {
            if let Some(v) = leg.constant_value() {
                let reason = format!(
                    "unexpected literal for {name} leg of logical/set binary operation ({}): {}",
                    op.as_str(),
                    go_float(v)
                );
                return Err((culprit, reason));
            }
        }
    }
    if modifier.return_bool && !op.is_comparison() {
        let reason = "bool modifier can only be used on comparison operators";
        return Err((Culprit::Operator, reason.into()));
    }
    if op.is_set()
        && modifier
            .matching
            .as_ref()
            .is_some_and(|m| m.group.is_some())
    {
        let reason = format!("no grouping allowed for \"{}\" operation", op.as_str());
        return Err((Culprit::Operator, reason));
    }
    Ok(())
}

/// Go's `%f`.
fn go_float(v: f64) -> String {
    match v {
        _ if v.is_nan() => "NaN".into(),
        f64::INFINITY => "+Inf".into(),
        f64::NEG_INFINITY => "-Inf".into(),
        _ => format!("{v:.6}"),
    }
}

/// Checks a tree built by hand: the rules the parser applies, and that it prints to a query
/// that parses back to the same tree (identifiers are identifiers, not keywords; label filter
/// chains are flat; numbers are finite; ranges are whole milliseconds). The tree's
/// depth is not limited here; keep it under [`crate::MAX_DEPTH`] to print it.
pub fn validate(expr: &Expr) -> Result<(), ParseError> {
    let result = match expr {
        Expr::Log(log) => log_expr(log),
        Expr::Metric(m) => metric(m),
    };
    result.map_err(|reason| ParseError::Invalid {
        pos: Position::default(),
        reason,
    })
}

fn metric(e: &MetricExpr) -> Result<(), String> {
    match e {
        MetricExpr::Literal(v) => finite(*v),
        MetricExpr::Vector(v) if *v >= 0.0 => finite(*v),
        MetricExpr::Vector(v) => Err(format!("vector({v}) needs a non-negative number")),
        MetricExpr::LabelReplace(l) => {
            label_replace_regex(&l.regex)?;
            metric(&l.expr)
        }
        MetricExpr::VectorAggregation(v) => {
            vector_aggregation(v.op, v.grouping.is_some())?;
            grouping(v.grouping.as_ref())?;
            metric(&v.expr)
        }
        MetricExpr::BinaryOp(b) => {
            binary_op(b.op, &b.modifier, &b.lhs, &b.rhs).map_err(|(_, reason)| reason)?;
            if let Some(m) = &b.modifier.matching {
                m.labels.iter().try_for_each(|l| ident(l))?;
                if let Some(GroupModifier::Left(ls) | GroupModifier::Right(ls)) = &m.group {
                    ls.iter().try_for_each(|l| ident(l))?;
                }
            }
            metric(&b.lhs)?;
            metric(&b.rhs)
        }
        MetricExpr::RangeAggregation(r) => {
            let unwrap = r.range.unwrap.as_ref();
            range_aggregation(r.op, r.grouping.is_some(), unwrap.is_some())?;
            if let RangeOp::QuantileOverTime(q) = r.op {
                if !(q >= 0.0 && q.is_finite()) {
                    return Err(format!("invalid parameter {q} for quantile_over_time"));
                }
            }
            grouping(r.grouping.as_ref())?;
            let interval = r.range.interval.as_nanos();
            if interval < 0 || interval % 1_000_000 != 0 {
                return Err("the range must be a whole number of milliseconds".into());
            }
            log_expr(&r.range.log)?;
            if let Some(u) = unwrap {
                ident(&u.label)?;
                u.post_filters.iter().try_for_each(label_filter)?;
            }
            Ok(())
        }
    }
}

fn grouping(g: Option<&Grouping>) -> Result<(), String> {
    match g {
        Some(Grouping::By(ls) | Grouping::Without(ls)) => ls.iter().try_for_each(|l| ident(l)),
        None => Ok(()),
    }
}

fn log_expr(log: &LogExpr) -> Result<(), String> {
    let mut selective = false;
    for m in &log.selector {
        ident(&m.name)?;
        selective |= !matcher(m)?;
    }
    if !selective {
        return Err(EMPTY_SELECTOR.into());
    }
    for pair in log.pipeline.windows(2) {
        // `| drop a != "x"` can only mean a drop matcher, as in Loki's grammar.
        if let [Stage::Drop(items) | Stage::Keep(items), Stage::LineFilter(f)] = pair {
            let negative = matches!(f.op, LineFilterOp::NotContains | LineFilterOp::NotMatch);
            if negative && matches!(items.last(), Some(NamedMatcher::Name(_))) {
                return Err(format!(
                    "`{}` right after `{}` cannot be written",
                    f, pair[0]
                ));
            }
        }
    }
    log.pipeline.iter().try_for_each(stage)
}

fn stage(s: &Stage) -> Result<(), String> {
    match s {
        Stage::LineFilter(f) => {
            if f.values.is_empty() {
                return Err("a line filter needs at least one value".into());
            }
            // Regexes and patterns of line filters are checked when the pipeline is built.
            Ok(())
        }
        Stage::Json(params) => params.iter().try_for_each(|p| ident(&p.label)),
        Stage::Logfmt(l) => l.params.iter().try_for_each(|p| ident(&p.label)),
        Stage::Regexp(re) => regexp_parser(re),
        Stage::Pattern(p) => pattern::check_parser(p),
        Stage::LabelFilter(f) => label_filter(f),
        Stage::LabelFormat(items) => items.iter().try_for_each(|item| match item {
            LabelFormat::Rename { dst, src } => ident(dst).and_then(|()| ident(src)),
            LabelFormat::Template { dst, .. } => ident(dst),
        }),
        Stage::Drop(items) | Stage::Keep(items) => items.iter().try_for_each(|item| match item {
            NamedMatcher::Name(n) => ident(n),
            NamedMatcher::Matcher(m) => ident(&m.name).and_then(|()| matcher(m).map(drop)),
        }),
        Stage::Unpack | Stage::LineFormat(_) | Stage::Decolorize => Ok(()),
    }
}

fn label_filter(f: &LabelFilter) -> Result<(), String> {
    match f {
        LabelFilter::And(items) | LabelFilter::Or(items) => {
            let and = matches!(f, LabelFilter::And(_));
            if items.len() < 2 {
                return Err("an and/or label filter needs at least two operands".into());
            }
            for item in items {
                let nested = match item {
                    LabelFilter::And(_) => and,
                    LabelFilter::Or(_) => !and,
                    LabelFilter::Predicate(_) => false,
                };
                if nested {
                    return Err("nested and/or label filters of the same kind must be flat".into());
                }
                label_filter(item)?;
            }
            Ok(())
        }
        LabelFilter::Predicate(p) => {
            ident(p.name())?;
            match p {
                LabelPredicate::Matcher(m) => matcher(m).map(drop),
                LabelPredicate::Number { value, .. } => finite(*value),
                _ => Ok(()),
            }
        }
    }
}

fn finite(v: f64) -> Result<(), String> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(format!("{v} is not a finite number"))
    }
}

/// A name the lexer reads back as an identifier: a letter or `_`, then letters, digits or
/// `_`, and not a keyword.
fn ident(name: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_')
        && Keyword::from_word(name).is_none();
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not a valid label name in LogQL"))
    }
}
