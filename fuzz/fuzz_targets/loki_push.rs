//! libFuzzer entry of `kelp_fuzz::loki_push` (fuzz/src/loki_push.rs, where the target and its
//! invariants are described).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kelp_fuzz::loki_push::run(data));
