//! Kelp's resource push (`kelp_wire::resources::decode`) on arbitrary bodies, as JSON and
//! as zstd: never panics, and whatever decodes re-encodes to the same push.

use kelp_wire::resources::{decode, encode};

const MAX: usize = 1 << 20;

/// One input.
pub fn run(data: &[u8]) {
    for encoding in [None, Some("zstd")] {
        if let Ok(push) = decode(encoding, data, MAX) {
            let again = decode(Some("zstd"), &encode(&push, 1), usize::MAX)
                .expect("our own encoding decodes");
            assert_eq!(again, push);
        }
    }
}
