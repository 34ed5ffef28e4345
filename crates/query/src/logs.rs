//! Log queries: scan, pipeline, direction and limit across streams.
//!
//! When the whole pipeline is line filters the store can run, one limited scan answers
//! the query. Otherwise the range is scanned in windows in query direction, growing
//! each time, and the scan stops after the first window that completes the limit: lines
//! beyond it cannot come before the lines already kept.

use std::collections::BTreeMap;

use kelp_logql::ast::LogExpr;
use kelp_model::{LabelPair, Labels, Timestamp};
use kelp_store::{Direction, ScanEntry, ScanRequest};
use rayon::prelude::*;

use crate::engine::Ctx;
use crate::error::Result;
use crate::pipeline::{labels_of, Pipeline, Row};
use crate::plan;
use crate::result::{LogEntry, StreamResult};

/// One kept line and its output labels.
struct Out {
    labels: Labels,
    entry: LogEntry,
}

/// Lines read at a time, before thinning, by a query with an `interval`: a few times the
/// limit, within these bounds.
const SAMPLED_BATCH: (usize, usize) = (1024, 20_000);

/// Runs a log query over `[start, end)`; with `interval > 0` (nanoseconds) an entry is
/// kept only if it is at least `interval` past the previously kept one in query
/// direction, over all streams, before the limit counts it (Loki's `readStreams`).
pub(crate) fn run(
    ctx: &Ctx<'_>,
    log: &LogExpr,
    (start, end): (Timestamp, Timestamp),
    direction: Direction,
    limit: usize,
    interval: i64,
) -> Result<Vec<StreamResult>> {
    let matchers = plan::matchers(&log.selector, ctx.limits)?;
    let (filters, rest) = plan::pushdown(&log.pipeline, ctx.limits)?;
    let pipeline = Pipeline::compile(&rest, ctx.limits)?;
    if limit == 0 || end <= start {
        return Ok(Vec::new());
    }
    let mut req = ScanRequest {
        tenant: ctx.tenant.clone(),
        matchers,
        start,
        end,
        direction,
        limit: None,
        filters,
    };
    if interval <= 0 {
        return Ok(group(first(ctx, req, &pipeline, limit)?));
    }
    // Thinned: read the range in direction order a batch at a time and keep what is far
    // enough from the last kept entry. A batch ends at some timestamp `t`; the next one
    // starts at `t` again (entries at `t` not read yet are as far from the last kept entry
    // as those read: dropped, unless one at `t` was kept, which drops them too).
    let fwd = direction == Direction::Forward;
    let mut out: Vec<Out> = Vec::new();
    let mut last: Option<i64> = None;
    let size = limit
        .saturating_mul(4)
        .clamp(SAMPLED_BATCH.0, SAMPLED_BATCH.1);
    loop {
        ctx.check()?;
        let batch = first(ctx, req.clone(), &pipeline, size)?;
        let full = batch.len() == size;
        let edge = batch.last().map(|o| o.entry.timestamp.as_unix_nanos());
        let same = batch.first().map(|o| o.entry.timestamp.as_unix_nanos()) == edge;
        for o in batch {
            let t = o.entry.timestamp.as_unix_nanos();
            let far = match last {
                None => true,
                Some(l) if fwd => t >= l.saturating_add(interval),
                Some(l) => t <= l.saturating_sub(interval),
            };
            if far {
                last = Some(t);
                out.push(o);
                if out.len() == limit {
                    return Ok(group(out));
                }
            }
        }
        let Some(edge) = edge.filter(|_| full) else {
            return Ok(group(out));
        };
        // A batch all at one timestamp: step past it (every entry there is decided).
        if fwd {
            req.start = Timestamp::from_unix_nanos(if same { edge + 1 } else { edge });
        } else {
            req.end = Timestamp::from_unix_nanos(if same { edge } else { edge + 1 });
        }
        if req.end <= req.start {
            return Ok(group(out));
        }
    }
}

/// The first `limit` lines of `req`'s range in its direction, through the pipeline.
fn first(
    ctx: &Ctx<'_>,
    mut req: ScanRequest,
    pipeline: &Pipeline,
    limit: usize,
) -> Result<Vec<Out>> {
    let (start, end) = (req.start, req.end);
    let fwd = req.direction == Direction::Forward;
    let mut kept: Vec<Out> = Vec::new();
    if pipeline.is_empty() {
        req.limit = Some(limit);
        scan_into(ctx, &req, pipeline, &mut kept, limit)?;
        return Ok(kept);
    }
    let (s, e) = (start.as_unix_nanos(), end.as_unix_nanos());
    let mut width: i64 = ((e - s) / 64).max(60_000_000_000);
    let mut edge = if fwd { s } else { e };
    while if fwd { edge < e } else { edge > s } {
        ctx.check()?;
        let (ws, we) = if fwd {
            (edge, edge.saturating_add(width).min(e))
        } else {
            (edge.saturating_sub(width).max(s), edge)
        };
        req.start = Timestamp::from_unix_nanos(ws);
        req.end = Timestamp::from_unix_nanos(we);
        scan_into(ctx, &req, pipeline, &mut kept, limit)?;
        if kept.len() >= limit {
            break;
        }
        edge = if fwd { we } else { ws };
        width = width.saturating_mul(2);
    }
    Ok(kept)
}

/// Scans, runs the pipeline on every batch (on all cores) and keeps the `limit` first
/// lines in direction order.
fn scan_into(
    ctx: &Ctx<'_>,
    req: &ScanRequest,
    pipeline: &Pipeline,
    kept: &mut Vec<Out>,
    limit: usize,
) -> Result<()> {
    let fwd = req.direction == Direction::Forward;
    let order = |a: &Out, b: &Out| {
        let o = a.entry.timestamp.cmp(&b.entry.timestamp);
        if fwd {
            o
        } else {
            o.reverse()
        }
    };
    let mut failed = None;
    let stats = ctx.scan(req, |batch| {
        if let Err(e) = ctx.check() {
            failed = Some(e);
            return false;
        }
        let bytes: u64 = batch.iter().map(|e| e.line.len() as u64).sum();
        ctx.stats(|s| {
            s.lines_processed += batch.len() as u64;
            s.bytes_processed += bytes;
        });
        let outs: Vec<Out> = if batch.len() > 256 {
            batch
                .par_iter()
                .filter_map(|e| process(pipeline, e))
                .collect()
        } else {
            batch.iter().filter_map(|e| process(pipeline, e)).collect()
        };
        kept.extend(outs);
        if kept.len() > limit.saturating_mul(2).max(1024) {
            kept.sort_by(order);
            kept.truncate(limit);
        }
        true
    })?;
    ctx.stats(|s| s.add_scan(&stats));
    if let Some(e) = failed {
        return Err(e);
    }
    kept.sort_by(order);
    kept.truncate(limit);
    Ok(())
}

/// Runs the pipeline on one entry.
fn process(pipeline: &Pipeline, e: &ScanEntry) -> Option<Out> {
    if pipeline.is_empty() && e.metadata.is_empty() {
        return Some(Out {
            labels: (*e.labels).clone(),
            entry: LogEntry {
                timestamp: e.timestamp,
                line: String::from_utf8_lossy(&e.line).into_owned(),
                metadata: Vec::new(),
                parsed: Vec::new(),
            },
        });
    }
    let mut row = Row::new(e.timestamp, &e.line, &e.labels, &e.metadata);
    if !pipeline.run(&mut row) {
        return None;
    }
    let labels = row.to_labels();
    let metadata: Vec<LabelPair> = e
        .metadata
        .iter()
        .filter(|p| labels.get(&p.name) == Some(p.value.as_str()))
        .cloned()
        .collect();
    let parsed = labels_of(row.labels.iter().filter(|(n, v)| {
        e.labels.get(n) != Some(v.as_str()) && !e.metadata.iter().any(|p| &p.name == *n)
    }))
    .iter()
    .cloned()
    .collect();
    Some(Out {
        labels,
        entry: LogEntry {
            timestamp: e.timestamp,
            line: String::from_utf8_lossy(&row.line).into_owned(),
            metadata,
            parsed,
        },
    })
}

/// Groups kept lines (in direction order) into streams, sorted by labels.
fn group(kept: Vec<Out>) -> Vec<StreamResult> {
    let mut by: BTreeMap<Labels, Vec<LogEntry>> = BTreeMap::new();
    for o in kept {
        by.entry(o.labels).or_default().push(o.entry);
    }
    by.into_iter()
        .map(|(labels, entries)| StreamResult { labels, entries })
        .collect()
}
