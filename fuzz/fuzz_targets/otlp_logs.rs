//! libFuzzer entry of `kelp_fuzz::otlp_logs` (fuzz/src/otlp_logs.rs, where the target and its
//! invariants are described).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kelp_fuzz::otlp_logs::run(data));
