//! libFuzzer entry of `kelp_fuzz::multiline_join` (fuzz/src/multiline_join.rs, where the target and its
//! invariants are described).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kelp_fuzz::multiline_join::run(data));
