//! The crate's one error type.

use std::io;
use std::path::PathBuf;

/// Why the agent stopped.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A file or directory of the agent's own could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The checkpoint file is unreadable.
    #[error("{}: corrupt: {reason}", path.display())]
    Corrupt {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The server refused a batch for good.
    #[error(transparent)]
    Client(#[from] kelp_client::ClientError),
    /// A sink refused a batch for good.
    #[error("sink: {0}")]
    Sink(String),
    /// A setting is out of range.
    #[error("invalid config: {0}")]
    Config(String),
}
