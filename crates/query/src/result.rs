//! What a query returns: the engine's own result types (the server converts them to
//! Loki's JSON).

use std::time::Duration;

use kelp_model::{LabelPair, Labels, Timestamp};

/// A query's result and statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResponse {
    /// The result.
    pub result: QueryResult,
    /// What it cost.
    pub stats: QueryStats,
}

/// The four result types of Loki.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryResult {
    /// A log query's streams (`resultType: streams`).
    Streams(Vec<StreamResult>),
    /// A metric range query's series (`resultType: matrix`).
    Matrix(Vec<Series>),
    /// A metric instant query's samples (`resultType: vector`).
    Vector(Vec<Sample>),
    /// A scalar (`resultType: scalar`): a literal query such as `1 + 1`.
    Scalar(Timestamp, f64),
}

/// One output stream of a log query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamResult {
    /// The complete output label set: stream labels, structured metadata and labels added
    /// by the pipeline, less dropped ones.
    pub labels: Labels,
    /// The entries, in query direction.
    pub entries: Vec<LogEntry>,
}

/// One log line in a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The entry's time.
    pub timestamp: Timestamp,
    /// The line, after `line_format` and the like (invalid UTF-8 replaced).
    pub line: String,
    /// The entry's structured metadata still present after the pipeline.
    pub metadata: Vec<LabelPair>,
    /// Labels the pipeline added (parsers, `label_format`), sorted by name. With Loki's
    /// `categorize-labels`, `labels` minus `metadata` minus `parsed` is the stream.
    pub parsed: Vec<LabelPair>,
}

/// One series of a range query.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its labels.
    pub labels: Labels,
    /// `(t_k, value)` at the evaluation times where it has a value, oldest first.
    pub points: Vec<(Timestamp, f64)>,
}

/// One sample of an instant query.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Its labels.
    pub labels: Labels,
    /// The evaluation time.
    pub timestamp: Timestamp,
    /// The value.
    pub value: f64,
}

/// What a query read and how long it took (for Loki's `stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueryStats {
    /// Bytes of lines read from the store (after pushed-down filters).
    pub bytes_processed: u64,
    /// Lines read from the store (after pushed-down filters).
    pub lines_processed: u64,
    /// Blocks and head chunks overlapping the query.
    pub chunks_total: u64,
    /// Blocks and head chunks decoded.
    pub chunks_read: u64,
    /// Streams the selectors matched.
    pub streams: u64,
    /// Entries or samples returned.
    pub entries_returned: u64,
    /// Wall-clock execution time.
    pub exec_time: Duration,
}

impl QueryStats {
    /// Adds a store scan's statistics.
    pub(crate) fn add_scan(&mut self, s: &kelp_store::ScanStats) {
        self.chunks_total += s.blocks as u64;
        self.chunks_read += s.blocks_read as u64;
        self.streams += s.streams as u64;
    }
}
