//! Compaction: a partition with many segments has its small ones merged into one, stream by
//! stream, re-cut into full blocks, identical entries dropped. Crash-safe: the new segment
//! and index are written and fsynced, a new manifest switches to them atomically, and only
//! then are the old files deleted (leftovers of a crash are removed at open).

use std::collections::BTreeMap;
use std::sync::Arc;

use kelp_model::{Labels, StreamId};

use crate::chunk::Chunk;
use crate::flush::{delete_files, write_partition};
use crate::segment::{encode_blocks, write_encoded, BlockSpec, Segment};
use crate::state::State;
use crate::store::Inner;
use crate::Result;

/// Segments at least this large are left alone.
const BIG_SEGMENT: u64 = 128 << 20;

/// What a compaction run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CompactionReport {
    /// Partitions compacted.
    pub partitions: usize,
    /// Segments merged away.
    pub segments_in: usize,
    /// Entries dropped as identical to another.
    pub duplicates: u64,
}

/// Compacts every partition with at least `compact_min_segments` small segments.
pub(crate) fn compact(inner: &Inner) -> Result<CompactionReport> {
    let _m = inner.maintenance.lock().unwrap_or_else(|e| e.into_inner());
    let mut report = CompactionReport::default();
    let state = inner.state();
    let mut m = state.manifest.clone();
    let mut parts = state.parts.clone();
    let mut dead = Vec::new();
    for (key, p) in &state.parts {
        let small: Vec<Arc<Segment>> = p
            .segments
            .iter()
            .filter(|s| s.bytes < BIG_SEGMENT)
            .cloned()
            .collect();
        if small.len() < inner.cfg.compact_min_segments.max(2) {
            continue;
        }
        let (streams, blocks, dups) = merge(inner, &small)?;
        let ids: Vec<u64> = small.iter().map(|s| s.id).collect();
        let (np, d) = write_partition(
            inner,
            &mut m,
            Some(p),
            key,
            |s| !ids.contains(&s.id),
            |path| write_encoded(&*inner.cfg.fs, path, &streams, blocks),
        )?;
        parts.insert(key.clone(), Arc::new(np));
        dead.push((key.clone(), d));
        report.partitions += 1;
        report.segments_in += small.len();
        report.duplicates += dups;
    }
    if report.partitions == 0 {
        return Ok(report);
    }
    m.generation += 1;
    m.save(&*inner.cfg.fs, &inner.cfg.dir)?;
    inner.set_state(State { manifest: m, parts });
    for (key, ids) in dead {
        delete_files(inner, &key, &ids);
    }
    Ok(report)
}

type Merged = (
    Vec<(StreamId, Labels)>,
    Vec<crate::segment::block::EncodedBlock>,
    u64,
);

/// Merges the segments stream by stream; holds one stream's lines at a time.
fn merge(inner: &Inner, segs: &[Arc<Segment>]) -> Result<Merged> {
    let mut streams: BTreeMap<StreamId, Labels> = BTreeMap::new();
    for s in segs {
        for (id, l) in &s.streams {
            streams.insert(*id, l.clone());
        }
    }
    let mut blocks = Vec::new();
    let mut dups = 0;
    for id in streams.keys() {
        let mut parts: Vec<(i64, &Arc<Segment>, usize)> = segs
            .iter()
            .flat_map(|s| s.blocks_of(*id).map(move |i| (s.blocks[i].min_ts, s, i)))
            .collect();
        parts.sort_by_key(|p| p.0);
        let mut chunk = Chunk::default();
        for (_, seg, i) in parts {
            let d = seg.decode(i)?;
            for (k, ts) in d.ts.iter().enumerate() {
                if !chunk.insert(*ts, d.line(k), d.meta(k)) {
                    dups += 1;
                }
            }
        }
        let chunk = Arc::new(chunk);
        let mut specs = Vec::new();
        let mut start = 0;
        let mut bytes = 0;
        for (i, e) in chunk.ents().iter().enumerate() {
            bytes += chunk.line(e).len();
            if bytes >= inner.cfg.block_bytes {
                specs.push(BlockSpec {
                    stream: *id,
                    chunk: chunk.clone(),
                    range: start..i + 1,
                });
                start = i + 1;
                bytes = 0;
            }
        }
        if start < chunk.len() {
            specs.push(BlockSpec {
                stream: *id,
                chunk: chunk.clone(),
                range: start..chunk.len(),
            });
        }
        blocks.extend(encode_blocks(
            &inner.cfg.dir,
            &specs,
            inner.cfg.zstd_level,
            inner.cfg.use_blooms,
        )?);
    }
    Ok((streams.into_iter().collect(), blocks, dups))
}
