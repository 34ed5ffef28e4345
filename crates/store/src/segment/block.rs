//! One block: entries of one stream in time order, as five compressed columns.

use kelp_model::{LabelPair, StreamId};

use super::column::{get_frame, put_frame, LineJoiner, LineSplitter};
use crate::bloom::BloomBuilder;
use crate::chunk::Chunk;
use crate::codec::{put_ivarint, put_pairs, put_uvarint, Cursor};

/// A block's entry in a segment's block index (64 bytes on disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockMeta {
    /// The stream.
    pub stream: StreamId,
    /// Smallest timestamp.
    pub min_ts: i64,
    /// Largest timestamp.
    pub max_ts: i64,
    /// Number of entries.
    pub entries: u32,
    /// Sum of the lines' lengths.
    pub raw_bytes: u32,
    /// Offset of the block data in the file.
    pub data_off: u64,
    /// Length of the block data.
    pub data_len: u32,
    /// crc32c of the block data.
    pub data_crc: u32,
    /// Offset of the bloom filter.
    pub bloom_off: u64,
    /// Bloom filter length in 64-bit words (0: no filter).
    pub bloom_words: u32,
    /// crc32c of the bloom filter bytes.
    pub bloom_crc: u32,
}

/// A block encoded in memory, before its place in a file is known.
pub(crate) struct EncodedBlock {
    pub meta: BlockMeta,
    pub data: Vec<u8>,
    pub bloom: Vec<u64>,
}

/// Encodes entries `range` of `chunk` (sorted) as a block.
pub(crate) fn encode(
    stream: StreamId,
    chunk: &Chunk,
    range: std::ops::Range<usize>,
    level: i32,
    blooms: bool,
) -> std::io::Result<EncodedBlock> {
    let ents = &chunk.ents()[range];
    let min_ts = ents.first().map_or(0, |e| e.ts);
    let max_ts = ents.last().map_or(0, |e| e.ts);
    let mut ts = Vec::with_capacity(ents.len() * 2);
    let mut lens = Vec::with_capacity(ents.len() * 2);
    let mut meta = Vec::new();
    let has_meta = ents.iter().any(|e| !chunk.meta(e).is_empty());
    let mut split = LineSplitter::default();
    let mut bloom = blooms.then(BloomBuilder::new);
    let mut prev = min_ts;
    let mut raw = 0usize;
    for e in ents {
        put_ivarint(&mut ts, e.ts.wrapping_sub(prev));
        prev = e.ts;
        let line = chunk.line(e);
        raw += line.len();
        put_uvarint(&mut lens, split.add(line) as u64);
        if let Some(b) = bloom.as_mut() {
            b.add_line(line);
        }
        if has_meta {
            put_pairs(&mut meta, chunk.meta(e).iter());
        }
    }
    let mut data = Vec::with_capacity(raw / 6 + 64);
    for col in [&ts, &lens, &split.templates, &split.digits, &meta] {
        put_frame(&mut data, col, level)?;
    }
    let bloom = bloom.map(BloomBuilder::finish).unwrap_or_default();
    Ok(EncodedBlock {
        meta: BlockMeta {
            stream,
            min_ts,
            max_ts,
            entries: ents.len() as u32,
            raw_bytes: raw.min(u32::MAX as usize) as u32,
            data_off: 0,
            data_len: data.len() as u32,
            data_crc: crc32c::crc32c(&data),
            bloom_off: 0,
            bloom_words: bloom.len() as u32,
            bloom_crc: 0,
        },
        data,
        bloom,
    })
}

/// Decodes only the timestamps of a block.
pub(crate) fn decode_ts(data: &[u8], meta: &BlockMeta) -> Result<Vec<i64>, &'static str> {
    let (col, _) = get_frame(data)?;
    let mut c = Cursor::new(&col);
    let mut out = Vec::with_capacity(meta.entries as usize);
    let mut prev = meta.min_ts;
    for _ in 0..meta.entries {
        prev = prev.wrapping_add(c.ivarint()?);
        out.push(prev);
    }
    Ok(out)
}

/// A decoded block: timestamps, lines in one buffer, optional metadata.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    pub ts: Vec<i64>,
    /// All lines, concatenated.
    pub lines: Vec<u8>,
    /// `offs[i]..offs[i + 1]` is line `i`.
    pub offs: Vec<u32>,
    pub meta: Vec<Vec<LabelPair>>,
}

impl Decoded {
    /// Line `i`.
    pub(crate) fn line(&self, i: usize) -> &[u8] {
        &self.lines[self.offs[i] as usize..self.offs[i + 1] as usize]
    }
    /// Metadata of entry `i`.
    pub(crate) fn meta(&self, i: usize) -> &[LabelPair] {
        self.meta.get(i).map_or(&[], Vec::as_slice)
    }
}

/// Decodes a whole block.
pub(crate) fn decode(data: &[u8], meta: &BlockMeta) -> Result<Decoded, &'static str> {
    let n = meta.entries as usize;
    let mut at = 0;
    let mut frames = Vec::with_capacity(5);
    for _ in 0..5 {
        let (f, used) = get_frame(&data[at..])?;
        frames.push(f);
        at += used;
    }
    let ts = {
        let mut c = Cursor::new(&frames[0]);
        let mut prev = meta.min_ts;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            prev = prev.wrapping_add(c.ivarint()?);
            v.push(prev);
        }
        v
    };
    let mut lens = Cursor::new(&frames[1]);
    let templates = &frames[2];
    let mut joiner = LineJoiner::new(&frames[3]);
    let mut lines = Vec::with_capacity(meta.raw_bytes as usize);
    let mut offs = Vec::with_capacity(n + 1);
    offs.push(0u32);
    let mut t = 0usize;
    for _ in 0..n {
        let len = lens.uvarint()? as usize;
        let tpl = templates
            .get(t..t + len)
            .ok_or("templates column too short")?;
        joiner.join(tpl, &mut lines)?;
        t += len;
        offs.push(lines.len() as u32);
    }
    let mut metas = Vec::new();
    if !frames[4].is_empty() {
        let mut c = Cursor::new(&frames[4]);
        for _ in 0..n {
            metas.push(c.pairs()?);
        }
    }
    Ok(Decoded {
        ts,
        lines,
        offs,
        meta: metas,
    })
}

/// Writes a block-index entry (64 bytes).
pub(crate) fn put_meta(out: &mut Vec<u8>, m: &BlockMeta) {
    out.extend_from_slice(&m.stream.0.to_le_bytes());
    out.extend_from_slice(&m.min_ts.to_le_bytes());
    out.extend_from_slice(&m.max_ts.to_le_bytes());
    out.extend_from_slice(&m.entries.to_le_bytes());
    out.extend_from_slice(&m.raw_bytes.to_le_bytes());
    out.extend_from_slice(&m.data_off.to_le_bytes());
    out.extend_from_slice(&m.data_len.to_le_bytes());
    out.extend_from_slice(&m.data_crc.to_le_bytes());
    out.extend_from_slice(&m.bloom_off.to_le_bytes());
    out.extend_from_slice(&m.bloom_words.to_le_bytes());
    out.extend_from_slice(&m.bloom_crc.to_le_bytes());
}

/// Reads a block-index entry.
pub(crate) fn get_meta(c: &mut Cursor<'_>) -> Result<BlockMeta, &'static str> {
    Ok(BlockMeta {
        stream: StreamId(c.u64()?),
        min_ts: c.i64()?,
        max_ts: c.i64()?,
        entries: c.u32()?,
        raw_bytes: c.u32()?,
        data_off: c.u64()?,
        data_len: c.u32()?,
        data_crc: c.u32()?,
        bloom_off: c.u64()?,
        bloom_words: c.u32()?,
        bloom_crc: c.u32()?,
    })
}
