//! libFuzzer entry of `kelp_fuzz::logql_template` (fuzz/src/logql_template.rs, where the target and its
//! invariants are described).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kelp_fuzz::logql_template::run(data));
