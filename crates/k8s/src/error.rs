//! The crate's one error type.
//!
//! Every error carries the byte offset of the problem in the input it was given, and a typed
//! reason. Errors are `Copy` and never allocate: an agent may meet many bad lines and
//! must be able to count and skip them cheaply.

/// Why a CRI record, docker json-file line or log path could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum K8sError {
    /// A CRI log record the kubelet would reject.
    #[error("invalid cri record at byte {offset}: {reason}")]
    Cri {
        /// Byte offset of the problem in the record.
        offset: usize,
        /// What is wrong.
        reason: CriReason,
    },
    /// A docker json-file line that could not be decoded.
    #[error("invalid docker json-file line at byte {offset}: {reason}")]
    DockerJson {
        /// Byte offset of the problem in the line.
        offset: usize,
        /// What is wrong.
        reason: DockerReason,
    },
    /// A path that is not a pod log file (`<pod dir>/<container>/<n>.log[.<stamp>[.gz]]`).
    #[error("not a pod log path (byte {offset}): {reason}")]
    PodLogPath {
        /// Byte offset of the problem in the path.
        offset: usize,
        /// What is wrong.
        reason: PathReason,
    },
    /// A name that is not a `/var/log/containers` symlink name.
    #[error("not a container log symlink (byte {offset}): {reason}")]
    ContainerLogLink {
        /// Byte offset of the problem in the path.
        offset: usize,
        /// What is wrong.
        reason: PathReason,
    },
}

impl K8sError {
    /// The byte offset of the problem in the input.
    pub fn offset(&self) -> usize {
        match *self {
            K8sError::Cri { offset, .. }
            | K8sError::DockerJson { offset, .. }
            | K8sError::PodLogPath { offset, .. }
            | K8sError::ContainerLogLink { offset, .. } => offset,
        }
    }
}

/// Why the kubelet rejects a CRI record (`cri-client pkg/logs`), checked in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CriReason {
    /// No space at all: "timestamp is not found".
    #[error("timestamp is not found")]
    MissingTimestamp,
    /// The text before the first space is not an RFC 3339 timestamp.
    #[error("invalid timestamp: {0}")]
    InvalidTimestamp(&'static str),
    /// No second space: "stream type is not found".
    #[error("stream type is not found")]
    MissingStream,
    /// The stream is neither `stdout` nor `stderr`.
    #[error("unexpected stream type")]
    InvalidStream,
    /// No third space after the tags: "log tag is not found" (`<ts> stdout F`).
    #[error("log tag is not found")]
    MissingTag,
}

/// Why a docker json-file line could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DockerReason {
    /// The line does not start with `{`.
    #[error("expected a json object")]
    ExpectedObject,
    /// The line ends inside the object.
    #[error("unexpected end of line")]
    UnexpectedEnd,
    /// An object key is not a string.
    #[error("expected a string key")]
    ExpectedKey,
    /// A key is not followed by `:`.
    #[error("expected ':' after the key")]
    ExpectedColon,
    /// A member is not followed by `,` or the closing bracket.
    #[error("expected ',' or a closing bracket")]
    ExpectedCommaOrClose,
    /// No json value starts here.
    #[error("expected a json value")]
    ExpectedValue,
    /// A malformed number.
    #[error("invalid number")]
    InvalidNumber,
    /// A string without its closing quote.
    #[error("unterminated string")]
    UnterminatedString,
    /// A backslash escape json does not define.
    #[error("invalid escape sequence")]
    InvalidEscape,
    /// Arrays and objects nested deeper than the scanner allows.
    #[error("nesting too deep")]
    TooDeep,
    /// Bytes after the closing `}`.
    #[error("unexpected bytes after the object")]
    TrailingBytes,
    /// A known field with a value of the wrong json type (docker writes strings only).
    #[error("field {field:?} must be a {expected}")]
    WrongType {
        /// The field name.
        field: &'static str,
        /// The json type it must have.
        expected: &'static str,
    },
    /// A required field is absent (or `null`).
    #[error("missing field {0:?}")]
    MissingField(&'static str),
    /// `stream` is neither `stdout` nor `stderr`.
    #[error("unexpected stream type")]
    InvalidStream,
    /// `time` is not an RFC 3339 timestamp.
    #[error("invalid time: {0}")]
    InvalidTime(&'static str),
}

/// Why a path or file name is not one the kubelet writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathReason {
    /// The path is not valid UTF-8 (kubelet names are ASCII).
    #[error("not valid utf-8")]
    NotUtf8,
    /// The path does not start with the given directory.
    #[error("not under the given directory")]
    NotUnderDir,
    /// Not exactly `<pod dir>/<container>/<file>` below the pods directory.
    #[error("expected <namespace>_<pod>_<uid>/<container>/<file>, found {found} path components")]
    Depth {
        /// How many components were found.
        found: usize,
    },
    /// An empty path component (`//`).
    #[error("empty path component")]
    EmptyComponent,
    /// The pod directory or symlink name does not split on `_` into exactly three fields.
    #[error("expected 3 '_'-separated fields, found {found}")]
    Fields {
        /// How many fields were found.
        found: usize,
    },
    /// A namespace, pod or container name that is not a valid DNS name.
    #[error("invalid {field} name: {rule}")]
    InvalidName {
        /// `namespace`, `pod` or `container`.
        field: &'static str,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// The pod UID (last field of the pod directory) is empty.
    #[error("empty pod uid")]
    EmptyUid,
    /// The file name has no `.log` after the restart count.
    #[error("not a <restart>.log file")]
    NotALogFile,
    /// The restart count is not a canonical decimal `u32`.
    #[error("invalid restart count: {0}")]
    InvalidRestart(&'static str),
    /// A `.tmp` file left by an interrupted rotation: never read it.
    #[error("temporary file of an interrupted rotation")]
    RotationTemp,
    /// The rotation suffix is not a valid `YYYYMMDD-HHMMSS` stamp.
    #[error("invalid rotation stamp: {0}")]
    InvalidStamp(&'static str),
    /// Something other than `.<stamp>` or `.<stamp>.gz` after `.log`.
    #[error("unknown suffix after .log")]
    UnknownSuffix,
    /// A name longer than the kubelet writes.
    #[error("longer than {max} bytes")]
    TooLong {
        /// The longest the kubelet writes.
        max: usize,
    },
    /// A symlink name without `.log` at the end.
    #[error("symlink name does not end in .log")]
    MissingLogExtension,
    /// A symlink name without `-` between container name and id.
    #[error("missing '-<container id>'")]
    MissingContainerId,
    /// The container id is not lowercase hex of at most 64 digits.
    #[error("invalid container id: {0}")]
    InvalidContainerId(&'static str),
}
