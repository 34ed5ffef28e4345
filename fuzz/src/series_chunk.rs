//! The series store's chunk codec (`kelp_series::codec::decode`) on arbitrary bytes and
//! sample counts: never panics, and whatever decodes re-encodes to bytes that decode to
//! the same samples.

use kelp_series::codec::{decode, ChunkEncoder};

/// One input.
pub fn run(data: &[u8]) {
    let Some((&n, bytes)) = data.split_first() else {
        return;
    };
    if let Ok(samples) = decode(bytes, u32::from(n)) {
        let mut e = ChunkEncoder::default();
        for s in &samples {
            e.push(*s);
        }
        assert_eq!(
            decode(e.bytes(), e.len()).expect("our own encoding decodes"),
            samples
        );
    }
}
