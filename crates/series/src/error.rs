//! The crate's one error type.

use std::path::PathBuf;

/// Why the series store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SeriesError {
    /// A file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`open`, `write`, `fsync`, …).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// A file or record that does not decode although its checksum matched, or a file
    /// with a foreign header.
    #[error("corrupt {path} at byte {offset}: {reason}")]
    Corruption {
        /// The file.
        path: PathBuf,
        /// Where.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A configuration that cannot work.
    #[error("series store config: {0}")]
    Config(String),
}

impl SeriesError {
    pub(crate) fn io<'a>(
        op: &'static str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Self + 'a {
        move |source| SeriesError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}
