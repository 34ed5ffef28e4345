//! A chunk: one stream's entries in memory, sorted by time, lines in fixed-size pages.
//!
//! Lines live in pages of [`PAGE_BYTES`], allocated one at a time and never resized: the
//! head's churn (chunks filled, flushed, dropped over and over, by many threads) is then
//! one allocation size that the allocator reuses, instead of line buffers doubling from
//! 16 KiB to 2 MiB and shrunk when frozen, which left freed buffers of every size in its
//! per-thread arenas (about 25 MiB more peak RSS on the 2 GiB load, `bench/RESULTS.md`).
//! A line too long for a page gets an allocation of its own.

use kelp_model::LabelPair;

/// Size of a line page.
pub(crate) const PAGE_BYTES: usize = 16 << 10;

/// Lines longer than this get an allocation of their own rather than a fresh page (at most
/// a quarter of a page is left unused when a line does not fit).
const OWN_ALLOCATION: usize = PAGE_BYTES / 4;

/// Flag of `Ent::page`: the line is in `bigs`, at the index in the other bits.
const BIG: u32 = 1 << 31;

/// No metadata for this entry.
const NO_META: u32 = u32::MAX;

/// Heap bytes of a copy of `meta`.
fn meta_heap_bytes(meta: &[LabelPair]) -> usize {
    std::mem::size_of_val(meta)
        + meta
            .iter()
            .map(|p| p.name.len() + p.value.len())
            .sum::<usize>()
}

/// One entry of a chunk: its time and where its line is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ent {
    pub ts: i64,
    page: u32,
    off: u32,
    len: u32,
    meta: u32,
}

/// Entries of one stream, sorted by timestamp (equal timestamps in arrival order).
#[derive(Debug, Clone, Default)]
pub(crate) struct Chunk {
    ents: Vec<Ent>,
    /// Line pages; the last one takes new lines.
    pages: Vec<Vec<u8>>,
    /// Lines over [`OWN_ALLOCATION`], each in an allocation of its own.
    bigs: Vec<Box<[u8]>>,
    /// Sum of line lengths.
    line_bytes: usize,
    /// Sum of page capacities.
    page_bytes: usize,
    metas: Vec<Vec<LabelPair>>,
    /// Heap bytes of the metadata pairs.
    meta_bytes: usize,
}

impl Chunk {
    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.ents.len()
    }

    /// Whether there are no entries.
    pub(crate) fn is_empty(&self) -> bool {
        self.ents.is_empty()
    }

    /// Memory charged for this chunk: what its buffers hold (capacity, not length, so the
    /// head cap bounds real memory), and the metadata.
    pub(crate) fn bytes(&self) -> usize {
        self.page_bytes
            + self.pages.capacity() * std::mem::size_of::<Vec<u8>>()
            + self.bigs.capacity() * std::mem::size_of::<Box<[u8]>>()
            + self.ents.capacity() * std::mem::size_of::<Ent>()
            + self.metas.capacity() * std::mem::size_of::<Vec<LabelPair>>()
            + self.meta_bytes
    }

    /// Gives back spare capacity (a chunk about to be frozen takes no more entries). The
    /// last page keeps its spare room: pages are recycled whole.
    pub(crate) fn shrink(&mut self) {
        self.ents.shrink_to_fit();
        self.metas.shrink_to_fit();
    }

    /// Lines and entry records held (length, not capacity): what decides when a chunk is
    /// full.
    pub(crate) fn fill(&self) -> usize {
        self.line_bytes + self.ents.len() * std::mem::size_of::<Ent>()
    }

    /// Sum of line lengths.
    pub(crate) fn line_bytes(&self) -> usize {
        self.line_bytes
    }

    /// The entries, sorted.
    pub(crate) fn ents(&self) -> &[Ent] {
        &self.ents
    }

    /// The line of `e`.
    pub(crate) fn line(&self, e: &Ent) -> &[u8] {
        if e.page & BIG != 0 {
            return &self.bigs[(e.page & !BIG) as usize];
        }
        &self.pages[e.page as usize][e.off as usize..(e.off + e.len) as usize]
    }

    /// Where `needle` occurs in the line pages, as sorted `(page, offset)` pairs. Lines
    /// never straddle pages, so an entry can contain the needle only if a hit starts
    /// inside its line ([`Chunk::may_contain`]); a needle spanning two adjacent lines is
    /// a false candidate the caller's own test rejects.
    pub(crate) fn find_in_pages(&self, needle: &memchr::memmem::Finder<'_>) -> Vec<(u32, u32)> {
        let mut hits = Vec::new();
        for (i, p) in self.pages.iter().enumerate() {
            // Overlapping occurrences too: one spanning the end of a line must not hide
            // one that starts inside the next line.
            let mut from = 0;
            while let Some(at) = p.get(from..).and_then(|rest| needle.find(rest)) {
                hits.push((i as u32, (from + at) as u32));
                from += at + 1;
            }
        }
        hits
    }

    /// Whether `needle` occurs anywhere in the line pages (lines in allocations of their
    /// own are not searched: see [`Chunk::has_big_lines`]).
    pub(crate) fn contains_needle(&self, needle: &memchr::memmem::Finder<'_>) -> bool {
        self.pages.iter().any(|p| needle.find(p).is_some())
    }

    /// Whether `e`'s line may contain a needle of `len` bytes found at `hits`
    /// ([`Chunk::find_in_pages`]). Lines in their own allocation are always candidates.
    pub(crate) fn may_contain(e: &Ent, hits: &[(u32, u32)], len: usize) -> bool {
        if e.page & BIG != 0 {
            return true;
        }
        let i = hits.partition_point(|h| *h < (e.page, e.off));
        hits.get(i)
            .is_some_and(|h| h.0 == e.page && h.1 as usize + len <= (e.off + e.len) as usize)
    }

    /// Whether some lines are in allocations of their own (not searched by
    /// [`Chunk::find_in_pages`]).
    pub(crate) fn has_big_lines(&self) -> bool {
        !self.bigs.is_empty()
    }

    /// The metadata of `e`.
    pub(crate) fn meta(&self, e: &Ent) -> &[LabelPair] {
        match e.meta {
            NO_META => &[],
            i => &self.metas[i as usize],
        }
    }

    /// Smallest timestamp (`i64::MAX` when empty).
    pub(crate) fn min_ts(&self) -> i64 {
        self.ents.first().map_or(i64::MAX, |e| e.ts)
    }

    /// Largest timestamp (`i64::MIN` when empty).
    pub(crate) fn max_ts(&self) -> i64 {
        self.ents.last().map_or(i64::MIN, |e| e.ts)
    }

    /// Index range of entries with `start <= ts < end`.
    pub(crate) fn range(&self, start: i64, end: i64) -> std::ops::Range<usize> {
        let a = self.ents.partition_point(|e| e.ts < start);
        let b = self.ents.partition_point(|e| e.ts < end);
        a..b.max(a)
    }

    /// Whether an entry with this timestamp and line is present.
    pub(crate) fn contains(&self, ts: i64, line: &[u8]) -> bool {
        if ts < self.min_ts() || ts > self.max_ts() {
            return false;
        }
        let from = self.ents.partition_point(|e| e.ts < ts);
        self.ents[from..]
            .iter()
            .take_while(|e| e.ts == ts)
            .any(|e| self.line(e) == line)
    }

    /// Moves the first `n` entries out into a chunk of their own.
    pub(crate) fn take_front(&mut self, n: usize) -> Chunk {
        let n = n.min(self.len());
        let mut front = Chunk::default();
        let mut rest = Chunk::default();
        for (i, e) in self.ents.iter().enumerate() {
            let to = if i < n { &mut front } else { &mut rest };
            to.push_last(e.ts, self.line(e), self.meta(e));
        }
        *self = rest;
        front
    }

    /// Appends an entry known to sort last.
    fn push_last(&mut self, ts: i64, line: &[u8], meta: &[LabelPair]) {
        debug_assert!(self.ents.last().is_none_or(|e| e.ts <= ts));
        let e = self.store(ts, line, meta);
        self.ents.push(e);
    }

    /// Copies a line (and its metadata) in; returns the entry pointing at it.
    fn store(&mut self, ts: i64, line: &[u8], meta: &[LabelPair]) -> Ent {
        let (page, off) = if line.len() > OWN_ALLOCATION {
            self.page_bytes += line.len();
            self.bigs.push(line.into());
            (BIG | (self.bigs.len() - 1) as u32, 0)
        } else {
            let off = match self.pages.last_mut() {
                Some(p) if p.capacity() - p.len() >= line.len() => {
                    let off = p.len();
                    p.extend_from_slice(line);
                    off
                }
                _ => {
                    let mut p = Vec::with_capacity(PAGE_BYTES);
                    p.extend_from_slice(line);
                    self.page_bytes += p.capacity();
                    self.pages.push(p);
                    0
                }
            };
            ((self.pages.len() - 1) as u32, off as u32)
        };
        self.line_bytes += line.len();
        let meta = if meta.is_empty() {
            NO_META
        } else {
            self.meta_bytes += meta_heap_bytes(meta);
            self.metas.push(meta.to_vec());
            (self.metas.len() - 1) as u32
        };
        Ent {
            ts,
            page,
            off,
            len: line.len() as u32,
            meta,
        }
    }

    /// Inserts an entry at its place in time order; returns false (and inserts nothing) if
    /// an identical entry (timestamp and line) is present.
    pub(crate) fn insert(&mut self, ts: i64, line: &[u8], meta: &[LabelPair]) -> bool {
        let at = if self.ents.last().is_none_or(|e| e.ts < ts) {
            self.ents.len()
        } else {
            if self.contains(ts, line) {
                return false;
            }
            self.ents.partition_point(|e| e.ts <= ts)
        };
        let e = self.store(ts, line, meta);
        if at == self.ents.len() {
            self.ents.push(e);
        } else {
            self.ents.insert(at, e);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_fill_pages_and_long_lines_are_kept_whole() {
        let long = "y".repeat(OWN_ALLOCATION + 1);
        let short = "x".repeat(100);
        let mut c = Chunk::default();
        for i in 0..1000 {
            let line = if i % 100 == 7 { &long } else { &short };
            assert!(c.insert(i, line.as_bytes(), &[]));
        }
        assert_eq!(c.line(&c.ents()[7]), long.as_bytes());
        assert_eq!(c.line(&c.ents()[8]), short.as_bytes());
        assert_eq!(c.line_bytes(), 990 * 100 + 10 * long.len());
        assert_eq!(
            c.pages.len(),
            (990 * 100usize).div_ceil(PAGE_BYTES - PAGE_BYTES % 100)
        );
        assert!(c.pages.iter().all(|p| p.capacity() == PAGE_BYTES));
        // Out of order: still sorted, lines where they were put.
        assert!(c.insert(-1, b"first", &[]));
        assert_eq!(c.line(&c.ents()[0]), b"first");
        assert_eq!(c.line(&c.ents()[8]), long.as_bytes());
    }

    #[test]
    fn keeps_time_order_and_drops_duplicates() {
        let mut c = Chunk::default();
        assert!(c.insert(10, b"a", &[]));
        assert!(c.insert(30, b"c", &[]));
        assert!(c.insert(20, b"b", &[]));
        assert!(c.insert(20, b"b2", &[]));
        assert!(!c.insert(20, b"b", &[]));
        assert!(!c.insert(30, b"c", &[]));
        let lines: Vec<_> = c.ents().iter().map(|e| c.line(e).to_vec()).collect();
        assert_eq!(
            lines,
            [b"a".to_vec(), b"b".to_vec(), b"b2".to_vec(), b"c".to_vec()]
        );
        assert_eq!(c.range(15, 30), 1..3);
        assert_eq!((c.min_ts(), c.max_ts()), (10, 30));
    }
}
