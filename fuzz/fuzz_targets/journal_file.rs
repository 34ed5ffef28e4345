//! libFuzzer entry of `kelp_fuzz::journal_file` (fuzz/src/journal_file.rs, where the target and its
//! invariants are described).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kelp_fuzz::journal_file::run(data));
