//! Binary operators (arithmetic, comparisons with and without `bool`, `and`/`or`/
//! `unless`, `on`/`ignoring`, `group_left`/`group_right`) and `label_replace`.

use std::collections::{BTreeMap, HashMap};

use kelp_logql::ast::{BinOp, BinaryOp, GroupModifier, LabelReplace};
use kelp_model::Labels;

use crate::error::{QueryError, Result};
use crate::eval::{filter_labels, SeriesV, Value};
use crate::Limits;

/// Applies `b` to its evaluated operands.
pub(crate) fn apply(b: &BinaryOp, l: Value, r: Value, n: usize) -> Result<Value> {
    let op = b.op;
    let bool_ = b.modifier.return_bool;
    Ok(match (l, r) {
        (Value::Scalar(x), Value::Scalar(y)) => {
            Value::Scalar(op.apply_scalar(x, y).unwrap_or(f64::NAN))
        }
        (Value::Vector(v), Value::Scalar(s)) => Value::Vector(with_scalar(op, bool_, v, s, false)),
        (Value::Scalar(s), Value::Vector(v)) => Value::Vector(with_scalar(op, bool_, v, s, true)),
        (Value::Vector(l), Value::Vector(r)) if op.is_set() => Value::Vector(set_op(b, l, r, n)),
        (Value::Vector(l), Value::Vector(r)) => Value::Vector(vector_op(b, l, r, n)?),
    })
}

/// `op` of a sample and a scalar (scalar on the left when `swap`).
fn combine(op: BinOp, bool_: bool, x: f64, y: f64) -> Option<f64> {
    let v = op.apply_scalar(x, y)?;
    if op.is_comparison() {
        match (bool_, v == 1.0) {
            (true, _) => Some(v),
            (false, true) => Some(x),
            (false, false) => None,
        }
    } else {
        Some(v)
    }
}

fn with_scalar(op: BinOp, bool_: bool, v: Vec<SeriesV>, s: f64, swap: bool) -> Vec<SeriesV> {
    v.into_iter()
        .map(|mut series| {
            for x in series.values.iter_mut() {
                *x = x.and_then(|x| {
                    if swap {
                        // A comparison filter keeps the vector's value.
                        combine(op, bool_, s, x).map(|r| {
                            if op.is_comparison() && !bool_ {
                                x
                            } else {
                                r
                            }
                        })
                    } else {
                        combine(op, bool_, x, s)
                    }
                });
            }
            series
        })
        .filter(|s| s.values.iter().any(Option::is_some))
        .collect()
}

/// The labels series are matched on.
fn signature(b: &BinaryOp, l: &Labels) -> Labels {
    match &b.modifier.matching {
        None => l.clone(),
        Some(m) if m.on => filter_labels(l, |n| m.labels.iter().any(|x| x == n)),
        Some(m) => filter_labels(l, |n| !m.labels.iter().any(|x| x == n)),
    }
}

fn set_op(b: &BinaryOp, l: Vec<SeriesV>, r: Vec<SeriesV>, n: usize) -> Vec<SeriesV> {
    let mut rsig: HashMap<Labels, Vec<bool>> = HashMap::new();
    for s in &r {
        let e = rsig
            .entry(signature(b, &s.labels))
            .or_insert_with(|| vec![false; n]);
        for (k, v) in s.values.iter().enumerate() {
            e[k] |= v.is_some();
        }
    }
    let mut out = Vec::new();
    let mut lsig: HashMap<Labels, Vec<bool>> = HashMap::new();
    for mut s in l {
        let sig = signature(b, &s.labels);
        let present = rsig.get(&sig);
        let e = lsig.entry(sig).or_insert_with(|| vec![false; n]);
        for (k, v) in s.values.iter_mut().enumerate() {
            e[k] |= v.is_some();
            let in_r = present.is_some_and(|p| p[k]);
            match b.op {
                BinOp::And if !in_r => *v = None,
                BinOp::Unless if in_r => *v = None,
                _ => {}
            }
        }
        out.push(s);
    }
    if b.op == BinOp::Or {
        for mut s in r {
            let sig = signature(b, &s.labels);
            if let Some(p) = lsig.get(&sig) {
                for (k, v) in s.values.iter_mut().enumerate() {
                    if p[k] {
                        *v = None;
                    }
                }
            }
            out.push(s);
        }
    }
    out.retain(|s| s.values.iter().any(Option::is_some));
    out
}

fn vector_op(b: &BinaryOp, l: Vec<SeriesV>, r: Vec<SeriesV>, n: usize) -> Result<Vec<SeriesV>> {
    let matching = b.modifier.matching.as_ref();
    let group = matching.and_then(|m| m.group.clone());
    // The "one" side is the right, unless group_right.
    let (many, one, swapped, include) = match &group {
        Some(GroupModifier::Right(inc)) => (r, l, true, inc.clone()),
        Some(GroupModifier::Left(inc)) => (l, r, false, inc.clone()),
        None => (l, r, false, Vec::new()),
    };
    let mut ones: HashMap<Labels, Vec<usize>> = HashMap::new();
    for (i, s) in one.iter().enumerate() {
        ones.entry(signature(b, &s.labels)).or_default().push(i);
    }
    let mut out: BTreeMap<Labels, Vec<Option<f64>>> = BTreeMap::new();
    for m in &many {
        let Some(cands) = ones.get(&signature(b, &m.labels)) else {
            continue;
        };
        for k in 0..n {
            let Some(mv) = m.values[k] else { continue };
            let mut hits = cands.iter().filter(|&&i| one[i].values[k].is_some());
            let Some(&oi) = hits.next() else { continue };
            if hits.next().is_some() {
                return Err(QueryError::Invalid(
                    "found duplicate series for the match group; many-to-many matching not allowed: matching labels must be unique on one side".into(),
                ));
            }
            let ov = one[oi].values[k].unwrap_or(0.0);
            let (x, y) = if swapped { (ov, mv) } else { (mv, ov) };
            let Some(v) = combine(b.op, b.modifier.return_bool, x, y) else {
                continue;
            };
            let labels = result_labels(b, &m.labels, &one[oi].labels, group.is_some(), &include);
            let cell = out.entry(labels).or_insert_with(|| vec![None; n]);
            if cell[k].is_some() {
                return Err(QueryError::Invalid(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                ));
            }
            cell[k] = Some(v);
        }
    }
    Ok(out
        .into_iter()
        .map(|(labels, values)| SeriesV { labels, values })
        .collect())
}

/// Prometheus's result labels: one-to-one matching keeps only the `on` labels (or drops the
/// `ignoring` ones); grouping keeps the "many" side's labels plus `include` from the other.
fn result_labels(
    b: &BinaryOp,
    many: &Labels,
    one: &Labels,
    grouped: bool,
    include: &[String],
) -> Labels {
    if grouped {
        let mut l = many.clone();
        for name in include {
            l = match one.get(name) {
                Some(v) => l.with(name, v).unwrap_or(l.clone()),
                None => filter_labels(&l, |n| n != name),
            };
        }
        return l;
    }
    match &b.modifier.matching {
        Some(m) if m.on => filter_labels(many, |n| m.labels.iter().any(|x| x == n)),
        Some(m) => filter_labels(many, |n| !m.labels.iter().any(|x| x == n)),
        None => many.clone(),
    }
}

/// `label_replace`: Prometheus semantics (anchored regex, `$1` expansion, an empty
/// result removes the label, non-matching series pass unchanged).
pub(crate) fn label_replace(
    l: &LabelReplace,
    v: Vec<SeriesV>,
    limits: &Limits,
) -> Result<Vec<SeriesV>> {
    let re = regex::RegexBuilder::new(&format!("^(?s:{})$", l.regex))
        .size_limit(limits.max_regex_bytes)
        .build()
        .map_err(|e| {
            QueryError::Invalid(format!(
                "invalid regular expression in label_replace(): {e}"
            ))
        })?;
    let mut merged: BTreeMap<Labels, Vec<Option<f64>>> = BTreeMap::new();
    for s in v {
        let src = s.labels.get(&l.src).unwrap_or("");
        let labels = match re.captures(src) {
            Some(c) => {
                let mut val = String::new();
                c.expand(&l.replacement, &mut val);
                if val.is_empty() {
                    filter_labels(&s.labels, |n| n != l.dst)
                } else {
                    s.labels
                        .with(&l.dst, &val)
                        .map_err(|e| QueryError::Invalid(e.to_string()))?
                }
            }
            None => s.labels.clone(),
        };
        let cell = merged
            .entry(labels)
            .or_insert_with(|| vec![None; s.values.len()]);
        for (k, x) in s.values.iter().enumerate() {
            if x.is_some() {
                if cell[k].is_some() {
                    return Err(QueryError::Invalid(
                        "vector cannot contain metrics with the same labelset".into(),
                    ));
                }
                cell[k] = *x;
            }
        }
    }
    Ok(merged
        .into_iter()
        .map(|(labels, values)| SeriesV { labels, values })
        .collect())
}
