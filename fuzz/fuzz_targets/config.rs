//! libFuzzer entry of `kelp_fuzz::config` (fuzz/src/config.rs, where the target and its
//! invariants are described).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kelp_fuzz::config::run(data));
