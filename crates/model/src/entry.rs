//! One log entry.

use bytes::Bytes;

use crate::{LabelPair, Labels, Timestamp};

/// One log line as Kelp stores it.
///
/// The line is raw bytes: container output is not necessarily UTF-8, and Kelp keeps it as
/// written. Structured metadata (Loki's name for per-entry labels that do not identify a
/// stream, such as `pod_uid`) travels with the entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// When the line was written.
    pub timestamp: Timestamp,
    /// The line, without its trailing newline.
    pub line: Bytes,
    /// Per-entry name/value pairs, in the order given.
    pub metadata: Vec<LabelPair>,
}

impl Entry {
    /// An entry without structured metadata.
    pub fn new(timestamp: Timestamp, line: impl Into<Bytes>) -> Self {
        Self {
            timestamp,
            line: line.into(),
            metadata: Vec::new(),
        }
    }
}

/// The entries of one stream in a batch: what every ingest path (native, Loki push,
/// Elasticsearch `_bulk`, OTLP) decodes into, and what the store appends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamEntries {
    /// The stream's labels.
    pub labels: Labels,
    /// Its entries, in any order.
    pub entries: Vec<Entry>,
}
