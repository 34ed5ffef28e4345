//! # kelp-k8s
//!
//! What a Kubernetes node writes, as code. Everything works on byte slices, borrows from
//! its input, never panics on bad input and never allocates on the hot path.
//!
//! - [`cri`]: the CRI log record (`<time> <stream> <tags> <content>`): [`cri::parse`] as
//!   the kubelet reads it, [`cri::format`] and [`cri::split_containerd`] as containerd
//!   writes it.
//! - [`docker`]: docker's json-file lines (`{"log":…,"stream":…,"time":…}`),
//!   [`docker::parse`].
//! - [`join`]: a [`join::Joiner`] rebuilds logical lines from partial records per
//!   (file, stream), with a size cap and a timeout.
//! - [`path`]: pod log paths and their rotations ([`path::PodLogPath`]), the legacy
//!   `/var/log/containers` symlink names ([`path::ContainerLogLink`]), and builders for
//!   both.
//! - [`K8sError`]: the one error type, with the byte offset of every problem.
//!
//! The behaviour follows the node-logging spec (`kubernetes-node-logging.md` §1–3).
//!
//! ```
//! use kelp_k8s::join::{Joiner, JoinerConfig};
//! use kelp_k8s::path::PodLogPath;
//! use kelp_k8s::{cri, Stream};
//! use kelp_model::Timestamp;
//!
//! let path = PodLogPath::parse("shop_api-0_0f3e9c1a-2b4d-4e5f-8a6b-7c8d9e0f1a2b/api/0.log").unwrap();
//! assert_eq!((path.namespace, path.pod, path.container), ("shop", "api-0", "api"));
//!
//! // A long line containerd cut into two records, and a stderr line in between.
//! let mut file = Vec::new();
//! let t = Timestamp::from_unix_nanos(1_717_243_200_500_000_000);
//! for (content, partial) in cri::split_containerd(b"0123456789", 4) {
//!     cri::format(&mut file, t, Stream::Stdout, partial, content);
//!     if partial {
//!         cri::format(&mut file, t, Stream::Stderr, false, b"oops");
//!     }
//! }
//! assert!(file.starts_with(b"2024-06-01T12:00:00.5Z stdout P 0123\n"));
//!
//! let mut joiner = Joiner::new(JoinerConfig::default());
//! let mut lines = Vec::new();
//! for record in file.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
//!     let record = cri::parse(record).unwrap();
//!     for line in joiner.push(record, Timestamp::now()) {
//!         assert!(line.is_whole());
//!         lines.push(format!("{} {}", line.stream, String::from_utf8_lossy(line.content)));
//!     }
//! }
//! assert_eq!(lines, ["stderr oops", "stderr oops", "stdout 0123456789"]);
//! ```

pub mod cri;
pub mod docker;
mod error;
pub mod join;
pub mod path;

pub use error::{CriReason, DockerReason, K8sError, PathReason};

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
