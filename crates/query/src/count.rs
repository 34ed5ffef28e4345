//! The count fast path: `count_over_time` and `rate` of a selector whose pipeline is only
//! line filters the store runs are answered by [`kelp_store::Store::count`], which reads
//! block metadata and timestamp columns instead of lines.
//!
//! Buckets are `gcd(range, step)` wide and start at `t_0 − range − offset + 1`, so each
//! window `(t − range − offset, t − offset]` is a run of whole buckets.

use kelp_logql::ast::{RangeAggregation, RangeOp};
use kelp_model::Timestamp;
use kelp_store::CountRequest;

use crate::engine::Ctx;
use crate::error::{QueryError, Result};
use crate::eval::SeriesV;
use crate::plan::{self, Steps};

/// Most buckets the fast path asks the store for.
const MAX_BUCKETS: i64 = 500_000;

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The result through the fast path, or `None` when it does not apply.
pub(crate) fn try_fast(
    ctx: &Ctx<'_>,
    r: &RangeAggregation,
    steps: &Steps,
) -> Result<Option<Vec<SeriesV>>> {
    if !ctx.count_fast_path
        || !matches!(r.op, RangeOp::CountOverTime | RangeOp::Rate)
        || r.range.unwrap.is_some()
        || r.grouping.is_some()
    {
        return Ok(None);
    }
    let (filters, rest) = plan::pushdown(&r.range.log.pipeline, ctx.limits)?;
    if !rest.is_empty() {
        return Ok(None);
    }
    let range = r.range.interval.as_nanos();
    let offset = r.range.offset.as_nanos();
    if range <= 0 {
        return Ok(None);
    }
    let step = if steps.n > 1 { steps.step } else { range };
    let g = gcd(range, step);
    let span = steps
        .last()
        .saturating_sub(steps.start)
        .saturating_add(range);
    if span / g > MAX_BUCKETS {
        return Ok(None);
    }
    let start = steps
        .start
        .saturating_sub(range)
        .saturating_sub(offset)
        .saturating_add(1);
    let req = CountRequest {
        tenant: ctx.tenant.clone(),
        matchers: plan::matchers(&r.range.log.selector, ctx.limits)?,
        start: Timestamp::from_unix_nanos(start),
        end: Timestamp::from_unix_nanos(start.saturating_add(span)),
        step_ns: g,
        filters,
    };
    let counts = ctx.count(&req)?;
    ctx.check()?;
    if counts.len() > ctx.limits.max_series {
        return Err(QueryError::TooManySeries {
            max: ctx.limits.max_series,
        });
    }
    let per_window = (range / g) as usize;
    let stride = (step / g) as usize;
    let secs = range as f64 / 1e9;
    let mut out = Vec::with_capacity(counts.len());
    for c in counts {
        let mut prefix = Vec::with_capacity(c.counts.len() + 1);
        prefix.push(0u64);
        for x in &c.counts {
            prefix.push(prefix[prefix.len() - 1] + x);
        }
        let total = prefix[prefix.len() - 1];
        ctx.stats(|s| s.lines_processed += total);
        let values: Vec<Option<f64>> = (0..steps.n)
            .map(|k| {
                let a = (k * stride).min(c.counts.len());
                let b = (a + per_window).min(c.counts.len());
                let n = prefix[b] - prefix[a];
                (n > 0).then(|| {
                    if r.op == RangeOp::Rate {
                        n as f64 / secs
                    } else {
                        n as f64
                    }
                })
            })
            .collect();
        if values.iter().any(Option::is_some) {
            out.push(SeriesV {
                labels: (*c.labels).clone(),
                values,
            });
        }
    }
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(Some(out))
}
