//! The crate's one error type.

use std::path::PathBuf;

/// Why a simulation could not start, or stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A configuration value out of range.
    #[error("invalid configuration: {field}: {reason}")]
    Config {
        /// The field (or command-line option) at fault.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The root already holds a pod log tree, which the simulator would mix with its own.
    #[error("{path} is not empty: point the simulator at a fresh root")]
    RootNotEmpty {
        /// The non-empty directory.
        path: PathBuf,
    },
    /// A corpus directory with no usable line.
    #[error("corpus {path}: {reason}")]
    Corpus {
        /// The corpus directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`create`, `rename`, `gzip`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A file of a simulated tree that does not read back as the simulator writes it
    /// (reported by [`crate::verify`]).
    #[error("{path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line or offset when known.
        reason: String,
    },
    /// A simulator thread panicked (a bug).
    #[error("the {thread} thread panicked")]
    Panicked {
        /// `runtime` or `kubelet`.
        thread: &'static str,
    },
}

impl SimError {
    /// Wraps an I/O error with what was being done and to which path.
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| SimError::Io { op, path, source }
    }
}
