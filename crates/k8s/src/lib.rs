//! # kelp-k8s
//!
//! What a Kubernetes node writes, as code: the CRI log record format ([`cri`]), the
//! names of pod log files and their rotations ([`path`]). Everything works on byte slices,
//! never panics on bad input and never allocates on the parse path.
//!
//! ```
//! use kelp_k8s::{cri, Stream};
//! use kelp_model::Timestamp;
//!
//! let mut out = Vec::new();
//! cri::format(&mut out, Timestamp::from_unix_nanos(1_717_243_200_500_000_000), Stream::Stdout, false, b"hello");
//! assert_eq!(out, b"2024-06-01T12:00:00.5Z stdout F hello\n");
//! ```

pub mod cri;
pub mod path;

/// The output stream of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// The name as CRI and docker write it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// Parses `stdout` or `stderr`.
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        match b {
            b"stdout" => Some(Stream::Stdout),
            b"stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }
}

impl std::fmt::Display for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
