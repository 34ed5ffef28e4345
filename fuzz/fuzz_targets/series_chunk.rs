//! libFuzzer entry of `kelp_fuzz::series_chunk` (fuzz/src/series_chunk.rs, where the target and its
//! invariants are described).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kelp_fuzz::series_chunk::run(data));
