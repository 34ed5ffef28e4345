//! libFuzzer entry of `kelp_fuzz::es_bulk` (fuzz/src/es_bulk.rs, where the target and its
//! invariants are described).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kelp_fuzz::es_bulk::run(data));
