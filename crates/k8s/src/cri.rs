//! The CRI container log format: `<RFC3339 time> <stdout|stderr> <tags> <content>\n`.
//!
//! One record is one physical line of a container log file. [`parse`] decodes a record the
//! way the kubelet does (`cri-client pkg/logs`), borrowing the content from the input;
//! [`format()`] writes one the way containerd does; [`split_containerd`] cuts a logical line
//! into record contents as containerd does. Joining `P` records back into logical lines is
//! [`crate::join`]'s job.
//!
//! ```
//! use kelp_k8s::{cri, Stream};
//!
//! let rec = cri::parse(b"2024-06-01T12:00:00.5Z stderr P:x warning: disk 91% full").unwrap();
//! assert_eq!(rec.stream, Stream::Stderr);
//! assert!(rec.partial); // only the first tag counts
//! assert_eq!(rec.content, b"warning: disk 91% full");
//! assert_eq!(rec.timestamp.to_rfc3339_nano(), "2024-06-01T12:00:00.5Z");
//!
//! let err = cri::parse(b"2024-06-01T12:00:00.5Z stdout F").unwrap_err();
//! assert_eq!(err.to_string(), "invalid cri record at byte 31: log tag is not found");
//! ```

use kelp_model::{ModelError, Timestamp};
use memchr::memchr;

use crate::error::{CriReason, K8sError};
use crate::Stream;

/// containerd's default `max_container_log_line_size`: longer lines are split into `P`
/// records of exactly this many content bytes.
pub const CONTAINERD_MAX_LINE: usize = 16 * 1024;

/// Appends one CRI record (with its trailing LF) to `out`, the way containerd writes it:
/// timestamp in trimmed RFC3339Nano UTC, `P` when `partial`, else `F`.
pub fn format(out: &mut Vec<u8>, ts: Timestamp, stream: Stream, partial: bool, content: &[u8]) {
    ts.write_rfc3339_nano(out);
    out.push(b' ');
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(if partial { b" P " } else { b" F " });
    out.extend_from_slice(content);
    out.push(b'\n');
}

/// Splits a logical line (without its LF) into record contents as containerd does with a
/// maximum line size `max` (> 0): pieces of exactly `max` bytes marked partial, then the
/// remainder marked full (an empty line gives one empty full record).
///
/// containerd emits a `P` when the buffer *exceeds* `max`, so a line of exactly `max` bytes
/// is one `F` record, and a line of `2 * max` bytes is `P` (`max`) then `F` (`max`).
/// Splits ignore UTF-8 boundaries. A trailing `\r` (from `\r\n`) must be stripped by the
/// caller, as containerd strips it before splitting the final piece.
pub fn split_containerd(line: &[u8], max: usize) -> impl Iterator<Item = (&[u8], bool)> {
    let max = max.max(1);
    let mut rest = Some(line);
    std::iter::from_fn(move || {
        let r = rest?;
        if r.len() > max {
            let (head, tail) = r.split_at(max);
            rest = Some(tail);
            Some((head, true))
        } else {
            rest = None;
            Some((r, false))
        }
    })
}

/// One decoded CRI record. `content` borrows from the parsed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CriRecord<'a> {
    /// When the runtime wrote the record, normalised to UTC.
    pub timestamp: Timestamp,
    /// The stream the bytes came from.
    pub stream: Stream,
    /// `true` when the first tag is `P`: the logical line continues in the next record of
    /// the same stream. Any other first tag (`F`, or one a future runtime invents) is full.
    pub partial: bool,
    /// Everything after the third space: raw bytes, possibly empty, possibly not UTF-8,
    /// never containing LF. For a full record the logical line's LF is not included.
    pub content: &'a [u8],
}

/// Parses one CRI record as the kubelet does, without allocating.
///
/// `line` is one record without its LF; a single trailing LF is also accepted and
/// ignored, so a line cut out *with* its terminator parses the same. Nothing else is
/// stripped: a CR before the LF (conmon writes TTY output that way) stays in the content.
/// The content is not scanned, so the caller must split records at LF first.
///
/// The fields are found as the kubelet finds them: the first space ends the timestamp
/// (RFC 3339 with any number of fraction digits, those past the ninth dropped, and `Z` or
/// `±hh:mm`), the second the stream (`stdout` or `stderr`), the third the tags (split on
/// `:`; a first tag `P` means partial). The content is everything after the third space
/// and may contain spaces. An empty tag field (`<ts> stdout  x`) counts as full, as it
/// does for the kubelet.
///
/// # Errors
///
/// [`K8sError::Cri`] with the byte offset of the problem and the kubelet's reason, checked
/// in the kubelet's order: no space ([`CriReason::MissingTimestamp`]), a bad timestamp
/// ([`CriReason::InvalidTimestamp`]), no second space ([`CriReason::MissingStream`]), a
/// bad stream ([`CriReason::InvalidStream`]), no third space ([`CriReason::MissingTag`],
/// e.g. `<ts> stdout F` with nothing after the tag).
pub fn parse(line: &[u8]) -> Result<CriRecord<'_>, K8sError> {
    let line = match line {
        [rest @ .., b'\n'] => rest,
        _ => line,
    };
    let fail = |offset, reason| K8sError::Cri { offset, reason };
    let ts_end = memchr(b' ', line).ok_or(fail(line.len(), CriReason::MissingTimestamp))?;
    let timestamp = Timestamp::parse_rfc3339(&line[..ts_end]).map_err(|e| match e {
        ModelError::InvalidTimestamp { offset, reason, .. } => {
            fail(offset, CriReason::InvalidTimestamp(reason))
        }
        _ => fail(0, CriReason::InvalidTimestamp("not an RFC 3339 timestamp")),
    })?;
    let at = ts_end + 1;
    // The stream field, fast path first: the two valid values with their space.
    let (stream, at) = match line.get(at..at + 7) {
        Some(b"stdout ") => (Stream::Stdout, at + 7),
        Some(b"stderr ") => (Stream::Stderr, at + 7),
        _ => {
            let end =
                memchr(b' ', &line[at..]).ok_or(fail(line.len(), CriReason::MissingStream))?;
            // The fast path took both valid values, so this one is invalid; `from_bytes`
            // keeps the code honest should that change.
            let stream = Stream::from_bytes(&line[at..at + end])
                .ok_or(fail(at, CriReason::InvalidStream))?;
            (stream, at + end + 1)
        }
    };
    // The tag field, fast path first: a one-byte tag followed by a space.
    let rest = &line[at..];
    let tag_len = match rest {
        [t, b' ', ..] if *t != b' ' => 1,
        _ => memchr(b' ', rest).ok_or(fail(line.len(), CriReason::MissingTag))?,
    };
    let tags = &rest[..tag_len];
    let first_tag = match memchr(b':', tags) {
        Some(i) => &tags[..i],
        None => tags,
    };
    Ok(CriRecord {
        timestamp,
        stream,
        partial: first_tag == b"P",
        content: &rest[tag_len + 1..],
    })
}

impl CriRecord<'_> {
    /// Appends this record, with its LF, as containerd writes it (see [`format()`]).
    pub fn write(&self, out: &mut Vec<u8>) {
        format(out, self.timestamp, self.stream, self.partial, self.content);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_and_slow_paths_agree_on_odd_spacing() {
        // An empty tag field: the third space follows the second directly.
        let r = parse(b"2024-06-01T12:00:00Z stdout  x").unwrap();
        assert!(!r.partial);
        assert_eq!(r.content, b"x");
        // Two spaces after the empty tag: the content starts with a space.
        let r = parse(b"2024-06-01T12:00:00Z stdout   x").unwrap();
        assert_eq!(r.content, b" x");
        // A longer tag list.
        let r = parse(b"2024-06-01T12:00:00Z stdout PX x").unwrap();
        assert!(!r.partial, "first tag is PX, not P");
    }

    #[test]
    fn write_round_trips() {
        let r = parse(b"2024-06-01T12:00:00.5Z stdout P abc").unwrap();
        let mut out = Vec::new();
        r.write(&mut out);
        assert_eq!(out, b"2024-06-01T12:00:00.5Z stdout P abc\n");
    }
}
