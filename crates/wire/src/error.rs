//! The crate's one error type.

/// Why a body could not be decoded (or, rarely, encoded).
///
/// Every variant but [`WireError::TooLarge`] is the client's fault and maps to HTTP 400;
/// `TooLarge` maps to 413. The server does that mapping, in one place; messages read like
/// Loki's, lowercase and without a trailing period.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The `Content-Type` header is missing, empty or not a media type (Go's
    /// `mime.ParseMediaType` messages).
    #[error("{reason}")]
    ContentType {
        /// Go's message, such as `mime: no media type`.
        reason: &'static str,
    },
    /// A `Content-Encoding` this endpoint does not accept.
    #[error("Content-Encoding {encoding:?} not supported")]
    UnsupportedEncoding {
        /// The header value.
        encoding: String,
    },
    /// A compressed body that does not decompress.
    #[error("{codec} decompression failed: {reason}")]
    Decompress {
        /// `gzip`, `deflate`, `snappy` or `zstd`.
        codec: &'static str,
        /// The codec's message.
        reason: String,
    },
    /// A body larger than the configured limit, before or after decompression.
    #[error("request body too large: {what} exceeds the limit of {limit} bytes")]
    TooLarge {
        /// What was measured, for example `decompressed gzip body`.
        what: &'static str,
        /// The limit in bytes.
        limit: usize,
    },
    /// A JSON body that is not valid JSON or not of the expected shape.
    #[error("{context}: {reason}")]
    Json {
        /// Where: `stream 2, entry 5`, `body`, `line 7`.
        context: String,
        /// What is wrong.
        reason: String,
    },
    /// A protobuf body that does not decode.
    #[error("{message}: {reason}")]
    Protobuf {
        /// Which message: `logproto.PushRequest`, `ExportLogsServiceRequest`.
        message: &'static str,
        /// prost's message.
        reason: String,
    },
    /// A stream label set in text form (`{a="b"}`) that does not parse.
    #[error("stream {stream}: invalid label set {input:?} at byte {offset}: {reason}")]
    LabelText {
        /// The stream's index in the request.
        stream: usize,
        /// The text, cut to 64 bytes.
        input: String,
        /// Byte offset of the problem.
        offset: usize,
        /// What was expected there.
        reason: &'static str,
    },
    /// A stream whose labels break a rule of the data model (bad name, duplicate).
    #[error("stream {stream}: {source}")]
    Labels {
        /// The stream's index in the request.
        stream: usize,
        /// The model's reason.
        source: kelp_model::ModelError,
    },
    /// A stream without labels (Loki's exact message).
    #[error("error at least one label pair is required per stream")]
    MissingLabels {
        /// The stream's index in the request.
        stream: usize,
    },
    /// An Elasticsearch `_bulk` body that cannot be processed as a whole.
    #[error("{reason}")]
    Bulk {
        /// The 1-based line number.
        line: usize,
        /// Elasticsearch's wording, such as `Malformed action/metadata line [3], ...`.
        reason: String,
    },
}

impl WireError {
    /// Whether this error means "body too large" (HTTP 413) rather than a bad request (400).
    pub fn is_too_large(&self) -> bool {
        matches!(self, WireError::TooLarge { .. })
    }

    pub(crate) fn json(context: impl Into<String>, reason: impl Into<String>) -> Self {
        WireError::Json {
            context: context.into(),
            reason: reason.into(),
        }
    }
}

/// Cuts input for an error message so a huge bad value cannot flood a log.
pub(crate) fn excerpt(input: &[u8]) -> String {
    const MAX: usize = 64;
    let cut = &input[..input.len().min(MAX)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if input.len() > MAX {
        s.push('…');
    }
    s
}
