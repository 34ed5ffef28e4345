//! The crate's one error type, with messages in Loki's words.

use kelp_store::StoreError;

/// Everything that can make a query fail.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query does not parse or fails validation (Loki's `parse error ...`).
    #[error(transparent)]
    Parse(#[from] kelp_logql::ParseError),
    /// A part of the query that is checked only when it runs (a line-filter regex, a
    /// template, a `json` path) is invalid, or the query cannot run as asked.
    #[error("{0}")]
    Invalid(String),
    /// A log query was sent as an instant query.
    #[error("log queries are not supported as an instant query type, please change your query to a range query type")]
    InstantLogQuery,
    /// A metric query produced samples carrying `__error__`.
    #[error("pipeline error: '{error}' for series: '{series}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"{error}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )\n")]
    Pipeline {
        /// The error type (`JSONParserErr`, `SampleExtractionErr`, ...).
        error: String,
        /// The series' labels, as `{a="b"}`.
        series: String,
    },
    /// More series than [`crate::Limits::max_series`].
    #[error("maximum of series ({max}) reached for a single query")]
    TooManySeries {
        /// The limit.
        max: usize,
    },
    /// A limit on the query's size was exceeded.
    #[error("max entries limit per query exceeded, limit > max_entries_limit ({asked} > {max})")]
    TooManyEntries {
        /// The limit asked for.
        asked: usize,
        /// The configured maximum.
        max: usize,
    },
    /// More samples held in memory than [`crate::Limits::max_samples`].
    #[error(
        "query would hold more than {max} samples in memory; narrow the selector or the time range"
    )]
    TooManySamples {
        /// The limit.
        max: usize,
    },
    /// The time range is longer than [`crate::Limits::max_query_range`].
    #[error("the query time range exceeds the limit (query length: {length}, limit: {limit})")]
    RangeTooLong {
        /// The query's range, as a Go duration.
        length: String,
        /// The limit, as a Go duration.
        limit: String,
    },
    /// Too many steps.
    #[error("exceeded maximum resolution of 11,000 points per timeseries. Try increasing the value of the step parameter")]
    TooManySteps,
    /// The query ran past its deadline.
    #[error("query timed out after {0}")]
    Timeout(String),
    /// The caller cancelled the query.
    #[error("query cancelled")]
    Cancelled,
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl QueryError {
    /// Whether the error is the client's fault (a 400 in HTTP terms) rather than the
    /// server's.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Store(_) | Self::Timeout(_) | Self::Cancelled)
    }
}

/// Shorthand.
pub type Result<T, E = QueryError> = std::result::Result<T, E>;
