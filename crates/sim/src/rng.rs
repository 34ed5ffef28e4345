//! A small seeded random generator (SplitMix64), written here so that a seed gives the same
//! simulation on every platform and with every dependency version.

/// SplitMix64: 64 bits of state, passes BigCrush, one multiply-xorshift chain per draw.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// Finalises one value (SplitMix64's output function).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator for a seed.
    #[cfg(test)]
    pub(crate) fn new(seed: u64) -> Self {
        Rng(mix(seed ^ GOLDEN))
    }

    /// An independent generator for one purpose (`tag`) and position (`parts`), derived
    /// from the simulation seed, so that e.g. pod 3's names do not depend on how many
    /// draws pod 2 made.
    pub(crate) fn derive(seed: u64, tag: &str, parts: &[u64]) -> Self {
        let mut h = mix(seed ^ GOLDEN);
        for b in tag.bytes() {
            h = mix(h ^ u64::from(b));
        }
        for &p in parts {
            h = mix(h.wrapping_add(GOLDEN) ^ p);
        }
        Rng(h)
    }

    /// The next 64 random bits.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// A uniform value in `0..n` (`n > 0`; 0 gives 0), by Lemire's multiply-shift.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A uniform index into a slice of length `n`.
    pub(crate) fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// True with probability `1 / n` (never when `n` is 0).
    pub(crate) fn one_in(&mut self, n: u64) -> bool {
        n != 0 && self.below(n) == 0
    }

    /// `n` characters drawn from `alphabet`.
    pub(crate) fn string(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| char::from(alphabet[self.index(alphabet.len())]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_derivations_differ() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::new(7);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        let x = Rng::derive(7, "pod", &[1, 0]).next_u64();
        let y = Rng::derive(7, "pod", &[0, 1]).next_u64();
        let z = Rng::derive(7, "feed", &[1, 0]).next_u64();
        assert!(x != y && x != z && y != z);
    }

    #[test]
    fn below_stays_in_range_and_covers_it() {
        let mut r = Rng::new(1);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = r.below(5);
            assert!(v < 5);
            seen[v as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(r.below(0), 0);
    }
}
