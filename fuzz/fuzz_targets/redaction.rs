//! The built-in redactions (and selector pattern compilation) on arbitrary records; the
//! invariants (unchanged records borrowed, redaction idempotent) are checked in
//! `kelp_agent::fuzzing::redaction`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kelp_agent::fuzzing::redaction(data));
