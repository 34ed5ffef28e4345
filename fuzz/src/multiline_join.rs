//! Multi-line joining driven by arbitrary lines, streams, clock steps and flushes; the
//! invariants (no byte lost, added or reordered per stream; first-line timestamps; the
//! size bound) are checked in `kelp_agent::fuzzing::multiline`, which documents the input.

/// One input.
pub fn run(data: &[u8]) {
    kelp_agent::fuzzing::multiline(data);
}
