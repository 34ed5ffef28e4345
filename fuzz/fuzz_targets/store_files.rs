//! libFuzzer entry of `kelp_fuzz::store_files` (fuzz/src/store_files.rs, where the target and its
//! invariants are described).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kelp_fuzz::store_files::run(data));
