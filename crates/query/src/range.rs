//! Range aggregations: samples extracted from log lines, windowed per step over
//! `(t − range − offset, t − offset]`.

use std::collections::HashMap;

use kelp_logql::ast::{Conversion, Grouping, MatchOp, RangeAggregation, RangeOp};
use kelp_model::{Labels, Timestamp};
use kelp_store::{Direction, ScanRequest};
use rayon::prelude::*;

use crate::engine::Ctx;
use crate::error::{QueryError, Result};
use crate::eval::{filter_labels, group_labels, SeriesV};
use crate::pipeline::{parse_bytes, parse_go_duration_secs, LabelFilterC, Pipeline, Row, ERROR};
use crate::plan::{self, Steps};

/// How a sample's value is taken from an entry.
struct Extract {
    pipeline: Pipeline,
    unwrap: Option<(String, Option<Conversion>, Vec<LabelFilterC>)>,
    bytes: bool,
    grouping: Option<Grouping>,
}

/// Evaluates a range aggregation.
pub(crate) fn eval(ctx: &Ctx<'_>, r: &RangeAggregation, steps: &Steps) -> Result<Vec<SeriesV>> {
    if let Some(v) = crate::count::try_fast(ctx, r, steps)? {
        return Ok(v);
    }
    let range = r.range.interval.as_nanos();
    let offset = r.range.offset.as_nanos();
    let (filters, rest) = plan::pushdown(&r.range.log.pipeline, ctx.limits)?;
    let unwrap = match &r.range.unwrap {
        Some(u) => Some((
            u.label.clone(),
            u.conversion,
            u.post_filters
                .iter()
                .map(|f| LabelFilterC::compile(f, ctx.limits))
                .collect::<Result<_>>()?,
        )),
        None => None,
    };
    let ex = Extract {
        pipeline: Pipeline::compile(&rest, ctx.limits)?,
        unwrap,
        bytes: matches!(r.op, RangeOp::BytesOverTime | RangeOp::BytesRate),
        grouping: r.grouping.clone(),
    };
    let lo = steps
        .start
        .saturating_sub(range)
        .saturating_sub(offset)
        .saturating_add(1);
    let hi = steps.last().saturating_sub(offset).saturating_add(1);
    let req = ScanRequest {
        tenant: ctx.tenant.clone(),
        matchers: plan::matchers(&r.range.log.selector, ctx.limits)?,
        start: Timestamp::from_unix_nanos(lo),
        end: Timestamp::from_unix_nanos(hi),
        direction: Direction::Forward,
        limit: None,
        filters,
    };
    let mut series: HashMap<Labels, Vec<(i64, f64)>> = HashMap::new();
    let mut held = 0usize;
    let mut failed = None;
    let stats = ctx.scan(&req, |batch| {
        let bytes: u64 = batch.iter().map(|e| e.line.len() as u64).sum();
        ctx.stats(|s| {
            s.lines_processed += batch.len() as u64;
            s.bytes_processed += bytes;
        });
        let samples: Vec<(Labels, i64, f64)> = batch
            .par_iter()
            .filter_map(|e| {
                let mut row = Row::new(e.timestamp, &e.line, &e.labels, &e.metadata);
                extract(&ex, &mut row).map(|(l, v)| (l, e.timestamp.as_unix_nanos(), v))
            })
            .collect();
        held += samples.len();
        for (l, t, v) in samples {
            series.entry(l).or_default().push((t, v));
        }
        failed = if let Err(e) = ctx.check() {
            Some(e)
        } else if held > ctx.limits.max_samples {
            Some(QueryError::TooManySamples {
                max: ctx.limits.max_samples,
            })
        } else if series.len() > ctx.limits.max_series {
            Some(QueryError::TooManySeries {
                max: ctx.limits.max_series,
            })
        } else {
            None
        };
        failed.is_none()
    })?;
    ctx.stats(|s| s.add_scan(&stats));
    if let Some(e) = failed {
        return Err(e);
    }
    if r.op == RangeOp::AbsentOverTime {
        return Ok(absent(r, steps, &series));
    }
    let mut out: Vec<SeriesV> = Vec::with_capacity(series.len());
    for (labels, mut samples) in series {
        if let Some(err) = labels.get(ERROR) {
            return Err(QueryError::Pipeline {
                error: err.to_owned(),
                series: fmt_labels(&labels),
            });
        }
        samples.sort_by_key(|s| s.0);
        let values = windows(&samples, steps, range, offset, |w, hi| {
            apply(r.op, w, range, hi)
        });
        if values.iter().any(Option::is_some) {
            out.push(SeriesV { labels, values });
        }
    }
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(out)
}

/// Runs the pipeline and takes the sample: `(series labels, value)`.
fn extract(ex: &Extract, row: &mut Row<'_>) -> Option<(Labels, f64)> {
    if !ex.pipeline.run(row) {
        return None;
    }
    let mut value = if ex.bytes { row.line.len() as f64 } else { 1.0 };
    if let Some((label, conv, post)) = &ex.unwrap {
        let raw = row.get(label).to_owned();
        let v = match conv {
            None => raw.trim().parse::<f64>().ok(),
            Some(Conversion::Bytes) => parse_bytes(&raw),
            Some(Conversion::Duration | Conversion::DurationSeconds) => {
                parse_go_duration_secs(&raw)
            }
        };
        match v {
            Some(v) => value = v,
            None => {
                value = 0.0;
                row.set_error(
                    "SampleExtractionErr",
                    format!("cannot convert {raw:?} to a number"),
                );
            }
        }
        for f in post {
            if !f.run(row) {
                return None;
            }
        }
        let labels = row.to_labels();
        let labels = match &ex.grouping {
            Some(Grouping::By(_)) => group_labels(&labels, ex.grouping.as_ref()),
            Some(Grouping::Without(names)) => {
                filter_labels(&labels, |n| n != label && !names.iter().any(|x| x == n))
            }
            None => filter_labels(&labels, |n| n != label),
        };
        return Some((labels, value));
    }
    let labels = row.to_labels();
    let labels = match &ex.grouping {
        None => labels,
        g => group_labels(&labels, g.as_ref()),
    };
    Some((labels, value))
}

/// Applies `f` to the samples in each step's window; `None` for empty windows.
pub(crate) fn windows(
    samples: &[(i64, f64)],
    steps: &Steps,
    range: i64,
    offset: i64,
    f: impl Fn(&[(i64, f64)], i64) -> f64,
) -> Vec<Option<f64>> {
    let (mut a, mut b) = (0, 0);
    (0..steps.n)
        .map(|k| {
            let hi = steps.at(k).saturating_sub(offset);
            let lo = hi.saturating_sub(range);
            while b < samples.len() && samples[b].0 <= hi {
                b += 1;
            }
            while a < b && samples[a].0 <= lo {
                a += 1;
            }
            (a < b).then(|| f(&samples[a..b], hi))
        })
        .collect()
}

/// One range function over a window's samples.
fn apply(op: RangeOp, w: &[(i64, f64)], range: i64, hi: i64) -> f64 {
    let secs = range as f64 / 1e9;
    let n = w.len() as f64;
    let sum = || w.iter().map(|s| s.1).sum::<f64>();
    let var = || {
        let mean = sum() / n;
        w.iter().map(|s| (s.1 - mean).powi(2)).sum::<f64>() / n
    };
    match op {
        RangeOp::CountOverTime => n,
        RangeOp::Rate | RangeOp::BytesRate => sum() / secs,
        RangeOp::BytesOverTime | RangeOp::SumOverTime => sum(),
        RangeOp::AvgOverTime => sum() / n,
        RangeOp::MinOverTime => w.iter().map(|s| s.1).fold(f64::INFINITY, f64::min),
        RangeOp::MaxOverTime => w.iter().map(|s| s.1).fold(f64::NEG_INFINITY, f64::max),
        RangeOp::StdvarOverTime => var(),
        RangeOp::StddevOverTime => var().sqrt(),
        RangeOp::QuantileOverTime(q) => quantile(q, w.iter().map(|s| s.1).collect()),
        RangeOp::FirstOverTime => w[0].1,
        RangeOp::LastOverTime => w[w.len() - 1].1,
        RangeOp::RateCounter => rate_counter(w, range, hi),
        RangeOp::AbsentOverTime => 1.0,
    }
}

/// The φ-quantile with linear interpolation (rank φ·(n−1)), as Prometheus computes it.
pub(crate) fn quantile(q: f64, mut v: Vec<f64>) -> f64 {
    if v.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    v.sort_by(f64::total_cmp);
    let rank = q * (v.len() - 1) as f64;
    let (lo, hi) = (
        rank.floor() as usize,
        (rank.ceil() as usize).min(v.len() - 1),
    );
    let w = rank - rank.floor();
    v[lo] * (1.0 - w) + v[hi] * w
}

/// Prometheus's extrapolated counter rate over the window `(hi − range, hi]`.
fn rate_counter(w: &[(i64, f64)], range: i64, hi: i64) -> f64 {
    if w.len() < 2 {
        return 0.0;
    }
    let mut delta = w[w.len() - 1].1 - w[0].1;
    for p in w.windows(2) {
        if p[1].1 < p[0].1 {
            delta += p[0].1;
        }
    }
    let secs = range as f64 / 1e9;
    let (first, last) = (w[0].0, w[w.len() - 1].0);
    let sampled = (last - first) as f64 / 1e9;
    let avg = sampled / (w.len() - 1) as f64;
    let mut to_start = (first - (hi - range)) as f64 / 1e9;
    let to_end = (hi - last) as f64 / 1e9;
    if delta > 0.0 && w[0].1 >= 0.0 {
        to_start = to_start.min(sampled * (w[0].1 / delta));
    }
    let threshold = avg * 1.1;
    let mut extrap = sampled;
    extrap += if to_start < threshold {
        to_start
    } else {
        avg / 2.0
    };
    extrap += if to_end < threshold {
        to_end
    } else {
        avg / 2.0
    };
    if sampled == 0.0 {
        return 0.0;
    }
    delta * (extrap / sampled) / secs
}

/// `absent_over_time`: 1 where no sample exists, labelled from the selector's equality
/// matchers (names matched by `=` exactly once).
fn absent(
    r: &RangeAggregation,
    steps: &Steps,
    series: &HashMap<Labels, Vec<(i64, f64)>>,
) -> Vec<SeriesV> {
    let mut all: Vec<(i64, f64)> = series.values().flatten().copied().collect();
    all.sort_by_key(|s| s.0);
    let present = windows(
        &all,
        steps,
        r.range.interval.as_nanos(),
        r.range.offset.as_nanos(),
        |_, _| 1.0,
    );
    let values: Vec<Option<f64>> = present
        .iter()
        .map(|p| if p.is_some() { None } else { Some(1.0) })
        .collect();
    if values.iter().all(Option::is_none) {
        return Vec::new();
    }
    let sel = &r.range.log.selector;
    let pairs: Vec<(&str, &str)> = sel
        .iter()
        .filter(|m| m.op == MatchOp::Eq && sel.iter().filter(|x| x.name == m.name).count() == 1)
        .map(|m| (m.name.as_str(), m.value.as_str()))
        .collect();
    let labels = Labels::from_pairs(pairs).unwrap_or_default();
    vec![SeriesV { labels, values }]
}

/// Labels as `{a="b", c="d"}`.
pub(crate) fn fmt_labels(l: &Labels) -> String {
    let inner: Vec<String> = l
        .iter()
        .map(|p| format!("{}={:?}", p.name, p.value))
        .collect();
    format!("{{{}}}", inner.join(", "))
}
