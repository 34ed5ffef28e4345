//! # kelp-tail
//!
//! Following files as they grow, rotate and get truncated, line by line, the way a log
//! shipper must: by open file descriptor, at an explicit offset, never losing or repeating
//! a line at a rotation. It knows nothing of Kubernetes; `kelp stream` (the streaming
//! sidecar) and, later, the node agent build on it.
//!
//! - [`Follower`] follows one path (`tail -F`): appends, rename rotation (drains the old
//!   file first), deletion, truncation in place (`copytruncate`), a path that appears
//!   later. It polls: call [`Follower::next_line`] until `None`, sleep, repeat.
//! - [`Line`] is what it hands out: the bytes without the `\n`, and how the line ended
//!   ([`LineEnd`]: newline, split at the maximum length, or flushed unterminated).
//! - [`FollowConfig`] says where to start, the longest line, how long a rotated file is
//!   still read, and whether a final unterminated line is flushed after a timeout.
//! - [`change`] holds the decision rules as pure functions from what is open and what the
//!   path names now to what to do, so other sources of events (inotify) can drive them.
//! - [`TailError`] is the crate's one error type.
//!
//! ```
//! use kelp_tail::{FollowConfig, Follower, LineEnd};
//! use std::io::Write;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("app.log");
//! let config = FollowConfig { rotate_wait_ms: 0, ..FollowConfig::default() };
//! let mut follower = Follower::new(&path, &config)?;
//! assert!(follower.next_line()?.is_none()); // not there yet: it waits
//!
//! let mut writer = std::fs::File::create(&path)?;
//! writer.write_all(b"one\ntw")?;
//! let line = follower.next_line()?.unwrap();
//! assert_eq!((line.bytes, line.end), (&b"one"[..], LineEnd::Newline));
//! assert!(follower.next_line()?.is_none()); // "tw" waits for its end
//!
//! // Rotation by rename: the writer ends its line in the old file, then reopens the path.
//! std::fs::rename(&path, dir.path().join("app.log.1"))?;
//! writer.write_all(b"o\n")?;
//! std::fs::write(&path, "three\n")?;
//! assert_eq!(follower.next_line()?.unwrap().bytes, b"two");
//! assert_eq!(follower.next_line()?.unwrap().bytes, b"three");
//! assert!(follower.next_line()?.is_none());
//! # Ok(())
//! # }
//! ```

pub mod change;
mod config;
mod error;
mod follower;
mod lines;

pub use config::{FollowConfig, StartAt, MAX_LINE_BYTES_LIMIT, READ_CHUNK_BYTES};
pub use error::TailError;
pub use follower::{Follower, Position};
pub use lines::{Line, LineEnd};
