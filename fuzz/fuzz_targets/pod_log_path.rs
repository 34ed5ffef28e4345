//! libFuzzer entry of `kelp_fuzz::pod_log_path` (fuzz/src/pod_log_path.rs, where the target and its
//! invariants are described).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kelp_fuzz::pod_log_path::run(data));
