//! libFuzzer entry of `kelp_fuzz::docker_json` (fuzz/src/docker_json.rs, where the target and its
//! invariants are described).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kelp_fuzz::docker_json::run(data));
