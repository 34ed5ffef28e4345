//! The crate's one error type.

use std::path::PathBuf;

/// Why a cgroup, `/proc` or pod log file could not be read, or a value could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file was read but its content is not what the kernel writes.
    #[error("bad content in {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A `key value` file (`cpu.stat`, `memory.stat`, `/proc/meminfo`) lacks a key.
    #[error("{path} has no {key:?} field")]
    MissingKey {
        /// The file.
        path: PathBuf,
        /// The key that was expected.
        key: &'static str,
    },
    /// The directory is not the root of a cgroup v2 hierarchy (no `cgroup.controllers`).
    #[error("{path} is not a cgroup v2 hierarchy (no cgroup.controllers)")]
    NotCgroupV2 {
        /// The directory.
        path: PathBuf,
    },
    /// No `kubepods.slice` (systemd driver) nor `kubepods` (cgroupfs driver) under the root.
    #[error("no kubepods.slice or kubepods cgroup under {path}")]
    NoKubepods {
        /// The cgroup root.
        path: PathBuf,
    },
    /// `--sort-by` was given something else than `cpu` or `memory` (kubectl's wording).
    #[error("--sort-by accepts only cpu or memory")]
    SortBy,
}

impl MetricsError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn parse(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Parse {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
