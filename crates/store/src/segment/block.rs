//! One block: entries of one stream in time order, as five compressed columns and an
//! optional sixth frame of digit checkpoints.

use kelp_model::{LabelPair, StreamId};

use super::column::{get_frame, put_frame, LineJoiner, LineSplitter};
use crate::bloom::BloomBuilder;
use crate::chunk::Chunk;
use crate::codec::{put_ivarint, put_pairs, put_uvarint, Cursor};
use crate::format::DIGIT_CHECKPOINT;

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
    // The chunk's line bytes, pro rata: a hint for the column and bloom buffers.
    let raw_hint = chunk.line_bytes() / chunk.len().max(1) * ents.len();
    let mut split = LineSplitter::with_capacity(raw_hint);
    let mut bloom = blooms.then(|| BloomBuilder::with_capacity(raw_hint));
    let mut prev = min_ts;
    let mut raw = 0usize;
    let mut checkpoints = Vec::with_capacity(ents.len() / DIGIT_CHECKPOINT * 4 + 4);
    for (k, e) in ents.iter().enumerate() {
        if k % DIGIT_CHECKPOINT == 0 {
            checkpoints.extend_from_slice(&(split.nibbles() as u32).to_le_bytes());
        }
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
    for col in [&ts[..], &lens, split.templates(), split.digits(), &meta] {
        put_frame(&mut data, col, level)?;
    }
    // Only worth its bytes when there are lines to step over.
    if ents.len() > DIGIT_CHECKPOINT {
        put_frame(&mut data, &checkpoints, level)?;
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

/// Counts the entries of a block with `start <= ts < end` per bucket of `step` from
/// `start`, straight from its timestamp column `col` (no vector of timestamps): adds
/// `(bucket, count)` pairs to `out`, merging with its last pair.
pub(crate) fn count_ts(
    col: &[u8],
    meta: &BlockMeta,
    (start, end, step): (i64, i64, i64),
    out: &mut Vec<(usize, u64)>,
) -> Result<(), &'static str> {
    let mut add = |bucket: usize, n: u64| match out.last_mut() {
        Some(last) if last.0 == bucket => last.1 += n,
        _ => out.push((bucket, n)),
    };
    let (mut lo, mut hi) = (1i64, 0i64); // the current bucket's range, empty at first
    let (mut bucket, mut n) = (0usize, 0u64);
    let mut prev = meta.min_ts;
    let mut pos = 0;
    for _ in 0..meta.entries {
        let mut u = 0u64;
        let mut shift = 0;
        loop {
            let b = *col.get(pos).ok_or("timestamp column too short")?;
            pos += 1;
            u |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return Err("varint too long");
            }
        }
        prev = prev.wrapping_add(((u >> 1) as i64) ^ -((u & 1) as i64));
        if prev >= lo && prev < hi {
            n += 1;
            continue;
        }
        if n > 0 {
            add(bucket, n);
            n = 0;
        }
        if prev < start || prev >= end {
            (lo, hi) = (1, 0);
            continue;
        }
        bucket = ((prev - start) / step) as usize;
        lo = start + bucket as i64 * step;
        hi = lo.saturating_add(step).min(end);
        n = 1;
    }
    if n > 0 {
        add(bucket, n);
    }
    Ok(())
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

/// The five frames of a block, still compressed: `(start, end)` of each frame.
fn frame_spans(data: &[u8]) -> Result<[(usize, usize); 5], &'static str> {
    let mut spans = [(0, 0); 5];
    let mut at = 0;
    for s in &mut spans {
        let h = data.get(at..at + 8).ok_or("truncated frame header")?;
        let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
        if data.len() < at + 8 + len {
            return Err("truncated frame");
        }
        *s = (at, at + 8 + len);
        at += 8 + len;
    }
    Ok(spans)
}

/// The digit checkpoints of a block (the optional frame after the five columns, see
/// [`DIGIT_CHECKPOINT`]), or `None` when the block has none.
fn checkpoints(data: &[u8], at: usize, n: usize) -> Result<Option<Vec<u32>>, &'static str> {
    if data.len() <= at {
        return Ok(None);
    }
    let (raw, _) = get_frame(&data[at..])?;
    if raw.len() != n.div_ceil(DIGIT_CHECKPOINT) * 4 {
        return Err("digit checkpoints do not match the entries");
    }
    Ok(Some(
        raw.chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    ))
}

/// Entries of a block that pass a line test, decoded lazily: lines are rebuilt one at a
/// time into a reused buffer and tested, and only the passing ones are kept; timestamps are
/// decoded first (a small frame) to skip entries outside the time range; metadata only when
/// something passed.
pub(crate) fn decode_matching(
    data: &[u8],
    meta: &BlockMeta,
    start: i64,
    end: i64,
    template_literal: Option<&memchr::memmem::Finder<'_>>,
    test: impl FnMut(&[u8]) -> bool,
) -> Result<Decoded, &'static str> {
    decode_window(data, meta, (start, end), None, template_literal, test)
}

/// Like [`decode_matching`], but with `take = Some((forward, n))` only the first (or, not
/// forward, the last) `n` entries of the time range are looked at: the lines before them
/// are skipped without being rebuilt. Meant for reads without a line test (the newest
/// `n` lines of a block), where those are exactly the entries wanted.
pub(crate) fn decode_window(
    data: &[u8],
    meta: &BlockMeta,
    (start, end): (i64, i64),
    take: Option<(bool, usize)>,
    template_literal: Option<&memchr::memmem::Finder<'_>>,
    mut test: impl FnMut(&[u8]) -> bool,
) -> Result<Decoded, &'static str> {
    let n = meta.entries as usize;
    let spans = frame_spans(data)?;
    let frame = |i: usize| get_frame(&data[spans[i].0..spans[i].1]).map(|f| f.0);
    let ts = {
        let col = frame(0)?;
        let mut c = Cursor::new(&col);
        let mut prev = meta.min_ts;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            prev = prev.wrapping_add(c.ivarint()?);
            v.push(prev);
        }
        v
    };
    let mut a = ts.partition_point(|t| *t < start);
    let mut b = ts.partition_point(|t| *t < end).max(a);
    match take {
        Some((true, n)) => b = b.min(a.saturating_add(n)),
        Some((false, n)) => a = a.max(b.saturating_sub(n)),
        None => {}
    }
    let mut out = Decoded {
        offs: vec![0],
        ..Decoded::default()
    };
    if a == b {
        return Ok(out);
    }
    let lens_col = frame(1)?;
    let templates = frame(2)?;
    // Where the template literal occurs: lines without an occurrence cannot pass.
    // Overlapping occurrences too: one spanning two templates must not hide one that
    // starts inside the second.
    let hits: Option<Vec<usize>> = template_literal.map(|f| {
        let mut v = Vec::new();
        let mut from = 0;
        while let Some(at) = templates.get(from..).and_then(|rest| f.find(rest)) {
            v.push(from + at);
            from += at + 1;
        }
        v
    });
    if hits.as_ref().is_some_and(Vec::is_empty) {
        return Ok(out);
    }
    let lit_len = template_literal.map_or(0, |f| f.needle().len());
    let mut next_hit = 0;
    let digits = frame(3)?;
    let checkpoints = checkpoints(data, spans[4].1, n)?;
    let mut lens = Cursor::new(&lens_col);
    let mut joiner = LineJoiner::new(&digits);
    let mut line = Vec::new();
    let mut t = 0usize;
    let mut kept = Vec::new();
    // The joiner's digits are those of line `synced`, whose template starts at `synced_t`;
    // with checkpoints, lines not rebuilt are not stepped over until a line is wanted.
    let (mut synced, mut synced_t) = (0usize, 0usize);
    let mut checkpoint_t = 0usize;
    for (k, &tk) in ts[..b].iter().enumerate() {
        let len = lens.uvarint()? as usize;
        if k % DIGIT_CHECKPOINT == 0 {
            checkpoint_t = t;
        }
        let tpl = templates
            .get(t..t + len)
            .ok_or("templates column too short")?;
        let span = (t, t + len);
        t += len;
        if let Some(h) = &hits {
            while next_hit < h.len() && h[next_hit] < span.0 {
                next_hit += 1;
            }
            if next_hit == h.len() {
                // No occurrence at or after this line: no later line can pass.
                break;
            }
            let candidate = h.get(next_hit).is_some_and(|&m| m + lit_len <= span.1);
            if k < a || !candidate {
                if checkpoints.is_none() {
                    joiner.skip(tpl)?;
                }
                continue;
            }
        } else if k < a {
            if checkpoints.is_none() {
                joiner.skip(tpl)?;
            }
            continue;
        }
        if let Some(cp) = &checkpoints {
            let base = k - k % DIGIT_CHECKPOINT;
            if synced < base {
                joiner.seek(cp[k / DIGIT_CHECKPOINT] as usize);
                synced_t = checkpoint_t;
            }
            joiner.skip(
                templates
                    .get(synced_t..span.0)
                    .ok_or("templates column too short")?,
            )?;
            (synced, synced_t) = (k + 1, span.1);
        }
        line.clear();
        joiner.join(tpl, &mut line)?;
        if k >= a && test(&line) {
            kept.push(k);
            out.ts.push(tk);
            out.lines.extend_from_slice(&line);
            out.offs.push(out.lines.len() as u32);
        }
    }
    if !kept.is_empty() && spans[4].1 - spans[4].0 > 8 {
        let col = frame(4)?;
        let mut c = Cursor::new(&col);
        let mut next = kept.iter().peekable();
        for k in 0..n {
            let pairs = c.pairs()?;
            if next.peek() == Some(&&k) {
                out.meta.push(pairs);
                next.next();
            }
            if next.peek().is_none() {
                break;
            }
        }
    }
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Chunk;

    fn block(lines: &[(i64, &str)]) -> (EncodedBlock, Chunk) {
        let mut c = Chunk::default();
        for (ts, l) in lines {
            assert!(c.insert(*ts, l.as_bytes(), &[]));
        }
        let b = encode(StreamId(1), &c, 0..c.len(), 3, false).unwrap();
        (b, c)
    }

    #[test]
    fn decode_matching_finds_lines_through_templates_and_time_range() {
        let (b, _) = block(&[
            (10, "GET /a 200 needle12ab34"),
            (20, "needle12ab3 near miss 4"),
            (30, "x needle12ab34 \u{1} y"),
            (40, "needle12ab34 out of range"),
        ]);
        let lit = memchr::memmem::Finder::new(b"needle");
        for pre in [None, Some(&lit)] {
            let d = decode_matching(&b.data, &b.meta, 0, 40, pre, |l| {
                memchr::memmem::find(l, b"needle12ab34").is_some()
            })
            .unwrap();
            assert_eq!(d.ts, [10, 30]);
            assert_eq!(d.line(1), "x needle12ab34 \u{1} y".as_bytes());
        }
    }

    #[test]
    fn digit_checkpoints_find_the_same_lines_as_stepping_over_every_template() {
        let lines: Vec<(i64, String)> = (0..1000i64)
            .map(|i| {
                (
                    i,
                    format!("req {i} took {}ms \u{1} x{}", i * 7 % 1000, i % 3),
                )
            })
            .collect();
        let refs: Vec<(i64, &str)> = lines.iter().map(|(t, l)| (*t, l.as_str())).collect();
        let (b, _) = block(&refs);
        // The same block without its checkpoint frame (as written before it existed).
        let spans = frame_spans(&b.data).unwrap();
        assert!(
            b.data.len() > spans[4].1,
            "a block of 1000 lines has checkpoints"
        );
        let old = &b.data[..spans[4].1];
        let lit = memchr::memmem::Finder::new(b"took ");
        for want in [0i64, 1, 63, 64, 65, 500, 998, 999] {
            let needle = format!("req {want} took");
            for data in [&b.data[..], old] {
                let d = decode_matching(data, &b.meta, 0, 1000, Some(&lit), |l| {
                    l.starts_with(needle.as_bytes())
                })
                .unwrap();
                assert_eq!(d.ts, [want]);
                assert_eq!(d.line(0), lines[want as usize].1.as_bytes());
            }
        }
        for (fwd, n) in [(true, 3), (false, 3), (false, 700)] {
            let a = decode_window(&b.data, &b.meta, (100, 900), Some((fwd, n)), None, |_| true);
            let o = decode_window(old, &b.meta, (100, 900), Some((fwd, n)), None, |_| true);
            let (a, o) = (a.unwrap(), o.unwrap());
            assert_eq!((a.ts.clone(), a.lines.clone()), (o.ts, o.lines));
            let first = if fwd { 100 } else { 900 - n as i64 };
            assert_eq!(a.line(0), lines[first as usize].1.as_bytes());
        }
    }

    #[test]
    fn count_ts_matches_counting_one_by_one() {
        let lines: Vec<(i64, String)> = (0..500i64)
            .map(|i| (i * i % 997 + i * 7, format!("l{i}")))
            .collect();
        let mut sorted = lines.clone();
        sorted.sort();
        sorted.dedup_by_key(|l| l.0);
        let refs: Vec<(i64, &str)> = sorted.iter().map(|(t, l)| (*t, l.as_str())).collect();
        let (b, _) = block(&refs);
        let (col, _) = get_frame(&b.data).unwrap();
        for (start, end, step) in [
            (0, 5000, 100),
            (13, 3001, 7),
            (-50, 10, 1000),
            (400, 401, 1),
        ] {
            let mut got = Vec::new();
            count_ts(&col, &b.meta, (start, end, step), &mut got).unwrap();
            let mut want: Vec<(usize, u64)> = Vec::new();
            for (ts, _) in &refs {
                if *ts >= start && *ts < end {
                    let k = ((ts - start) / step) as usize;
                    match want.last_mut() {
                        Some(l) if l.0 == k => l.1 += 1,
                        _ => want.push((k, 1)),
                    }
                }
            }
            assert_eq!(got, want, "{start} {end} {step}");
        }
    }
}
