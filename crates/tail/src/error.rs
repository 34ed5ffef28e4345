//! The crate's one error type.

use std::io;
use std::path::PathBuf;

/// Why following a file failed. Every variant names the followed path (or the config field)
/// it is about. A [`Follower`](crate::Follower) stays usable after an error: the next call
/// looks again, so a caller may retry a transient failure or give up.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    /// The path names a regular file that could not be opened (permissions, for example).
    #[error("cannot open {}", path.display())]
    Open {
        /// The followed path.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The path or the open file could not be `stat`ed.
    #[error("cannot stat {}", path.display())]
    Stat {
        /// The followed path.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// Reading the open file failed.
    #[error("cannot read {} at offset {offset}", path.display())]
    Read {
        /// The followed path (the open file may since have been renamed away from it).
        path: PathBuf,
        /// Where the read started.
        offset: u64,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The path names something other than a regular file, such as a directory.
    #[error("{} is a {kind}, not a regular file", path.display())]
    NotAFile {
        /// The followed path.
        path: PathBuf,
        /// What it is instead: `directory`, `fifo`, `socket`, `block device`,
        /// `character device` or `special file`.
        kind: &'static str,
    },
    /// A [`FollowConfig`](crate::FollowConfig) value out of range.
    #[error("invalid follow config: {field} {reason}")]
    InvalidConfig {
        /// The config field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}
