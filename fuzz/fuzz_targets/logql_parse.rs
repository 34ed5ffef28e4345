//! libFuzzer entry of `kelp_fuzz::logql_parse` (fuzz/src/logql_parse.rs, where the target and its
//! invariants are described).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kelp_fuzz::logql_parse::run(data));
