//! Counting entries per stream per step, and the metadata queries: label names and
//! values, series, stats. Counting reads only block metadata and timestamp columns unless
//! line filters need the lines.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use kelp_model::{Labels, StreamId, TenantId, Timestamp};
use rayon::prelude::*;

use crate::chunk::Chunk;
use crate::matcher::{Filters, LabelMatcher, LineFilter};
use crate::scan::{Source, Stop};
use crate::store::Store;
use crate::{Result, StoreError};

/// Entries per stream per step.
#[derive(Debug, Clone)]
pub struct CountRequest {
    /// The tenant.
    pub tenant: TenantId,
    /// Stream selector.
    pub matchers: Vec<LabelMatcher>,
    /// Start of bucket 0 (inclusive).
    pub start: Timestamp,
    /// End of the last bucket (exclusive); the range is cut into `ceil((end - start) / step)`
    /// buckets.
    pub end: Timestamp,
    /// Bucket width in nanoseconds.
    pub step_ns: i64,
    /// Line filters an entry must pass to count.
    pub filters: Vec<LineFilter>,
}

/// One stream's counts: `counts[i]` is the number of entries with
/// `start + i * step <= ts < start + (i + 1) * step`.
///
/// For Loki's `count_over_time(...[r])` at evaluation time `t` (entries in `(t - r, t]`),
/// with `r == step`, pass `start = first_t - r + 1` (timestamps are whole nanoseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCounts {
    /// The stream's labels.
    pub labels: Arc<Labels>,
    /// One count per bucket.
    pub counts: Vec<u64>,
}

/// Index statistics for a selector and range (Loki's `/index/stats`): whole blocks and head
/// chunks overlapping the range are counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexStats {
    /// Streams.
    pub streams: u64,
    /// Blocks and head chunks.
    pub chunks: u64,
    /// Raw line bytes.
    pub bytes: u64,
    /// Entries.
    pub entries: u64,
}

/// One source's counts: stream, labels, `(bucket, count)` pairs.
type Partial = (StreamId, Arc<Labels>, Vec<(usize, u64)>);

impl Store {
    /// Exact counts of entries per stream per step.
    pub fn count(&self, req: &CountRequest) -> Result<Vec<StreamCounts>> {
        self.count_until(req, &crate::scan::never_stop)
    }

    /// [`Store::count`] that asks `stop` before each block or head chunk and fails with
    /// [`StoreError::Interrupted`] once it says so.
    pub fn count_until(&self, req: &CountRequest, stop: Stop<'_>) -> Result<Vec<StreamCounts>> {
        if req.step_ns <= 0 || req.end <= req.start {
            return Err(StoreError::InvalidQuery(
                "count needs step > 0 and end > start".into(),
            ));
        }
        let (start, end, step) = (
            req.start.as_unix_nanos(),
            req.end.as_unix_nanos(),
            req.step_ns,
        );
        let n = usize::try_from((end - start + step - 1) / step)
            .map_err(|_| StoreError::InvalidQuery("too many buckets".into()))?;
        if n > 1_000_000 {
            return Err(StoreError::InvalidQuery(format!(
                "{n} buckets is over the limit of 1000000"
            )));
        }
        let filters = Filters::compile(&req.filters)?;
        let (srcs, _) = self.sources(&req.tenant, &req.matchers, start, end);
        let bucket = |ts: i64| ((ts - start) / step) as usize;
        let parts: Vec<Partial> = srcs
            .par_iter()
            .map(|s| -> Result<_> {
                if stop() {
                    return Err(StoreError::Interrupted);
                }
                let mut v: Vec<(usize, u64)> = Vec::new();
                let mut add = |ts: i64| {
                    if ts >= start && ts < end {
                        let b = bucket(ts);
                        match v.last_mut() {
                            Some(last) if last.0 == b => last.1 += 1,
                            _ => v.push((b, 1)),
                        }
                    }
                };
                match &s.source {
                    Source::Head(c) => {
                        let hits = filters
                            .required_literal()
                            .map(|f| (c.find_in_pages(f), f.needle().len()));
                        for e in &c.ents()[c.range(start, end)] {
                            if let Some((h, len)) = &hits {
                                if !Chunk::may_contain(e, h, *len) {
                                    continue;
                                }
                            }
                            if filters.is_empty() || filters.pass(c.line(e)) {
                                add(e.ts);
                            }
                        }
                    }
                    Source::Block(seg, i) if filters.is_empty() => {
                        let inside = s.min_ts >= start && s.max_ts < end;
                        if inside && bucket(s.min_ts) == bucket(s.max_ts) {
                            v.push((bucket(s.min_ts), s.entries));
                        } else {
                            seg.count_ts(*i, (start, end, step), &mut v)?;
                        }
                    }
                    Source::Block(seg, i) => {
                        let d = seg.decode_matching(
                            *i,
                            start,
                            end,
                            filters.template_literal.as_deref(),
                            |l| filters.pass(l),
                        )?;
                        d.ts.iter().copied().for_each(add);
                    }
                }
                Ok((s.stream, s.labels.clone(), v))
            })
            .collect::<Result<_>>()?;
        let mut by_stream: BTreeMap<StreamId, StreamCounts> = BTreeMap::new();
        for (id, labels, v) in parts {
            let e = by_stream.entry(id).or_insert_with(|| StreamCounts {
                labels,
                counts: vec![0; n],
            });
            for (b, c) in v {
                e.counts[b] += c;
            }
        }
        Ok(by_stream.into_values().collect())
    }

    /// Label sets of the streams matching `matchers` with data in `[start, end)`.
    pub fn series(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Vec<Labels> {
        let (srcs, _) = self.sources(tenant, matchers, start.as_unix_nanos(), end.as_unix_nanos());
        let set: BTreeSet<&Labels> = srcs.iter().map(|s| &*s.labels).collect();
        set.into_iter().cloned().collect()
    }

    /// Label names used by matching streams in `[start, end)`, sorted.
    pub fn label_names(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Vec<String> {
        let set: BTreeSet<String> = self
            .series(tenant, matchers, start, end)
            .iter()
            .flat_map(|l| l.iter().map(|p| p.name.clone()).collect::<Vec<_>>())
            .collect();
        set.into_iter().collect()
    }

    /// Values of label `name` on matching streams in `[start, end)`, sorted.
    pub fn label_values(
        &self,
        tenant: &TenantId,
        name: &str,
        matchers: &[LabelMatcher],
        start: Timestamp,
        end: Timestamp,
    ) -> Vec<String> {
        let set: BTreeSet<String> = self
            .series(tenant, matchers, start, end)
            .iter()
            .filter_map(|l| l.get(name).map(str::to_owned))
            .collect();
        set.into_iter().collect()
    }

    /// Streams, blocks, bytes and entries for a selector and range.
    pub fn stats(
        &self,
        tenant: &TenantId,
        matchers: &[LabelMatcher],
        start: Timestamp,
        end: Timestamp,
    ) -> IndexStats {
        let (srcs, _) = self.sources(tenant, matchers, start.as_unix_nanos(), end.as_unix_nanos());
        let streams: HashMap<StreamId, ()> = srcs.iter().map(|s| (s.stream, ())).collect();
        IndexStats {
            streams: streams.len() as u64,
            chunks: srcs.len() as u64,
            bytes: srcs.iter().map(|s| s.raw_bytes).sum(),
            entries: srcs.iter().map(|s| s.entries).sum(),
        }
    }
}
