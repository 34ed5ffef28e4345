//! Integration tests of kelp-tail on real files: scenarios, and a model-based property test.

mod follow;
mod model;

use std::time::{Duration, Instant};

use kelp_tail::{Follower, LineEnd};

/// Takes every line the follower has now, at time `now`.
pub fn drain_at(f: &mut Follower, now: Instant) -> Vec<(String, LineEnd)> {
    let mut out = Vec::new();
    // Bounded, so a follower bug shows up as a failure rather than a hang.
    for _ in 0..100_000 {
        match f.next_line_at(now).unwrap() {
            Some(line) => out.push((String::from_utf8_lossy(line.bytes).into_owned(), line.end)),
            None => return out,
        }
    }
    panic!("the follower never ran dry");
}

/// The texts of newline-ended lines.
pub fn lines(texts: &[&str]) -> Vec<(String, LineEnd)> {
    texts
        .iter()
        .map(|t| (t.to_string(), LineEnd::Newline))
        .collect()
}

/// A clock for tests: starts now, moves only when told.
pub struct Clock(pub Instant);

impl Clock {
    /// A clock reading the real time now.
    pub fn start() -> Self {
        Self(Instant::now())
    }

    /// Moves the clock `ms` forward and returns the new time.
    pub fn advance_ms(&mut self, ms: u64) -> Instant {
        self.0 += Duration::from_millis(ms);
        self.0
    }
}
