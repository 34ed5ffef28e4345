//! The scan API for the query engine: matchers → streams through the label indexes, time
//! and bloom pruning per block, parallel decoding on all cores, results in waves so memory
//! stays bounded.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use kelp_model::{LabelPair, Labels, StreamId, TenantId, Timestamp};
use rayon::prelude::*;

use crate::bloom::may_contain_all;
use crate::chunk::Chunk;
use crate::matcher::{matches_all, Filters, LabelMatcher, LineFilter};
use crate::segment::Segment;
use crate::store::Store;
use crate::{Result, StoreError};

/// Asked between units of a scan or count (a wave of blocks, each block or head chunk):
/// `true` stops the work with [`crate::StoreError::Interrupted`]. A query passes its
/// cancellation and deadline check, so a dropped request or a timeout stops the read
/// within one block's work instead of at its end.
pub type Stop<'a> = &'a (dyn Fn() -> bool + Sync);

/// A [`Stop`] that never stops.
pub fn never_stop() -> bool {
    false
}

/// Time order of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Oldest first.
    #[default]
    Forward,
    /// Newest first.
    Backward,
}

/// What to read.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    /// The tenant.
    pub tenant: TenantId,
    /// Stream selector (all must match).
    pub matchers: Vec<LabelMatcher>,
    /// Inclusive start.
    pub start: Timestamp,
    /// Exclusive end.
    pub end: Timestamp,
    /// Result order.
    pub direction: Direction,
    /// Most entries to return (over all streams), `None` for all.
    pub limit: Option<usize>,
    /// Line filters, all of which must pass.
    pub filters: Vec<LineFilter>,
}

/// One result entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanEntry {
    /// The stream's labels.
    pub labels: Arc<Labels>,
    /// The entry's time.
    pub timestamp: Timestamp,
    /// The line.
    pub line: Bytes,
    /// Structured metadata.
    pub metadata: Vec<LabelPair>,
}

/// What a scan did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Streams the selector matched.
    pub streams: usize,
    /// Blocks (and head chunks) overlapping the time range.
    pub blocks: usize,
    /// Blocks skipped because their bloom ruled the filters out, and head chunks whose
    /// pages do not hold the needle.
    pub blocks_pruned: usize,
    /// Blocks decoded.
    pub blocks_read: usize,
    /// Entries returned.
    pub entries: usize,
}

/// Something to read: a segment block or a head chunk.
#[derive(Clone)]
pub(crate) enum Source {
    Block(Arc<Segment>, usize),
    Head(Arc<Chunk>),
}

/// A source with its stream and time bounds.
#[derive(Clone)]
pub(crate) struct Src {
    pub labels: Arc<Labels>,
    pub stream: StreamId,
    pub min_ts: i64,
    pub max_ts: i64,
    pub entries: u64,
    pub raw_bytes: u64,
    pub source: Source,
}

impl Store {
    /// Every source (block or head chunk) of the streams matching `matchers` that overlaps
    /// `[start, end)`.
    pub(crate) fn sources(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        start: i64,
        end: i64,
    ) -> (Vec<Src>, usize) {
        let inner = &*self.inner;
        let mut out = Vec::new();
        let mut labels_of: HashMap<StreamId, Arc<Labels>> = HashMap::new();
        // Head and state are read under the head lock so a finishing flush is seen whole.
        let state = {
            let head = inner.head();
            if let Some(streams) = head.tenants.get(tenant) {
                for (id, s) in streams {
                    if !matches_all(matchers, &s.labels) {
                        continue;
                    }
                    let l = labels_of
                        .entry(*id)
                        .or_insert_with(|| Arc::new(s.labels.clone()))
                        .clone();
                    for c in s.chunks() {
                        if c.max_ts() >= start && c.min_ts() < end {
                            out.push(Src {
                                labels: l.clone(),
                                stream: *id,
                                min_ts: c.min_ts(),
                                max_ts: c.max_ts(),
                                entries: c.len() as u64,
                                raw_bytes: c.line_bytes() as u64,
                                source: Source::Head(c),
                            });
                        }
                    }
                }
            }
            inner.state()
        };
        for p in state.partitions(tenant, start, end) {
            let ids: Vec<StreamId> = match matchers
                .iter()
                .find(|m| m.op == crate::MatchOp::Eq && !m.value.is_empty())
            {
                Some(m) => p.index.postings(&m.name, &m.value).to_vec(),
                None => p.index.streams.keys().copied().collect(),
            };
            for id in ids {
                let Some(meta) = p.index.streams.get(&id) else {
                    continue;
                };
                if meta.max_ts < start || meta.min_ts >= end || !matches_all(matchers, &meta.labels)
                {
                    continue;
                }
                let l = labels_of
                    .entry(id)
                    .or_insert_with(|| Arc::new(meta.labels.clone()))
                    .clone();
                for seg in &p.segments {
                    for i in seg.blocks_of(id) {
                        let b = &seg.blocks[i];
                        if b.max_ts >= start && b.min_ts < end {
                            out.push(Src {
                                labels: l.clone(),
                                stream: id,
                                min_ts: b.min_ts,
                                max_ts: b.max_ts,
                                entries: u64::from(b.entries),
                                raw_bytes: u64::from(b.raw_bytes),
                                source: Source::Block(seg.clone(), i),
                            });
                        }
                    }
                }
            }
        }
        (out, labels_of.len())
    }

    /// Streams matching entries to `emit` in batches and returns what the scan did.
    ///
    /// With a limit, `emit` is called once with the `limit` first entries in `direction`
    /// order over all streams. Without one, entries arrive in batches of a few blocks each,
    /// each batch in `direction` order (batches of different streams may interleave in
    /// time); memory stays bounded by the batch. `emit` returns `false` to stop early.
    pub fn scan(
        &self,
        req: &ScanRequest,
        emit: impl FnMut(Vec<ScanEntry>) -> bool,
    ) -> Result<ScanStats> {
        self.scan_until(req, &never_stop, emit)
    }

    /// [`Store::scan`] that asks `stop` before each wave of blocks and before each block
    /// or head chunk it reads, and fails with [`crate::StoreError::Interrupted`] once it
    /// says so.
    pub fn scan_until(
        &self,
        req: &ScanRequest,
        stop: Stop<'_>,
        mut emit: impl FnMut(Vec<ScanEntry>) -> bool,
    ) -> Result<ScanStats> {
        let filters = Filters::compile(&req.filters)?;
        let (start, end) = (req.start.as_unix_nanos(), req.end.as_unix_nanos());
        let (mut srcs, streams) = self.sources(&req.tenant, &req.matchers, start, end);
        let mut stats = ScanStats {
            streams,
            blocks: srcs.len(),
            ..ScanStats::default()
        };
        let use_blooms = self.inner.cfg.use_blooms && !filters.grams.is_empty();
        if use_blooms {
            let keep: Vec<bool> = srcs
                .par_iter()
                .map(|s| match &s.source {
                    Source::Block(seg, i) => match seg.bloom(*i) {
                        Ok(words) if !words.is_empty() => {
                            filters.grams.iter().all(|g| may_contain_all(words, g))
                        }
                        _ => true,
                    },
                    Source::Head(_) => true,
                })
                .collect();
            let mut k = keep.iter();
            srcs.retain(|_| *k.next().unwrap_or(&true));
            stats.blocks_pruned = stats.blocks - srcs.len();
        }
        if let Some(needle) = filters.required_literal() {
            // Head chunks have no bloom: their pages are searched for the needle, all at
            // once on every core, and those without a hit are dropped before the waves
            // (which wait for their slowest source).
            let keep: Vec<bool> = srcs
                .par_iter()
                .map(|s| match &s.source {
                    Source::Head(c) => c.has_big_lines() || c.contains_needle(needle),
                    Source::Block(..) => true,
                })
                .collect();
            let mut k = keep.iter();
            let before = srcs.len();
            srcs.retain(|_| *k.next().unwrap_or(&true));
            stats.blocks_pruned += before - srcs.len();
        }
        let fwd = req.direction == Direction::Forward;
        if fwd {
            srcs.sort_by_key(|s| (s.min_ts, s.max_ts));
        } else {
            srcs.sort_by_key(|s| std::cmp::Reverse((s.max_ts, s.min_ts)));
        }
        let wave = (rayon::current_num_threads() * 2).max(2);
        let limit = req.limit.unwrap_or(usize::MAX);
        let mut best: Vec<ScanEntry> = Vec::new();
        let order = |a: &ScanEntry, b: &ScanEntry| {
            let o = a.timestamp.cmp(&b.timestamp);
            if fwd {
                o
            } else {
                o.reverse()
            }
        };
        let mut i = 0;
        while i < srcs.len() {
            if stop() {
                return Err(StoreError::Interrupted);
            }
            if req.limit.is_some() && best.len() >= limit {
                let worst = best[limit - 1].timestamp.as_unix_nanos();
                let next = &srcs[i];
                if (fwd && next.min_ts > worst) || (!fwd && next.max_ts < worst) {
                    break;
                }
            }
            let batch = &srcs[i..(i + wave).min(srcs.len())];
            i += batch.len();
            stats.blocks_read += batch.len();
            let parts: Vec<Vec<ScanEntry>> = batch
                .par_iter()
                .map(|s| {
                    if stop() {
                        return Err(StoreError::Interrupted);
                    }
                    read_source(s, start, end, &filters, fwd, limit)
                })
                .collect::<Result<_>>()?;
            let mut got: Vec<ScanEntry> = parts.into_iter().flatten().collect();
            got.sort_by(order);
            if req.limit.is_some() {
                best.extend(got);
                best.sort_by(order);
                best.truncate(limit);
            } else if !got.is_empty() {
                stats.entries += got.len();
                if !emit(got) {
                    return Ok(stats);
                }
            }
        }
        if req.limit.is_some() {
            stats.entries = best.len();
            if !best.is_empty() {
                emit(best);
            }
        }
        Ok(stats)
    }

    /// Collects a scan's entries (convenient for small results).
    pub fn select(&self, req: &ScanRequest) -> Result<Vec<ScanEntry>> {
        let mut out = Vec::new();
        self.scan(req, |batch| {
            out.extend(batch);
            true
        })?;
        Ok(out)
    }
}

/// Reads one source's matching entries in direction order, at most `limit`.
pub(crate) fn read_source(
    s: &Src,
    start: i64,
    end: i64,
    filters: &Filters,
    fwd: bool,
    limit: usize,
) -> Result<Vec<ScanEntry>> {
    let mut out = Vec::new();
    let mut push = |ts: i64, line: &[u8], meta: &[LabelPair]| {
        out.push(ScanEntry {
            labels: s.labels.clone(),
            timestamp: Timestamp::from_unix_nanos(ts),
            line: Bytes::copy_from_slice(line),
            metadata: meta.to_vec(),
        });
    };
    match &s.source {
        Source::Head(c) => {
            let r = c.range(start, end);
            let ents = &c.ents()[r];
            // A needle is searched in the chunk's pages at once: most chunks have no hit
            // and are done without looking at a single line.
            let hits = filters
                .required_literal()
                .map(|f| (c.find_in_pages(f), f.needle().len()));
            if hits
                .as_ref()
                .is_some_and(|(h, _)| h.is_empty() && !c.has_big_lines())
            {
                return Ok(out);
            }
            let mut kept = 0;
            let mut visit = |e: &crate::chunk::Ent| {
                if let Some((h, len)) = &hits {
                    if !Chunk::may_contain(e, h, *len) {
                        return true;
                    }
                }
                let line = c.line(e);
                if filters.pass(line) {
                    push(e.ts, line, c.meta(e));
                    kept += 1;
                }
                kept < limit
            };
            // Entries come in direction order: the first `limit` that pass are the ones.
            if fwd {
                ents.iter().all(&mut visit);
            } else {
                ents.iter().rev().all(&mut visit);
            }
        }
        Source::Block(seg, i) => {
            let (d, range) = if !filters.is_empty() {
                // Only the passing entries are kept (a needle search keeps a handful).
                let d = seg.decode_matching(
                    *i,
                    start,
                    end,
                    filters.template_literal.as_deref(),
                    |l| filters.pass(l),
                )?;
                let n = d.ts.len();
                (d, 0..n)
            } else if limit < s.entries as usize {
                // Without filters only the first (or last) `limit` entries of the range
                // are wanted: the lines before them are skipped, not rebuilt.
                let d = seg.decode_window(*i, (start, end), fwd, limit)?;
                let n = d.ts.len();
                (d, 0..n)
            } else {
                let d = seg.decode(*i)?;
                let a = d.ts.partition_point(|t| *t < start);
                let b = d.ts.partition_point(|t| *t < end).max(a);
                (d, a..b)
            };
            let idx: Box<dyn Iterator<Item = usize>> = if fwd {
                Box::new(range)
            } else {
                Box::new(range.rev())
            };
            for k in idx {
                push(d.ts[k], d.line(k), d.meta(k));
            }
        }
    }
    out.truncate(limit);
    Ok(out)
}
