//! The crate's one error type.

use std::path::PathBuf;

use kelp_model::{ModelError, TenantId};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An operating-system I/O error, with what was being done and to which file.
    #[error("{op} {path}: {source}")]
    Io {
        /// What the store was doing (`"open"`, `"write"`, `"fsync"`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A bucket operation failed after the bucket client's retries (the bucket is down,
    /// refuses the credentials, or an object is missing).
    #[error("bucket {op} {key}: {source}")]
    Bucket {
        /// What the store was doing (`"upload"`, `"read"`, `"delete"`, `"list"`).
        op: &'static str,
        /// The object, with the bucket's location (`s3://logs/kelp/replicas/...`).
        key: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Stored bytes that fail a checksum or do not parse.
    #[error("corrupt data in {path} at offset {offset}: {reason}")]
    Corruption {
        /// The file.
        path: PathBuf,
        /// Byte offset of the bad structure in the file.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A file written by a format version this build cannot read.
    #[error("{path}: unsupported format version {version} (this build reads {supported})")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version the file declares.
        version: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// A stream's labels are not valid.
    #[error("invalid labels: {0}")]
    InvalidLabels(#[from] ModelError),
    /// A per-tenant limit refused the push.
    #[error("tenant {tenant}: {limit} limit of {max} exceeded ({detail})")]
    Limit {
        /// The tenant.
        tenant: TenantId,
        /// Which limit (`"streams"`, `"label names per series"`, ...).
        limit: &'static str,
        /// The configured maximum.
        max: u64,
        /// What exceeded it.
        detail: String,
    },
    /// The head is over its memory cap and no flush freed room for `append_wait`: flushes
    /// are failing or the disk cannot keep up. (While flushes complete, appends only wait.)
    #[error("head memory cap of {cap} bytes reached, waited {waited_ms} ms for room: {reason}")]
    HeadFull {
        /// The configured cap.
        cap: u64,
        /// How long the append waited.
        waited_ms: u64,
        /// Why no room was made: the flush error, or how long the running flush has taken.
        reason: String,
    },
    /// An earlier write or fsync of the write-ahead log failed; this append was not made
    /// durable and must be retried.
    #[error("write-ahead log {path}: {reason}")]
    WalFailed {
        /// The WAL file.
        path: PathBuf,
        /// The error that failed the write.
        reason: String,
    },
    /// A query argument the store cannot use (a bad regex, a zero step, ...).
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    /// The store is shutting down.
    #[error("the store is closed")]
    Closed,
    /// A write asked of a read-only view of another replica's bucket data
    /// ([`crate::Store::open_replica`]).
    #[error("replica {replica} is open read-only: {op} refused")]
    ReadOnly {
        /// The replica whose data the view reads.
        replica: String,
        /// What was refused (`append`, `compaction`, `retention`).
        op: &'static str,
    },
    /// The caller's stop check ([`crate::Stop`]) asked a scan or count to stop (the
    /// query was cancelled or ran out of time); the caller knows why.
    #[error("the read was stopped by its caller")]
    Interrupted,
    /// A setting is out of its range ([`crate::StoreSettings::validate`]).
    #[error("store setting {field}: {reason}")]
    Config {
        /// The setting, as named in the configuration file (`limits.max_line_bytes`).
        field: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
}

/// The crate's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// Whether this is a bucket object that is missing or shorter than the manifest says
    /// (damage, unlike a bucket that cannot be reached).
    pub(crate) fn is_missing_object(&self) -> bool {
        matches!(self, Self::Bucket { source, .. }
            if matches!(source.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::UnexpectedEof))
    }

    /// An I/O error with context.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// A corruption error with context.
    pub(crate) fn corrupt(
        path: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        Self::Corruption {
            path: path.into(),
            offset,
            reason: reason.into(),
        }
    }
}
