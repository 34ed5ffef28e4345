//! libFuzzer entry of `kelp_fuzz::resource_push` (fuzz/src/resource_push.rs, where the target and its
//! invariants are described).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kelp_fuzz::resource_push::run(data));
