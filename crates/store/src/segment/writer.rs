//! Writing a segment file.

use std::path::Path;
use std::sync::Arc;

use kelp_model::{Labels, StreamId};
use rayon::prelude::*;

use super::block::{encode, put_meta, EncodedBlock};
use crate::chunk::Chunk;
use crate::codec::{put_header, put_pairs, put_trailer, put_uvarint};
use crate::format::SEGMENT_MAGIC;
use crate::fs::Fs;
use crate::{Result, StoreError};

/// One block to write: a range of a stream's chunk.
pub(crate) struct BlockSpec {
    pub stream: StreamId,
    pub chunk: Arc<Chunk>,
    pub range: std::ops::Range<usize>,
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SegmentInfo {
    pub bytes: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub entries: u64,
}

/// Encodes blocks in parallel on all cores.
pub(crate) fn encode_blocks(
    path: &Path,
    specs: &[BlockSpec],
    level: i32,
    blooms: bool,
) -> Result<Vec<EncodedBlock>> {
    specs
        .par_iter()
        .map(|s| encode(s.stream, &s.chunk, s.range.clone(), level, blooms))
        .collect::<std::io::Result<_>>()
        .map_err(|e| StoreError::io("compress", path, e))
}

/// Encodes the blocks (in parallel) and writes and fsyncs a segment file at `path`; the
/// caller fsyncs the directory.
pub(crate) fn write_segment(
    fs: &dyn Fs,
    path: &Path,
    streams: &[(StreamId, Labels)],
    specs: &[BlockSpec],
    level: i32,
    blooms: bool,
) -> Result<SegmentInfo> {
    let blocks = encode_blocks(path, specs, level, blooms)?;
    write_encoded(fs, path, streams, blocks)
}

/// Writes and fsyncs a segment of encoded blocks.
pub(crate) fn write_encoded(
    fs: &dyn Fs,
    path: &Path,
    streams: &[(StreamId, Labels)],
    mut blocks: Vec<EncodedBlock>,
) -> Result<SegmentInfo> {
    blocks.sort_by_key(|b| (b.meta.stream, b.meta.min_ts, b.meta.max_ts));
    let total: usize = blocks
        .iter()
        .map(|b| b.data.len() + b.bloom.len() * 8 + 80)
        .sum();
    let mut out = Vec::with_capacity(total + 4096);
    put_header(&mut out, &SEGMENT_MAGIC);
    for b in &mut blocks {
        b.meta.data_off = out.len() as u64;
        out.extend_from_slice(&b.data);
    }
    for b in &mut blocks {
        b.meta.bloom_off = out.len() as u64;
        let start = out.len();
        for w in &b.bloom {
            out.extend_from_slice(&w.to_le_bytes());
        }
        b.meta.bloom_crc = crc32c::crc32c(&out[start..]);
    }
    let meta_off = out.len() as u64;
    let mut sorted: Vec<&(StreamId, Labels)> = streams.iter().collect();
    sorted.sort_by_key(|s| s.0);
    sorted.dedup_by_key(|s| s.0);
    put_uvarint(&mut out, sorted.len() as u64);
    for (id, labels) in sorted {
        out.extend_from_slice(&id.0.to_le_bytes());
        put_pairs(&mut out, labels.iter());
    }
    put_uvarint(&mut out, blocks.len() as u64);
    let mut info = SegmentInfo {
        min_ts: i64::MAX,
        max_ts: i64::MIN,
        ..SegmentInfo::default()
    };
    for b in &blocks {
        put_meta(&mut out, &b.meta);
        info.min_ts = info.min_ts.min(b.meta.min_ts);
        info.max_ts = info.max_ts.max(b.meta.max_ts);
        info.entries += u64::from(b.meta.entries);
    }
    put_trailer(&mut out, meta_off, &SEGMENT_MAGIC);
    info.bytes = out.len() as u64;
    let mut f = fs
        .create(path)
        .map_err(|e| StoreError::io("create", path, e))?;
    f.write_all(&out)
        .map_err(|e| StoreError::io("write", path, e))?;
    f.sync().map_err(|e| StoreError::io("fsync", path, e))?;
    Ok(info)
}
