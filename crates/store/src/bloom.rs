//! Per-block bloom filters over token grams (see [`crate::tokenizer`]).
//!
//! A filter is `m` bits (a power of two, at least 64) stored as little-endian `u64` words;
//! gram `g` sets bits `(h1 + i * h2) mod m` for `i < BLOOM_HASHES`, where `h = gram_hash(g)`,
//! `h1` is its low 32 bits and `h2` its high 32 bits with the lowest bit set.

use crate::format::{BLOOM_BITS_PER_KEY, BLOOM_HASHES, GRAM_LEN};
use crate::tokenizer::gram_hash;

const CACHE: usize = 4096;
// A gram is the four bytes of a `u32`.
const _: () = assert!(GRAM_LEN == 4);

/// Collects a block's grams and builds its filter.
pub(crate) struct BloomBuilder {
    seen: Box<[u32; CACHE]>,
    /// `grams[..n]` are the grams collected; the rest is room written ahead of `n`.
    grams: Vec<u32>,
    n: usize,
}

/// Which bytes are token bytes ([`crate::tokenizer::is_token_byte`]), as a table.
static TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u8).is_ascii_alphanumeric() || b == b'_' as usize || b >= 0x80;
        b += 1;
    }
    t
};

impl BloomBuilder {
    /// A builder for lines of about `bytes` bytes in all: the gram buffer (at most one
    /// gram a byte) is reserved once instead of being reallocated and copied as it grows.
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        Self {
            seen: Box::new([0; CACHE]),
            grams: Vec::with_capacity(bytes),
            n: 0,
        }
    }

    /// Adds the grams of one line (those of [`crate::tokenizer::for_each_gram`]).
    ///
    /// A small direct-mapped cache drops most repeats before the sort; a gram is always
    /// written at `grams[n]` and `n` advances only when it was not cached, without a
    /// (badly predicted) branch.
    #[inline]
    pub(crate) fn add_line(&mut self, line: &[u8]) {
        let need = self.n + line.len();
        if self.grams.len() < need {
            // Within the reserved capacity when the caller's hint was right.
            let grow = need
                .max(self.grams.len() * 2)
                .min(self.grams.capacity().max(need));
            self.grams.resize(grow, 0);
        }
        let (seen, grams) = (&mut self.seen, &mut self.grams[self.n..need]);
        let mut n = 0;
        let mut g: u32 = 0;
        let mut run = 0u32;
        // Room for one gram per byte is reserved above.
        for &b in line {
            if TOKEN[usize::from(b)] {
                g = (g << 8) | u32::from(b);
                run += 1;
                if run >= GRAM_LEN as u32 {
                    let slot = (g.wrapping_mul(0x9e37_79b1) >> 20) as usize;
                    let new = usize::from(seen[slot] != g);
                    seen[slot] = g;
                    grams[n] = g;
                    n += new;
                }
            } else {
                run = 0;
            }
        }
        self.n += n;
    }

    /// The filter's words.
    pub(crate) fn finish(mut self) -> Vec<u64> {
        self.grams.truncate(self.n);
        // Tens of thousands of u32 per block: a radix sort is several times quicker than
        // a comparison sort here (about 4 % of the ingest CPU before).
        radsort::sort(&mut self.grams);
        self.grams.dedup();
        let want = (self.grams.len() * BLOOM_BITS_PER_KEY).max(64);
        let bits = want.next_power_of_two();
        let mut words = vec![0u64; bits / 64];
        let mask = (bits - 1) as u32;
        for &g in &self.grams {
            for bit in probes(g, mask) {
                words[(bit >> 6) as usize] |= 1 << (bit & 63);
            }
        }
        words
    }
}

#[inline]
fn probes(g: u32, mask: u32) -> impl Iterator<Item = u32> {
    let h = gram_hash(g);
    let (h1, h2) = (h as u32, ((h >> 32) as u32) | 1);
    (0..BLOOM_HASHES).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) & mask)
}

/// Whether a filter may contain every gram (false: no line of the block has them all).
pub(crate) fn may_contain_all(words: &[u64], grams: &[u32]) -> bool {
    let bits = words.len() * 64;
    if bits == 0 || !bits.is_power_of_two() {
        return true;
    }
    let mask = (bits - 1) as u32;
    grams
        .iter()
        .all(|&g| probes(g, mask).all(|bit| words[(bit >> 6) as usize] & (1 << (bit & 63)) != 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::literal_grams;

    #[test]
    fn same_filter_as_from_every_gram() {
        let lines: Vec<Vec<u8>> = (0..3000u32)
            .map(|i| {
                let mut l =
                    format!("ts=2024 level=info id{i} \u{e9}t\u{e9} x_y{} abc", i % 7).into_bytes();
                l.push((i % 256) as u8);
                l.extend_from_slice(&i.to_le_bytes());
                l.truncate((i as usize * 7) % (l.len() + 1));
                l
            })
            .collect();
        let mut b = BloomBuilder::with_capacity(0);
        let mut all = Vec::new();
        for l in &lines {
            b.add_line(l);
            crate::tokenizer::for_each_gram(l, |g| all.push(g));
        }
        all.sort_unstable();
        all.dedup();
        let mut grams = b.grams[..b.n].to_vec();
        grams.sort_unstable();
        grams.dedup();
        assert_eq!(grams, all);
    }

    #[test]
    fn no_false_negatives_and_few_false_positives() {
        let mut b = BloomBuilder::with_capacity(0);
        let lines: Vec<String> = (0..2000)
            .map(|i| format!("GET /item/{i} status=200 user{i}x"))
            .collect();
        for l in &lines {
            b.add_line(l.as_bytes());
        }
        let words = b.finish();
        for l in &lines {
            assert!(may_contain_all(&words, &literal_grams(l.as_bytes())));
        }
        assert!(may_contain_all(&words, &literal_grams(b"tatus")));
        let misses = (0..1000)
            .filter(|i| may_contain_all(&words, &literal_grams(format!("zq{i}kw").as_bytes())))
            .count();
        assert!(misses < 50, "{misses} false positives");
    }
}
