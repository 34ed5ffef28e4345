//! The agent's systemd journal reader (sdjournal) on arbitrary journal files.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kelp_agent::fuzzing::journal_file(data));
