//! Compaction: a partition with many small segments of about the same size has them merged
//! into one, stream by stream, re-cut into full blocks, identical entries dropped. Blocks
//! already at least a quarter full that overlap no other block of their stream are copied as
//! they are (see [`merge`]).
//!
//! Size-tiered: segments are grouped by size (tiers a factor of 4 apart), and a tier is
//! merged once it holds `compact_min_segments` segments, so each entry is rewritten a
//! logarithmic number of times rather than once per run. Memory stays bounded: blocks
//! are merged in time order and written out as soon as no later block can interleave with
//! them, a few encoded blocks at a time.
//!
//! Crash-safe: the new segment is written and fsynced with no lock held (flushes go on),
//! then, under the commit lock, the new index and manifest switch to it atomically, and
//! only then are the old files deleted (leftovers of a crash are removed at open).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use kelp_model::{Labels, StreamId};

use crate::chunk::Chunk;
use crate::flush::{close_segment, commit, delete_files, new_segment_path, PartChange};
use crate::segment::{encode_blocks, BlockSpec, EncodedBlock, Segment, SegmentWriter};
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
    /// Blocks copied into the merged segment as they were (not decoded and re-encoded).
    pub blocks_copied: u64,
}

/// The size tier of a segment: 0 under 1 MiB, then one tier per factor of 4.
fn tier(bytes: u64) -> u32 {
    match bytes >> 20 {
        0 => 0,
        mib => mib.ilog2() / 2 + 1,
    }
}

/// The segments to merge in a partition: those of the smallest tier that has at least
/// `min` of them.
fn pick(segments: &[Arc<Segment>], min: usize) -> Vec<Arc<Segment>> {
    let mut tiers: BTreeMap<u32, Vec<Arc<Segment>>> = BTreeMap::new();
    for s in segments.iter().filter(|s| s.bytes < BIG_SEGMENT) {
        tiers.entry(tier(s.bytes)).or_default().push(s.clone());
    }
    tiers
        .into_values()
        .find(|v| v.len() >= min.max(2))
        .unwrap_or_default()
}

/// Compacts every partition with a tier of at least `compact_min_segments` segments.
pub(crate) fn compact(inner: &Inner) -> Result<CompactionReport> {
    let _m = inner.maintenance.lock().unwrap_or_else(|e| e.into_inner());
    let mut report = CompactionReport::default();
    let state = inner.state();
    for (key, p) in &state.parts {
        let small = pick(&p.segments, inner.cfg.compact_min_segments);
        if small.is_empty() {
            continue;
        }
        let (id, path) = new_segment_path(inner, key)?;
        let mut w = SegmentWriter::create(&*inner.cfg.fs, &path)?;
        let merged = merge(inner, &small, &path, &mut w)?;
        let info = w.finish(&merged.streams)?;
        let seg = close_segment(inner, key, id, &path, info.bytes)?;
        let ids: Vec<u64> = small.iter().map(|s| s.id).collect();
        let dead = {
            let _c = inner.commit.lock().unwrap_or_else(|e| e.into_inner());
            let now = inner.state();
            let live = now
                .parts
                .get(key)
                .is_some_and(|p| ids.iter().all(|i| p.segments.iter().any(|s| s.id == *i)));
            if !live {
                // Retention took some of them meanwhile: drop this merge.
                let _ = inner.cfg.fs.remove_file(&path);
                if let Some(r) = &inner.remote {
                    crate::bucket::sync::delete_objects(r, &key.0, key.1, &[id]);
                }
                continue;
            }
            let change = PartChange {
                key: key.clone(),
                removed: ids,
                added: vec![(seg, info)],
            };
            let (st, dead) = commit(inner, &now, vec![change], None)?;
            inner.set_state(st);
            dead
        };
        for (key, ids) in dead {
            delete_files(inner, &key, &ids);
        }
        report.partitions += 1;
        report.segments_in += small.len();
        report.duplicates += merged.duplicates;
        report.blocks_copied += merged.copied;
    }
    Ok(report)
}

/// Merges the segments stream by stream into `w`; returns the streams, the duplicates
/// dropped and the blocks copied as they were.
///
/// A block at least a quarter of `block_bytes` that overlaps no other block of its stream in
/// time (and nothing is pending before it) is copied byte for byte with its bloom: it
/// cannot hold a duplicate of another block's entry (duplicates share a timestamp), and
/// decoding and re-encoding it would give the same block. Only the small blocks of
/// flushes and overlapping blocks are merged and re-cut: most of the bytes a load writes
/// are encoded once, not once per compaction tier.
fn merge(
    inner: &Inner,
    segs: &[Arc<Segment>],
    path: &Path,
    w: &mut SegmentWriter,
) -> Result<Merged> {
    let mut streams: BTreeMap<StreamId, Labels> = BTreeMap::new();
    for s in segs {
        for (id, l) in &s.streams {
            streams.insert(*id, l.clone());
        }
    }
    let mut out = BlockOut {
        inner,
        path,
        w,
        wave: Vec::new(),
    };
    let mut dups = 0;
    let mut copied = 0;
    for id in streams.keys() {
        let mut parts: Vec<(i64, &Arc<Segment>, usize)> = segs
            .iter()
            .flat_map(|s| s.blocks_of(*id).map(move |i| (s.blocks[i].min_ts, s, i)))
            .collect();
        parts.sort_by_key(|p| p.0);
        let mut chunk = Chunk::default();
        for (k, (_, seg, i)) in parts.iter().enumerate() {
            let next = parts.get(k + 1).map_or(i64::MAX, |p| p.0);
            let m = &seg.blocks[*i];
            if chunk.is_empty()
                && m.max_ts < next
                && m.raw_bytes as usize >= inner.cfg.block_bytes / 4
            {
                out.copy(seg, *i)?;
                copied += 1;
                continue;
            }
            let d = seg.decode(*i)?;
            for (j, ts) in d.ts.iter().enumerate() {
                if !chunk.insert(*ts, d.line(j), d.meta(j)) {
                    dups += 1;
                }
            }
            // Entries before the next block's start are final: no later block has any.
            loop {
                let ents = chunk.ents();
                let fin = ents.partition_point(|e| e.ts < next);
                let (mut n, mut bytes) = (0, 0);
                while n < fin && bytes < inner.cfg.block_bytes {
                    bytes += chunk.line(&ents[n]).len();
                    n += 1;
                }
                // Cut a full block, or the rest once nothing can follow.
                if n == 0 || (bytes < inner.cfg.block_bytes && next != i64::MAX) {
                    break;
                }
                let block = Arc::new(chunk.take_front(n));
                out.push(*id, block)?;
            }
        }
    }
    out.drain()?;
    Ok(Merged {
        streams: streams.into_iter().collect(),
        duplicates: dups,
        copied,
    })
}

/// What [`merge`] wrote.
struct Merged {
    streams: Vec<(StreamId, Labels)>,
    duplicates: u64,
    copied: u64,
}

/// Encodes cut blocks a wave at a time (in parallel) and writes them.
struct BlockOut<'a> {
    inner: &'a Inner,
    path: &'a Path,
    w: &'a mut SegmentWriter,
    wave: Vec<BlockSpec>,
}

impl BlockOut<'_> {
    fn push(&mut self, stream: StreamId, chunk: Arc<Chunk>) -> Result<()> {
        let range = 0..chunk.len();
        self.wave.push(BlockSpec {
            stream,
            chunk,
            range,
        });
        if self.wave.len() >= (rayon::current_num_threads() * 4).max(4) {
            self.drain()?;
        }
        Ok(())
    }

    /// Writes block `i` of `seg` as it is (its checksum verified on reading).
    fn copy(&mut self, seg: &Segment, i: usize) -> Result<()> {
        let data = seg.read_block(i)?;
        let bloom = seg.bloom(i)?.to_vec();
        self.w.add(EncodedBlock {
            meta: seg.blocks[i],
            data,
            bloom,
        })
    }

    fn drain(&mut self) -> Result<()> {
        let cfg = &self.inner.cfg;
        // Blooms are always written: `use_blooms` only switches their use in scans.
        for b in encode_blocks(self.path, &self.wave, cfg.zstd_level, true)? {
            self.w.add(b)?;
        }
        self.wave.clear();
        Ok(())
    }
}
