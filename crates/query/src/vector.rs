//! Vector aggregations per step: `sum avg min max count stddev stdvar topk bottomk sort
//! sort_desc` (and `approx_topk`, computed exactly).

use std::collections::BTreeMap;

use kelp_logql::ast::{VectorAggregation, VectorOp};
use kelp_model::Labels;

use crate::error::Result;
use crate::eval::{group_labels, SeriesV};

/// Aggregates `input` (series over `n` steps).
pub(crate) fn aggregate(
    a: &VectorAggregation,
    input: Vec<SeriesV>,
    n: usize,
) -> Result<Vec<SeriesV>> {
    let g = a.grouping.as_ref();
    match a.op {
        VectorOp::TopK(k) | VectorOp::BottomK(k) | VectorOp::ApproxTopK(k) => Ok(top(
            input,
            n,
            k as usize,
            !matches!(a.op, VectorOp::BottomK(_)),
            |l| group_labels(l, g),
        )),
        VectorOp::Sort | VectorOp::SortDesc => {
            let mut v = input;
            let desc = a.op == VectorOp::SortDesc;
            // Only an instant result's order is visible: order by the first step's value.
            v.sort_by(|x, y| {
                let (x, y) = (
                    x.values[0].unwrap_or(f64::NAN),
                    y.values[0].unwrap_or(f64::NAN),
                );
                if desc {
                    y.total_cmp(&x)
                } else {
                    x.total_cmp(&y)
                }
            });
            Ok(v)
        }
        op => {
            let mut groups: BTreeMap<Labels, Vec<Vec<f64>>> = BTreeMap::new();
            for s in &input {
                let cells = groups
                    .entry(group_labels(&s.labels, g))
                    .or_insert_with(|| vec![Vec::new(); n]);
                for (k, v) in s.values.iter().enumerate() {
                    if let Some(v) = v {
                        cells[k].push(*v);
                    }
                }
            }
            Ok(groups
                .into_iter()
                .map(|(labels, cells)| SeriesV {
                    labels,
                    values: cells
                        .iter()
                        .map(|c| (!c.is_empty()).then(|| reduce(op, c)))
                        .collect(),
                })
                .filter(|s| s.values.iter().any(Option::is_some))
                .collect())
        }
    }
}

fn reduce(op: VectorOp, v: &[f64]) -> f64 {
    let n = v.len() as f64;
    let sum: f64 = v.iter().sum();
    let var = || {
        let mean = sum / n;
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n
    };
    match op {
        VectorOp::Sum => sum,
        VectorOp::Avg => sum / n,
        VectorOp::Min => v
            .iter()
            .copied()
            .fold(f64::NAN, |a, b| if a.is_nan() || b < a { b } else { a }),
        VectorOp::Max => v
            .iter()
            .copied()
            .fold(f64::NAN, |a, b| if a.is_nan() || b > a { b } else { a }),
        VectorOp::Count => n,
        VectorOp::Stdvar => var(),
        VectorOp::Stddev => var().sqrt(),
        _ => f64::NAN,
    }
}

/// `topk`/`bottomk` per group and step; ties keep the series that sorts first by labels.
fn top(
    input: Vec<SeriesV>,
    n: usize,
    k: usize,
    largest: bool,
    key: impl Fn(&Labels) -> Labels,
) -> Vec<SeriesV> {
    let mut out: Vec<SeriesV> = input
        .iter()
        .map(|s| SeriesV {
            labels: s.labels.clone(),
            values: vec![None; n],
        })
        .collect();
    let keys: Vec<Labels> = input.iter().map(|s| key(&s.labels)).collect();
    for step in 0..n {
        let mut groups: BTreeMap<&Labels, Vec<usize>> = BTreeMap::new();
        for (i, s) in input.iter().enumerate() {
            if s.values[step].is_some() {
                groups.entry(&keys[i]).or_default().push(i);
            }
        }
        for (_, mut idx) in groups {
            idx.sort_by(|&a, &b| {
                let (x, y) = (
                    input[a].values[step].unwrap_or(0.0),
                    input[b].values[step].unwrap_or(0.0),
                );
                let o = if largest {
                    y.total_cmp(&x)
                } else {
                    x.total_cmp(&y)
                };
                o.then_with(|| input[a].labels.cmp(&input[b].labels))
            });
            for &i in idx.iter().take(k) {
                out[i].values[step] = input[i].values[step];
            }
        }
    }
    out.retain(|s| s.values.iter().any(Option::is_some));
    if n == 1 {
        out.sort_by(|a, b| {
            let (x, y) = (a.values[0].unwrap_or(0.0), b.values[0].unwrap_or(0.0));
            if largest {
                y.total_cmp(&x)
            } else {
                x.total_cmp(&y)
            }
        });
    }
    out
}
