//! The head: recent entries of every stream in memory, queryable at once, until a flush
//! writes them to segments.
//!
//! Each stream has a pending chunk that takes appends and frozen chunks cut from it when
//! it reaches the block size. A flush freezes everything, writes the frozen chunks to
//! segments and then drops them; for deduplication, the `(timestamp, line hash)` pairs of
//! flushed entries are kept for the out-of-order window.
//!
//! Memory: chunks are charged to `bytes` (what the head cap bounds). The deduplication window has a budget of its own
//! (`max_dedup_bytes`, 16 bytes per remembered entry): when a flush takes it over, the
//! streams remembering the most entries forget their oldest ones until it fits (every
//! stream keeps at least as many as an equal share), and each such stream's
//! `dedup_from` moves up. An entry older than that is still accepted within the
//! out-of-order window, but is checked only against the head, not against flushed entries:
//! appends count these as `unchecked`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use kelp_model::{Entry, Labels, StreamId, TenantId};
use xxhash_rust::xxh3::xxh3_64;

use crate::chunk::Chunk;

/// Bytes of one remembered entry of the deduplication window.
pub(crate) const DEDUP_ENTRY_BYTES: u64 = std::mem::size_of::<(i64, u64)>() as u64;

/// One stream in the head.
#[derive(Debug)]
pub(crate) struct StreamHead {
    pub labels: Labels,
    /// Cut chunks, oldest first; the first `flushing` are being written to a segment.
    pub frozen: Vec<Arc<Chunk>>,
    /// The chunk taking appends (copied on write when a scan holds it).
    pub pending: Arc<Chunk>,
    /// Newest timestamp seen.
    pub max_ts: i64,
    /// Flushed entries within the window, sorted: `(timestamp, xxh3 of line)`.
    recent: Vec<(i64, u64)>,
    /// Flushed entries older than this were forgotten to keep the deduplication window in
    /// its budget (`i64::MIN`: none were).
    pub dedup_from: i64,
    flushing: usize,
}

impl StreamHead {
    fn new(labels: Labels) -> Self {
        Self {
            labels,
            frozen: Vec::new(),
            pending: Arc::new(Chunk::default()),
            max_ts: i64::MIN,
            recent: Vec::new(),
            dedup_from: i64::MIN,
            flushing: 0,
        }
    }

    /// Whether an identical entry is in the head or was flushed within the window.
    pub(crate) fn has(&self, ts: i64, line: &[u8]) -> bool {
        if ts > self.max_ts {
            return false;
        }
        if self.pending.contains(ts, line) || self.frozen.iter().any(|c| c.contains(ts, line)) {
            return true;
        }
        let from = self.recent.partition_point(|r| r.0 < ts);
        let h = xxh3_64(line);
        self.recent[from..]
            .iter()
            .take_while(|r| r.0 == ts)
            .any(|r| r.1 == h)
    }

    /// The chunks a scan should read, oldest first (including the pending one).
    pub(crate) fn chunks(&self) -> Vec<Arc<Chunk>> {
        let mut v = self.frozen.clone();
        if !self.pending.is_empty() {
            v.push(self.pending.clone());
        }
        v
    }
}

/// What applying entries did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Applied {
    pub added: u64,
    pub duplicates: u64,
}

/// Chunks taken for a flush: `(tenant, stream, labels, chunks)`.
pub(crate) type FlushSet = Vec<(TenantId, StreamId, Labels, Vec<Arc<Chunk>>)>;

/// The deduplication window's memory, and what its budget made it forget.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DedupStats {
    /// Flushed entries remembered for deduplication.
    pub entries: u64,
    /// Bytes they take (what counts against `max_dedup_bytes`).
    pub bytes: u64,
    /// The budget, `StoreConfig::max_dedup_bytes`.
    pub budget_bytes: u64,
    /// Entries forgotten before leaving the out-of-order window, since open: a retried
    /// push of one of them would no longer be recognized as a duplicate.
    pub forgotten_entries: u64,
    /// Streams whose window is shorter than the out-of-order window now.
    pub shortened_streams: u64,
}

/// All tenants' streams in memory.
#[derive(Debug)]
pub(crate) struct Head {
    pub tenants: HashMap<TenantId, HashMap<StreamId, StreamHead>>,
    /// Bytes charged for every chunk in the head.
    pub bytes: u64,
    /// When the oldest data not yet being flushed arrived.
    pub oldest: Option<Instant>,
    /// The deduplication window's budget, in bytes.
    dedup_budget: u64,
    /// Entries forgotten to keep the window in its budget, since open.
    forgotten: u64,
}

impl Head {
    /// An empty head whose deduplication window may take `max_dedup_bytes`.
    pub(crate) fn new(max_dedup_bytes: u64) -> Self {
        Self {
            tenants: HashMap::new(),
            bytes: 0,
            oldest: None,
            dedup_budget: max_dedup_bytes,
            forgotten: 0,
        }
    }

    /// The deduplication window's size and what it forgot.
    pub(crate) fn dedup_stats(&self) -> DedupStats {
        let streams = self.tenants.values().flat_map(|s| s.values());
        let (mut entries, mut bytes, mut shortened) = (0, 0, 0);
        for s in streams {
            entries += s.recent.len() as u64;
            bytes += s.recent.capacity() as u64 * DEDUP_ENTRY_BYTES;
            shortened += u64::from(s.dedup_from != i64::MIN);
        }
        DedupStats {
            entries,
            bytes,
            budget_bytes: self.dedup_budget,
            forgotten_entries: self.forgotten,
            shortened_streams: shortened,
        }
    }

    /// Applies entries (already accepted) to a stream; identical entries are dropped.
    pub(crate) fn apply(
        &mut self,
        tenant: &TenantId,
        labels: &Labels,
        entries: &[Entry],
        block_bytes: usize,
    ) -> Applied {
        let id = labels.stream_id();
        let streams = self.tenants.entry(tenant.clone()).or_default();
        let s = streams
            .entry(id)
            .or_insert_with(|| StreamHead::new(labels.clone()));
        let mut out = Applied::default();
        let before: usize = s.pending.bytes();
        let mut frozen_bytes = 0usize;
        for e in entries {
            let ts = e.timestamp.as_unix_nanos();
            if ts <= s.max_ts && s.has(ts, &e.line) {
                out.duplicates += 1;
                continue;
            }
            let pending = Arc::make_mut(&mut s.pending);
            if pending.insert(ts, &e.line, &e.metadata) {
                out.added += 1;
                s.max_ts = s.max_ts.max(ts);
            } else {
                out.duplicates += 1;
            }
            if s.pending.fill() >= block_bytes {
                let mut full = std::mem::take(&mut s.pending);
                if let Some(c) = Arc::get_mut(&mut full) {
                    c.shrink();
                }
                frozen_bytes += full.bytes();
                s.frozen.push(full);
            }
        }
        let after = s.pending.bytes() + frozen_bytes;
        self.bytes = (self.bytes + after as u64).saturating_sub(before as u64);
        if out.added > 0 && self.oldest.is_none() {
            self.oldest = Some(Instant::now());
        }
        out
    }

    /// Freezes every stream's pending chunk and takes all frozen chunks for a flush.
    pub(crate) fn take_for_flush(&mut self) -> FlushSet {
        let mut out = Vec::new();
        for (tenant, streams) in &mut self.tenants {
            for (id, s) in streams.iter_mut() {
                if !s.pending.is_empty() {
                    let mut p = std::mem::take(&mut s.pending);
                    if let Some(c) = Arc::get_mut(&mut p) {
                        let before = c.bytes();
                        c.shrink();
                        self.bytes = self.bytes.saturating_sub((before - c.bytes()) as u64);
                    }
                    s.frozen.push(p);
                }
                s.flushing = s.frozen.len();
                if s.flushing > 0 {
                    out.push((tenant.clone(), *id, s.labels.clone(), s.frozen.clone()));
                }
            }
        }
        self.oldest = None;
        out
    }

    /// Drops the chunks of a finished flush, remembering their entries for deduplication
    /// within `window_ns`, and forgets streams left empty.
    pub(crate) fn finish_flush(&mut self, window_ns: i64) {
        let mut freed = 0u64;
        for streams in self.tenants.values_mut() {
            streams.retain(|_, s| {
                // Only entries within the window are kept (a flush can hold a whole day
                // of a stream: pushing all of it and cutting afterwards left the vector's
                // capacity at the size of the whole flush, per stream).
                let horizon = s.max_ts.saturating_sub(window_ns);
                if s.dedup_from <= horizon {
                    // Everything it forgot is out of the window now anyway.
                    s.dedup_from = i64::MIN;
                }
                let cut = s.recent.partition_point(|r| r.0 < horizon);
                s.recent.drain(..cut);
                let add: usize = s.frozen[..s.flushing]
                    .iter()
                    .map(|c| c.len() - c.ents().partition_point(|e| e.ts < horizon))
                    .sum();
                s.recent.reserve_exact(add);
                for c in s.frozen.drain(..s.flushing) {
                    freed += c.bytes() as u64;
                    let from = c.ents().partition_point(|e| e.ts < horizon);
                    s.recent
                        .extend(c.ents()[from..].iter().map(|e| (e.ts, xxh3_64(c.line(e)))));
                }
                s.flushing = 0;
                s.recent.sort_unstable();
                if s.recent.capacity() > s.recent.len() + s.recent.len() / 8 + 64 {
                    s.recent.shrink_to_fit();
                }
                !(s.frozen.is_empty() && s.pending.is_empty() && s.recent.is_empty())
            });
        }
        self.tenants.retain(|_, s| !s.is_empty());
        self.bytes = self.bytes.saturating_sub(freed);
        self.fit_dedup_budget();
    }

    /// Makes the deduplication window fit its budget: the streams remembering the most
    /// entries forget their oldest ones, down to one allowance for all of them (the largest
    /// that fits; streams under it keep everything). A stream left with nothing in the
    /// head leaves it at the next flush, and its `dedup_from` with it: its late entries are
    /// then not counted as unchecked (only when the budget is under one entry per stream).
    fn fit_dedup_budget(&mut self) {
        let max = usize::try_from(self.dedup_budget / DEDUP_ENTRY_BYTES).unwrap_or(usize::MAX);
        let streams = || self.tenants.values().flat_map(|s| s.values());
        let mut lens: Vec<usize> = streams().map(|s| s.recent.len()).collect();
        if lens.iter().sum::<usize>() <= max {
            return;
        }
        lens.sort_unstable();
        let mut rest = max;
        let mut allowance = 0;
        for (i, &len) in lens.iter().enumerate() {
            let k = lens.len() - i;
            if len > rest / k {
                allowance = rest / k;
                break;
            }
            rest -= len;
        }
        for s in self.tenants.values_mut().flat_map(|s| s.values_mut()) {
            let drop = s.recent.len().saturating_sub(allowance);
            if drop == 0 {
                continue;
            }
            // Entries at or before the newest forgotten timestamp are no longer all known.
            s.dedup_from = s.dedup_from.max(s.recent[drop - 1].0.saturating_add(1));
            s.recent.drain(..drop);
            s.recent.shrink_to_fit();
            self.forgotten += drop as u64;
        }
    }

    /// A flush failed: its chunks stay frozen and are retried by the next flush.
    pub(crate) fn abort_flush(&mut self) {
        for streams in self.tenants.values_mut() {
            for s in streams.values_mut() {
                s.flushing = 0;
            }
        }
        if self.oldest.is_none() && self.bytes > 0 {
            self.oldest = Some(Instant::now());
        }
    }

    /// The number of streams `tenant` has in the head.
    pub(crate) fn stream_count(&self, tenant: &TenantId) -> usize {
        self.tenants.get(tenant).map_or(0, HashMap::len)
    }
}
