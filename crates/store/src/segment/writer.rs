//! Writing a segment file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kelp_model::{Labels, StreamId};
use rayon::prelude::*;

use super::block::{encode, put_meta, BlockMeta, EncodedBlock};
use crate::chunk::Chunk;
use crate::codec::{put_header, put_pairs, put_trailer_at, put_uvarint};
use crate::format::{HEADER_LEN, SEGMENT_MAGIC};
use crate::fs::{Fs, WriteFile};
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

/// Encodes the blocks (in parallel, a few at a time so memory stays bounded) and writes
/// and fsyncs a segment file at `path`; the caller fsyncs the directory.
pub(crate) fn write_segment(
    fs: &dyn Fs,
    path: &Path,
    streams: &[(StreamId, Labels)],
    specs: &[BlockSpec],
    level: i32,
    blooms: bool,
) -> Result<SegmentInfo> {
    let mut w = SegmentWriter::create(fs, path)?;
    let wave = (rayon::current_num_threads() * 4).max(4);
    for part in specs.chunks(wave) {
        for b in encode_blocks(path, part, level, blooms)? {
            w.add(b)?;
        }
    }
    w.finish(streams)
}

/// Writes a segment block by block: block data goes to the file as blocks come (in any
/// order); the blooms and the block index, small, are written by [`SegmentWriter::finish`].
pub(crate) struct SegmentWriter {
    file: Box<dyn WriteFile>,
    path: PathBuf,
    off: u64,
    blocks: Vec<(BlockMeta, Vec<u64>)>,
}

impl SegmentWriter {
    /// Creates the file and writes its header.
    pub(crate) fn create(fs: &dyn Fs, path: &Path) -> Result<Self> {
        let file = fs
            .create(path)
            .map_err(|e| StoreError::io("create", path, e))?;
        let mut w = Self {
            file,
            path: path.to_owned(),
            off: 0,
            blocks: Vec::new(),
        };
        let mut header = Vec::with_capacity(HEADER_LEN);
        put_header(&mut header, &SEGMENT_MAGIC);
        w.write(&header)?;
        Ok(w)
    }

    fn write(&mut self, buf: &[u8]) -> Result<()> {
        self.file
            .write_all(buf)
            .map_err(|e| StoreError::io("write", &self.path, e))?;
        self.off += buf.len() as u64;
        Ok(())
    }

    /// Appends one block's data.
    pub(crate) fn add(&mut self, mut b: EncodedBlock) -> Result<()> {
        b.meta.data_off = self.off;
        self.write(&b.data)?;
        self.blocks.push((b.meta, b.bloom));
        Ok(())
    }

    /// Writes the blooms, the meta section and the trailer, and fsyncs the file.
    pub(crate) fn finish(mut self, streams: &[(StreamId, Labels)]) -> Result<SegmentInfo> {
        let mut blocks = std::mem::take(&mut self.blocks);
        blocks.sort_by_key(|(m, _)| (m.stream, m.min_ts, m.max_ts));
        let mut out = Vec::new();
        for (meta, bloom) in &mut blocks {
            meta.bloom_off = self.off + out.len() as u64;
            let start = out.len();
            for w in bloom.iter() {
                out.extend_from_slice(&w.to_le_bytes());
            }
            meta.bloom_crc = crc32c::crc32c(&out[start..]);
            *bloom = Vec::new();
        }
        let meta_off = self.off + out.len() as u64;
        let meta_start = out.len();
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
        for (b, _) in &blocks {
            put_meta(&mut out, b);
            info.min_ts = info.min_ts.min(b.min_ts);
            info.max_ts = info.max_ts.max(b.max_ts);
            info.entries += u64::from(b.entries);
        }
        put_trailer_at(&mut out, meta_start, meta_off, &SEGMENT_MAGIC);
        self.write(&out)?;
        info.bytes = self.off;
        self.file
            .sync()
            .map_err(|e| StoreError::io("fsync", &self.path, e))?;
        Ok(info)
    }
}
