//! Docker's json-file log format: one JSON object per line (spec §1.6).
//!
//! ```text
//! {"log":"hello\n","stream":"stdout","time":"2024-06-01T12:00:00.123456789Z","attrs":{"tag":"x"}}
//! ```
//!
//! [`parse`] is a hand-written scanner: keys in any order, whitespace anywhere JSON allows
//! it, unknown keys skipped (after validation), the last of duplicate keys wins (as in
//! Go). The `log` string is borrowed from the line when it has no escapes, decoded into
//! an owned buffer otherwise. A `log` ending in `\n` is a full line (the `\n` is
//! stripped); without it, it is a piece of a line docker cut at 16 KiB, to be joined with
//! [`crate::join`] like a CRI `P` record (see [`DockerRecord::as_cri`]).
//!
//! Decoding follows Go's `encoding/json`, which the kubelet uses, with two deliberate
//! differences, both lenient: bytes that are not UTF-8 are kept as they are (Go replaces
//! them with U+FFFD), and raw control characters inside strings are accepted. Key names
//! match exactly (Go also matches them case-insensitively; docker writes them lowercase).
//!
//! ```
//! use kelp_k8s::{docker, Stream};
//!
//! let line = br#"{"log":"caf\u00e9 \"ok\"\n","stream":"stderr","attrs":{"tag":"web"},"time":"2024-06-01T12:00:00.5Z"}"#;
//! let rec = docker::parse(line).unwrap();
//! assert_eq!(rec.log.as_ref(), "café \"ok\"".as_bytes());
//! assert!(!rec.partial);
//! assert_eq!(rec.stream, Stream::Stderr);
//! assert_eq!(rec.timestamp.to_rfc3339_nano(), "2024-06-01T12:00:00.5Z");
//! assert_eq!(rec.attrs.get("tag").as_deref(), Some("web"));
//! ```

mod json;

use std::borrow::Cow;

use kelp_model::{ModelError, Timestamp};

use crate::cri::CriRecord;
use crate::error::{DockerReason, K8sError};
use crate::Stream;
use json::{Fail, RawStr, Scanner};

/// One decoded json-file line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerRecord<'a> {
    /// The `time` field, UTC.
    pub timestamp: Timestamp,
    /// The `stream` field.
    pub stream: Stream,
    /// `true` when `log` does not end in `\n`: docker cut the line and the next record of
    /// the same stream continues it.
    pub partial: bool,
    /// The `log` field, decoded, without the trailing `\n` of a full line. Borrowed from
    /// the line when the JSON string has no escapes. Empty when `log` is absent (docker
    /// leaves out an empty `log`).
    pub log: Cow<'a, [u8]>,
    /// The `attrs` field (docker's `--log-opt labels/env/tag`), empty when absent.
    pub attrs: Attrs<'a>,
}

impl DockerRecord<'_> {
    /// This record as a CRI record, e.g. to feed a [`crate::join::Joiner`].
    pub fn as_cri(&self) -> CriRecord<'_> {
        CriRecord {
            timestamp: self.timestamp,
            stream: self.stream,
            partial: self.partial,
            content: &self.log,
        }
    }
}

/// The `attrs` object of a record, kept as its validated JSON text and decoded on demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Attrs<'a> {
    /// The object's text, `{` to `}`; empty when there is no `attrs`.
    raw: &'a [u8],
}

impl<'a> Attrs<'a> {
    /// The object's JSON text as it appears in the line (empty when absent).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Whether there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.raw_pairs().next().is_none()
    }

    /// The pairs in the order written (duplicates included). Keys and values are decoded;
    /// bytes that are not UTF-8 become U+FFFD.
    pub fn iter(&self) -> impl Iterator<Item = (Cow<'a, str>, Cow<'a, str>)> + 'a {
        self.raw_pairs()
            .map(|(k, v)| (to_str(k.decode()), to_str(v.decode())))
    }

    /// The value of `key` (the last one, if it is repeated, as Go's map keeps). Keys are
    /// compared decoded, byte for byte, so a key holding bytes that are not UTF-8 cannot
    /// be looked up (docker never writes one; [`Self::iter`] shows it with U+FFFD).
    pub fn get(&self, key: &str) -> Option<Cow<'a, str>> {
        self.raw_pairs()
            .filter(|(k, _)| k.equals(key.as_bytes()))
            .last()
            .map(|(_, v)| to_str(v.decode()))
    }

    fn raw_pairs(&self) -> impl Iterator<Item = (RawStr<'a>, RawStr<'a>)> + 'a {
        // The text was validated by `parse`, so the scan cannot fail; if it somehow did,
        // the iteration just ends.
        let mut sc = Scanner::new(self.raw);
        let mut started = false;
        std::iter::from_fn(move || {
            if !started {
                started = true;
                sc.ws();
                if !sc.eat(b'{') {
                    return None;
                }
            } else if !sc.eat(b',') {
                return None;
            }
            sc.ws();
            let key = sc.key().ok()?;
            if sc.peek() != Some(b'"') {
                return None;
            }
            let value = sc.string().ok()?;
            sc.ws();
            Some((key, value))
        })
    }
}

fn to_str(b: Cow<'_, [u8]>) -> Cow<'_, str> {
    match b {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(v) => match String::from_utf8(v) {
            Ok(s) => Cow::Owned(s),
            Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
        },
    }
}

/// Parses one json-file line (a trailing LF, or any JSON whitespace, is accepted).
///
/// # Errors
///
/// [`K8sError::DockerJson`] with the byte offset of the problem: malformed JSON, a known
/// field of the wrong type (`log`, `stream`, `time` must be strings, `attrs` an object of
/// strings), a missing `stream` or `time`, a stream other than `stdout`/`stderr`, a `time`
/// that is not RFC 3339.
pub fn parse(line: &[u8]) -> Result<DockerRecord<'_>, K8sError> {
    parse_fields(line).map_err(|(offset, reason)| K8sError::DockerJson { offset, reason })
}

fn parse_fields(line: &[u8]) -> Result<DockerRecord<'_>, Fail> {
    let mut sc = Scanner::new(line);
    sc.ws();
    sc.expect(b'{', DockerReason::ExpectedObject)?;
    sc.ws();
    let mut log = None;
    let mut stream = None;
    let mut time = None;
    let mut attrs = None;
    if !sc.eat(b'}') {
        loop {
            let key = sc.key()?;
            let at = sc.i;
            // As in Go, `null` leaves a string field as it was and empties a map.
            if key.equals(b"log") {
                log = sc.string_or_null("log")?.or(log);
            } else if key.equals(b"stream") {
                stream = sc.string_or_null("stream")?.map(|s| (at, s)).or(stream);
            } else if key.equals(b"time") {
                time = sc.string_or_null("time")?.map(|s| (at, s)).or(time);
            } else if key.equals(b"attrs") {
                attrs = sc.string_map_or_null("attrs")?;
            } else {
                sc.skip_value()?;
            }
            sc.ws();
            if sc.eat(b'}') {
                break;
            }
            sc.expect(b',', DockerReason::ExpectedCommaOrClose)?;
            sc.ws();
        }
    }
    sc.ws();
    if !sc.at_end() {
        return Err((sc.i, DockerReason::TrailingBytes));
    }

    let end = line.len();
    let (at, stream) = stream.ok_or((end, DockerReason::MissingField("stream")))?;
    let stream = Stream::from_bytes(&stream.decode()).ok_or((at, DockerReason::InvalidStream))?;
    let (at, time) = time.ok_or((end, DockerReason::MissingField("time")))?;
    let timestamp = parse_time(at, time)?;
    let (log, partial) = log.map_or((Cow::Borrowed(&[][..]), true), split_log);
    Ok(DockerRecord {
        timestamp,
        stream,
        partial,
        log,
        attrs: Attrs {
            raw: attrs.unwrap_or_default(),
        },
    })
}

/// The decoded `log` without its final `\n`, and whether it lacked one (partial).
/// Borrowed when the only escape is that final `\n`, as in nearly every docker line.
fn split_log(log: RawStr<'_>) -> (Cow<'_, [u8]>, bool) {
    let n = log.raw.len();
    if log.first_escape == Some(n.wrapping_sub(2)) && log.raw.ends_with(b"\\n") {
        return (Cow::Borrowed(&log.raw[..n - 2]), false);
    }
    let mut log = log.decode();
    let partial = log.last() != Some(&b'\n');
    if !partial {
        match &mut log {
            Cow::Borrowed(b) => {
                let full = *b;
                // `full` ends in `\n`, so it is not empty.
                *b = &full[..full.len() - 1];
            }
            Cow::Owned(v) => {
                v.pop();
            }
        }
    }
    (log, partial)
}

/// Parses the `time` string found at byte `at` (its opening quote).
fn parse_time(at: usize, time: RawStr<'_>) -> Result<Timestamp, Fail> {
    Timestamp::parse_rfc3339(&time.decode()).map_err(|e| match e {
        // Offsets inside an escaped string do not map to the line; point at its start.
        ModelError::InvalidTimestamp { offset, reason, .. } => {
            let offset = if time.escaped() { at } else { at + 1 + offset };
            (offset, DockerReason::InvalidTime(reason))
        }
        _ => (at, DockerReason::InvalidTime("not an RFC 3339 timestamp")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_log_is_borrowed_escaped_log_is_owned() {
        // The usual docker line: the only escape is the final `\n`.
        let r =
            parse(br#"{"log":"a b\n","stream":"stdout","time":"2024-06-01T12:00:00Z"}"#).unwrap();
        assert!(matches!(r.log, Cow::Borrowed(b"a b")));
        assert!(!r.partial);
        let r = parse(br#"{"log":"a b","stream":"stdout","time":"2024-06-01T12:00:00Z"}"#).unwrap();
        assert!(matches!(r.log, Cow::Borrowed(b"a b")));
        assert!(r.partial);
        // An escaped backslash before `n` is not a newline.
        let r =
            parse(br#"{"log":"a\\n","stream":"stdout","time":"2024-06-01T12:00:00Z"}"#).unwrap();
        assert_eq!(r.log.as_ref(), b"a\\n");
        assert!(r.partial);
        let r =
            parse(br#"{"log":"a\tb\n","stream":"stdout","time":"2024-06-01T12:00:00Z"}"#).unwrap();
        assert!(matches!(r.log, Cow::Owned(_)));
        assert_eq!(r.log.as_ref(), b"a\tb");
    }

    #[test]
    fn attrs_iterate_in_order_and_get_takes_the_last() {
        let r = parse(
            br#"{"attrs":{"a":"1","b\u0031":"x\"y","a":"2"},"stream":"stdout","time":"2024-06-01T12:00:00Z"}"#,
        )
        .unwrap();
        let pairs: Vec<(String, String)> = r
            .attrs
            .iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        assert_eq!(
            pairs,
            [("a", "1"), ("b1", "x\"y"), ("a", "2")].map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
        assert_eq!(r.attrs.get("a").as_deref(), Some("2"));
        assert_eq!(r.attrs.get("b1").as_deref(), Some("x\"y"));
        assert_eq!(r.attrs.get("c"), None);
        assert!(!r.attrs.is_empty());
        let r = parse(br#"{"attrs":{},"stream":"stdout","time":"2024-06-01T12:00:00Z"}"#).unwrap();
        assert!(r.attrs.is_empty());
        assert_eq!(r.attrs.raw(), b"{}");
    }
}
