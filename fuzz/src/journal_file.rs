//! The agent's systemd journal reader (sdjournal) on arbitrary journal files.

/// One input.
pub fn run(data: &[u8]) {
    kelp_agent::fuzzing::journal_file(data);
}
