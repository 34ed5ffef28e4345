//! CRI records: spec §1.1 (grammar, kubelet rejections), §1.2 (timestamps), §1.3 (how
//! containerd splits lines), §1.4 (edge cases).

use kelp_k8s::cri::{self, CriRecord, CONTAINERD_MAX_LINE};
use kelp_k8s::{CriReason, K8sError, Stream};
use kelp_model::Timestamp;
use proptest::prelude::*;

use crate::ts;

const T: &str = "2024-06-01T12:00:00.5Z";

fn rec(line: &[u8]) -> CriRecord<'_> {
    cri::parse(line).unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(line)))
}

/// (record, timestamp, stream, partial, content)
type Row = (&'static [u8], &'static str, Stream, bool, &'static [u8]);

#[test]
fn valid_records_as_each_runtime_writes_them() {
    let table: &[Row] = &[
        // containerd: trimmed fraction, Z.
        (
            b"2024-06-01T12:00:00.5Z stdout F hello",
            T,
            Stream::Stdout,
            false,
            b"hello",
        ),
        (
            b"2024-06-01T12:00:01.123456789Z stderr P part",
            "2024-06-01T12:00:01.123456789Z",
            Stream::Stderr,
            true,
            b"part",
        ),
        // No fraction at all (nanos = 0).
        (
            b"2024-06-01T12:00:00Z stdout F x",
            "2024-06-01T12:00:00Z",
            Stream::Stdout,
            false,
            b"x",
        ),
        // conmon: nine digits and +00:00, never Z.
        (
            b"2024-06-01T12:00:00.000000001+00:00 stdout F x",
            "2024-06-01T12:00:00.000000001Z",
            Stream::Stdout,
            false,
            b"x",
        ),
        // containerd on a non-UTC host: normalised to UTC.
        (
            b"2024-06-01T20:00:00.5+08:00 stdout F x",
            T,
            Stream::Stdout,
            false,
            b"x",
        ),
        (
            b"2024-06-01T07:30:00.5-04:30 stdout F x",
            T,
            Stream::Stdout,
            false,
            b"x",
        ),
        // More than nine fraction digits: the rest is dropped.
        (
            b"2024-06-01T12:00:00.5000000009Z stdout F x",
            T,
            Stream::Stdout,
            false,
            b"x",
        ),
        // Content keeps its spaces, leading ones included.
        (
            b"2024-06-01T12:00:00.5Z stdout F  a  b ",
            T,
            Stream::Stdout,
            false,
            b" a  b ",
        ),
        // §1.4: the empty line is `F` and a trailing space.
        (
            b"2024-06-01T12:00:00.5Z stdout F ",
            T,
            Stream::Stdout,
            false,
            b"",
        ),
        (
            b"2024-06-01T12:00:00.5Z stdout P ",
            T,
            Stream::Stdout,
            true,
            b"",
        ),
        // §1.4: conmon keeps the CR of CRLF in the content.
        (
            b"2024-06-01T12:00:00.5Z stdout F abc\r",
            T,
            Stream::Stdout,
            false,
            b"abc\r",
        ),
        // A trailing LF is accepted and not part of the content.
        (
            b"2024-06-01T12:00:00.5Z stdout F abc\r\n",
            T,
            Stream::Stdout,
            false,
            b"abc\r",
        ),
        (
            b"2024-06-01T12:00:00.5Z stdout F \n",
            T,
            Stream::Stdout,
            false,
            b"",
        ),
        // Raw bytes: NUL, invalid UTF-8.
        (
            b"2024-06-01T12:00:00.5Z stdout F \0\xff\xfe x",
            T,
            Stream::Stdout,
            false,
            b"\0\xff\xfe x",
        ),
        // Tags: split on ':', only the first one counts, anything but P is full.
        (
            b"2024-06-01T12:00:00.5Z stdout P:F x",
            T,
            Stream::Stdout,
            true,
            b"x",
        ),
        (
            b"2024-06-01T12:00:00.5Z stdout F:P x",
            T,
            Stream::Stdout,
            false,
            b"x",
        ),
        (
            b"2024-06-01T12:00:00.5Z stdout X x",
            T,
            Stream::Stdout,
            false,
            b"x",
        ),
        (
            b"2024-06-01T12:00:00.5Z stdout p x",
            T,
            Stream::Stdout,
            false,
            b"x",
        ),
        (
            b"2024-06-01T12:00:00.5Z stdout PP x",
            T,
            Stream::Stdout,
            false,
            b"x",
        ),
        (
            b"2024-06-01T12:00:00.5Z stdout :P x",
            T,
            Stream::Stdout,
            false,
            b"x",
        ),
        // An empty tag field (two spaces) is accepted by the kubelet, as full.
        (
            b"2024-06-01T12:00:00.5Z stdout  x",
            T,
            Stream::Stdout,
            false,
            b"x",
        ),
    ];
    for &(line, t, stream, partial, content) in table {
        let r = rec(line);
        let want = CriRecord {
            timestamp: ts(t),
            stream,
            partial,
            content,
        };
        assert_eq!(r, want, "{:?}", String::from_utf8_lossy(line));
    }
}

#[test]
fn kubelet_rejections_with_offsets() {
    use CriReason::*;
    let table: &[(&[u8], usize, CriReason)] = &[
        (b"", 0, MissingTimestamp),
        (b"\n", 0, MissingTimestamp),
        (b"garbage", 7, MissingTimestamp),
        (b"2024-06-01T12:00:00.5Z", 22, MissingTimestamp),
        // Bad timestamps, with the offset inside the timestamp.
        (
            b"2024-06-01 12:00:00Z stdout F x",
            10,
            InvalidTimestamp("expected 'T' between date and time"),
        ),
        (
            b"2024-13-01T12:00:00Z stdout F x",
            5,
            InvalidTimestamp("month out of range"),
        ),
        (
            b"2024-06-01T12:00:00 stdout F x",
            19,
            InvalidTimestamp("expected 'Z' or a numeric offset"),
        ),
        (
            b" stdout F x",
            0,
            InvalidTimestamp("expected a 4-digit year"),
        ),
        // No second space.
        (b"2024-06-01T12:00:00.5Z stdout", 29, MissingStream),
        (b"2024-06-01T12:00:00.5Z bogus", 28, MissingStream),
        // A stream that is neither stdout nor stderr.
        (b"2024-06-01T12:00:00.5Z stdin F x", 23, InvalidStream),
        (b"2024-06-01T12:00:00.5Z STDOUT F x", 23, InvalidStream),
        (b"2024-06-01T12:00:00.5Z stdoutx F x", 23, InvalidStream),
        (b"2024-06-01T12:00:00.5Z  stdout F x", 23, InvalidStream),
        // "log tag is not found": no space after the tag.
        (b"2024-06-01T12:00:00.5Z stdout F", 31, MissingTag),
        (b"2024-06-01T12:00:00.5Z stdout F\n", 31, MissingTag),
        (b"2024-06-01T12:00:00.5Z stderr P", 31, MissingTag),
        (b"2024-06-01T12:00:00.5Z stdout ", 30, MissingTag),
    ];
    for &(line, offset, reason) in table {
        assert_eq!(
            cri::parse(line),
            Err(K8sError::Cri { offset, reason }),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn error_messages_are_lowercase_with_offsets() {
    let e = cri::parse(b"2024-06-01T12:00:00.5Z stdin F x").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid cri record at byte 23: unexpected stream type"
    );
    assert_eq!(e.offset(), 23);
}

/// Formats a logical line the way containerd does: split, then one record per piece.
fn containerd_records(line: &[u8], max: usize) -> Vec<(bool, usize)> {
    let mut file = Vec::new();
    for (piece, partial) in cri::split_containerd(line, max) {
        cri::format(&mut file, ts(T), Stream::Stdout, partial, piece);
    }
    file.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            let r = rec(l);
            (r.partial, r.content.len())
        })
        .collect()
}

#[test]
fn containerd_split_lengths() {
    let m = CONTAINERD_MAX_LINE;
    assert_eq!(m, 16384);
    let table: &[(usize, &[(bool, usize)])] = &[
        (0, &[(false, 0)]),
        (1, &[(false, 1)]),
        (16384, &[(false, 16384)]),
        (16385, &[(true, 16384), (false, 1)]),
        (20000, &[(true, 16384), (false, 3616)]),
        (32768, &[(true, 16384), (false, 16384)]),
        (32769, &[(true, 16384), (true, 16384), (false, 1)]),
    ];
    for &(len, want) in table {
        assert_eq!(
            containerd_records(&vec![b'a'; len], m),
            want,
            "line of {len} bytes"
        );
    }
}

#[test]
fn format_writes_containerd_records() {
    let mut out = Vec::new();
    cri::format(
        &mut out,
        ts("2024-06-01T12:00:00Z"),
        Stream::Stderr,
        true,
        b"",
    );
    cri::format(
        &mut out,
        ts("2024-06-01T12:00:01.123456789Z"),
        Stream::Stdout,
        false,
        b"",
    );
    assert_eq!(
        out,
        b"2024-06-01T12:00:00Z stderr P \n2024-06-01T12:00:01.123456789Z stdout F \n"
    );
}

fn stream() -> impl Strategy<Value = Stream> {
    prop_oneof![Just(Stream::Stdout), Just(Stream::Stderr)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// format → parse gives back every field, for any instant and any content bytes
    /// other than LF (which cannot occur in content).
    #[test]
    fn format_parse_round_trip(
        nanos in any::<i64>(),
        stream in stream(),
        partial in any::<bool>(),
        content in proptest::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 0..300),
    ) {
        let t = Timestamp::from_unix_nanos(nanos);
        let mut line = Vec::new();
        cri::format(&mut line, t, stream, partial, &content);
        prop_assert_eq!(line.last(), Some(&b'\n'));
        let want = CriRecord { timestamp: t, stream, partial, content: &content };
        prop_assert_eq!(cri::parse(&line), Ok(want));
        prop_assert_eq!(cri::parse(&line[..line.len() - 1]), Ok(want));
    }

    /// Tags other than a first `P` mean full, whatever follows the first `:`.
    #[test]
    fn only_the_first_tag_counts(first in "[A-Z]{0,3}", rest in "(:[A-Za-z]{0,3}){0,3}") {
        let line = format!("{T} stdout {first}{rest} body");
        let r = cri::parse(line.as_bytes()).unwrap();
        prop_assert_eq!(r.partial, first == "P");
        prop_assert_eq!(r.content, b"body");
    }

    /// Arbitrary bytes never panic, and whatever parses re-formats to a record that
    /// parses the same.
    #[test]
    fn parse_never_panics(line in proptest::collection::vec(any::<u8>(), 0..120)) {
        if let Ok(r) = cri::parse(&line) {
            let mut again = Vec::new();
            r.write(&mut again);
            let r2 = cri::parse(&again).unwrap();
            prop_assert_eq!((r2.timestamp, r2.stream, r2.partial), (r.timestamp, r.stream, r.partial));
        }
    }

    /// Near-valid records (a valid prefix, then noise) never panic either.
    #[test]
    fn near_valid_records_never_panic(
        cut in 0usize..40,
        noise in proptest::collection::vec(prop_oneof![Just(b' '), Just(b':'), Just(b'P'), any::<u8>()], 0..12),
    ) {
        let mut line = b"2024-06-01T12:00:00.000000001+00:00 stderr P:F x".to_vec();
        line.truncate(cut.min(line.len()));
        line.extend_from_slice(&noise);
        let _ = cri::parse(&line);
    }
}
