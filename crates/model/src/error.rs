//! The crate's one error type.

/// Why a value could not be turned into a model type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A label name that Prometheus and Loki would not accept.
    #[error("invalid label name {name:?}: {reason}")]
    InvalidLabelName {
        /// The offending name.
        name: String,
        /// What rule it breaks.
        reason: &'static str,
    },
    /// The same label name given twice.
    #[error("duplicate label name {name:?}")]
    DuplicateLabelName {
        /// The repeated name.
        name: String,
    },
    /// A tenant id outside Loki's rules.
    #[error("invalid tenant id {id:?}: {reason}")]
    InvalidTenant {
        /// The offending id.
        id: String,
        /// What rule it breaks.
        reason: &'static str,
    },
    /// A timestamp that could not be parsed.
    #[error("invalid timestamp {input:?} at byte {offset}: {reason}")]
    InvalidTimestamp {
        /// The input, lossily decoded and cut to 64 bytes.
        input: String,
        /// Byte offset of the first bad byte.
        offset: usize,
        /// What was expected there.
        reason: &'static str,
    },
    /// A duration that could not be parsed.
    #[error("invalid duration {input:?}: {reason}")]
    InvalidDuration {
        /// The input.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A byte quantity that could not be parsed.
    #[error("invalid byte size {input:?}: {reason}")]
    InvalidByteSize {
        /// The input.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Cuts user input for an error message so a huge bad value cannot flood a log.
pub(crate) fn excerpt(input: &[u8]) -> String {
    const MAX: usize = 64;
    let cut = &input[..input.len().min(MAX)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if input.len() > MAX {
        s.push('…');
    }
    s
}
