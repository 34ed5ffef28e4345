//! The tokenizer shared by writes (blooms) and queries (pruning), versioned with the format
//! ([`TOKENIZER_VERSION`](crate::format::TOKENIZER_VERSION)).
//!
//! A token is a maximal run of token bytes: ASCII letters, digits, `_`, and every byte
//! `>= 0x80` (so UTF-8 words stay whole). Blooms hold every 4-byte gram of every token
//! ([`GRAM_LEN`]). A line containing a literal as a substring contains every maximal token
//! run of the literal inside one of its own tokens, so it has every gram of those runs:
//! testing them in a block's bloom can only rule a block out when no line can match. That
//! keeps `|=` exact (substring semantics) while still pruning.

use crate::format::{BLOOM_SEED, GRAM_LEN};

/// Whether `b` belongs to tokens.
#[inline]
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Calls `f` with every gram of every token of `text`, as a big-endian `u32` of its four
/// bytes (in order of appearance, repeats included).
#[inline]
pub fn for_each_gram(text: &[u8], mut f: impl FnMut(u32)) {
    let mut g: u32 = 0;
    let mut run = 0usize;
    for &b in text {
        if is_token_byte(b) {
            g = (g << 8) | u32::from(b);
            run += 1;
            if run >= GRAM_LEN {
                f(g);
            }
        } else {
            run = 0;
        }
    }
}

/// The distinct grams every line containing `literal` must have (empty: no pruning).
pub fn literal_grams(literal: &[u8]) -> Vec<u32> {
    let mut v = Vec::new();
    for_each_gram(literal, |g| v.push(g));
    v.sort_unstable();
    v.dedup();
    v
}

/// The 64-bit hash of a gram used for bloom probes: SplitMix64's finalizer of
/// `gram XOR BLOOM_SEED`.
#[inline]
pub fn gram_hash(gram: u32) -> u64 {
    let mut z = u64::from(gram) ^ BLOOM_SEED;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grams(s: &str) -> Vec<String> {
        let mut v = Vec::new();
        for_each_gram(s.as_bytes(), |g| {
            v.push(String::from_utf8(g.to_be_bytes().to_vec()).unwrap())
        });
        v
    }

    #[test]
    fn grams_stay_inside_tokens() {
        assert_eq!(grams("abcde f=ghij"), ["abcd", "bcde", "ghij"]);
        assert_eq!(grams("ab cd"), Vec::<String>::new());
        assert_eq!(literal_grams(b"eedle0").len(), 3);
        // Substring of a token: its grams are a subset of the token's grams.
        let line: Vec<u32> = literal_grams(b"xxneedle0123yy");
        assert!(literal_grams(b"needle0123")
            .iter()
            .all(|g| line.contains(g)));
    }

    #[test]
    fn hash_is_pinned() {
        // Part of the format: bloom bits on disk depend on it.
        assert_eq!(
            gram_hash(0x61626364),
            gram_hash(u32::from_be_bytes(*b"abcd"))
        );
        assert_ne!(gram_hash(1), gram_hash(2));
    }
}
