//! The built-in redactions (and selector pattern compilation) on arbitrary records; the
//! invariants (unchanged records borrowed, redaction idempotent) are checked in
//! `kelp_agent::fuzzing::redaction`.

/// One input.
pub fn run(data: &[u8]) {
    kelp_agent::fuzzing::redaction(data);
}
