//! libFuzzer entry of `kelp_fuzz::cri_join` (fuzz/src/cri_join.rs, where the target and its
//! invariants are described).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kelp_fuzz::cri_join::run(data));
