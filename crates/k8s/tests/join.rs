//! The joiner: spec §1.4's rules (per stream, dangling `P`, cap), §1.3's split lengths
//! joined back, and a model-based property test.

use std::time::Duration;

use kelp_k8s::cri::{self, CriRecord, CONTAINERD_MAX_LINE};
use kelp_k8s::join::{Joiner, JoinerConfig, LineEnd, LogicalLine};
use kelp_k8s::Stream;
use kelp_model::Timestamp;
use proptest::prelude::*;

use crate::ts;

/// An owned copy of a [`LogicalLine`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    ts: Timestamp,
    stream: Stream,
    content: Vec<u8>,
    piece: u32,
    end: LineEnd,
}

impl From<LogicalLine<'_>> for Line {
    fn from(l: LogicalLine<'_>) -> Self {
        Line {
            ts: l.timestamp,
            stream: l.stream,
            content: l.content.to_vec(),
            piece: l.piece,
            end: l.end,
        }
    }
}

fn line(t: &str, stream: Stream, content: &[u8], piece: u32, end: LineEnd) -> Line {
    Line {
        ts: ts(t),
        stream,
        content: content.to_vec(),
        piece,
        end,
    }
}

fn joiner(max: usize) -> Joiner {
    Joiner::new(JoinerConfig {
        max_line_bytes: max,
        partial_timeout: Duration::from_secs(5),
    })
}

const NOW: Timestamp = Timestamp::from_unix_nanos(1_717_243_200_000_000_000);

/// Pushes CRI text records (LF-separated) and collects what comes out.
fn push_all(j: &mut Joiner, text: &[u8]) -> Vec<Line> {
    let mut out = Vec::new();
    for l in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        out.extend(j.push(cri::parse(l).unwrap(), NOW).map(Line::from));
    }
    out
}

use LineEnd::*;
use Stream::{Stderr as ERR, Stdout as OUT};

#[test]
fn partials_join_per_stream_with_the_first_timestamp() {
    let mut j = joiner(1024);
    let got = push_all(
        &mut j,
        b"2024-06-01T12:00:00Z stdout P Hello \n\
          2024-06-01T12:00:01Z stderr F warning\n\
          2024-06-01T12:00:02Z stdout P big \n\
          2024-06-01T12:00:03Z stderr P err \n\
          2024-06-01T12:00:04Z stdout F World\n\
          2024-06-01T12:00:05Z stderr F done\n",
    );
    assert_eq!(
        got,
        [
            line("2024-06-01T12:00:01Z", ERR, b"warning", 0, Full),
            line("2024-06-01T12:00:00Z", OUT, b"Hello big World", 0, Full),
            line("2024-06-01T12:00:03Z", ERR, b"err done", 0, Full),
        ]
    );
    assert!(!j.has_pending());
    assert_eq!(j.finish().count(), 0);
}

#[test]
fn conmon_splits_short_lines_and_keeps_cr() {
    // §1.3: conmon may cut a short line between reads; `\r` is not stripped.
    let mut j = joiner(8192);
    let got = push_all(
        &mut j,
        b"2024-06-01T12:00:00.000000001+00:00 stdout P Hello \n\
          2024-06-01T12:00:00.000000002+00:00 stdout F World\r\n",
    );
    assert_eq!(
        got,
        [line(
            "2024-06-01T12:00:00.000000001Z",
            OUT,
            b"Hello World\r",
            0,
            Full
        )]
    );
}

#[test]
fn empty_lines_and_empty_partials() {
    let mut j = joiner(16);
    let got = push_all(
        &mut j,
        b"2024-06-01T12:00:00Z stdout F \n\
          2024-06-01T12:00:01Z stdout P \n\
          2024-06-01T12:00:02Z stdout F \n\
          2024-06-01T12:00:03Z stdout P \n\
          2024-06-01T12:00:04Z stdout P x\n",
    );
    assert_eq!(
        got,
        [
            line("2024-06-01T12:00:00Z", OUT, b"", 0, Full),
            line("2024-06-01T12:00:01Z", OUT, b"", 0, Full),
        ]
    );
    let rest: Vec<Line> = j.finish().map(Line::from).collect();
    assert_eq!(rest, [line("2024-06-01T12:00:03Z", OUT, b"x", 0, Closed)]);
}

#[test]
fn dangling_partial_is_flushed_on_finish_and_by_timeout() {
    // §1.4: containerd writes a `P` at EOF that no `F` ever follows.
    let text = b"2024-06-01T12:00:03.3Z stdout P progress 50%\n\
                 2024-06-01T12:00:03.4Z stderr P err\n";
    let mut j = joiner(1024);
    assert_eq!(push_all(&mut j, text), []);
    assert_eq!(j.pending_bytes(), 15);
    let closed: Vec<Line> = j.finish().map(Line::from).collect();
    assert_eq!(
        closed,
        [
            line("2024-06-01T12:00:03.3Z", OUT, b"progress 50%", 0, Closed),
            line("2024-06-01T12:00:03.4Z", ERR, b"err", 0, Closed),
        ]
    );
    assert_eq!(j.finish().count(), 0, "finish leaves the joiner empty");

    // The timeout runs on the caller's clock from the last record that fed the line.
    let mut j = joiner(1024);
    let t0 = NOW;
    let later = |s: u64| {
        Timestamp::from_unix_nanos(t0.as_unix_nanos() + Duration::from_secs(s).as_nanos() as i64)
    };
    let r = |l: &'static [u8]| cri::parse(l).unwrap();
    assert_eq!(j.push(r(b"2024-06-01T12:00:00Z stdout P a"), t0).count(), 0);
    assert_eq!(
        j.push(r(b"2024-06-01T12:00:00Z stderr P b"), later(3))
            .count(),
        0
    );
    assert_eq!(j.next_deadline(), Some(later(5)));
    assert_eq!(j.expire(later(4)).count(), 0);
    let expired: Vec<Line> = j.expire(later(5)).map(Line::from).collect();
    assert_eq!(
        expired,
        [line("2024-06-01T12:00:00Z", OUT, b"a", 0, TimedOut)]
    );
    assert_eq!(j.next_deadline(), Some(later(8)));
    // Feeding the stderr line pushes its deadline back.
    assert_eq!(
        j.push(r(b"2024-06-01T12:00:07Z stderr P c"), later(7))
            .count(),
        0
    );
    assert_eq!(j.expire(later(8)).count(), 0);
    let expired: Vec<Line> = j.expire(later(12)).map(Line::from).collect();
    assert_eq!(
        expired,
        [line("2024-06-01T12:00:00Z", ERR, b"bc", 0, TimedOut)]
    );
    // A record after the timeout starts a new line.
    let got: Vec<Line> = j
        .push(r(b"2024-06-01T12:00:08Z stdout F tail"), later(13))
        .map(Line::from)
        .collect();
    assert_eq!(got, [line("2024-06-01T12:00:08Z", OUT, b"tail", 0, Full)]);
    assert_eq!(j.next_deadline(), None);
}

#[test]
fn containerd_split_lengths_join_back() {
    // §1.3's exact lengths, joined with a cap above and at containerd's maximum.
    for len in [0, 1, 16383, 16384, 16385, 20000, 32767, 32768, 32769, 50000] {
        let content: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        let mut file = Vec::new();
        for (piece, partial) in cri::split_containerd(&content, CONTAINERD_MAX_LINE) {
            cri::format(&mut file, ts("2024-06-01T12:00:00Z"), OUT, partial, piece);
        }
        let got = push_all(&mut joiner(1 << 20), &file);
        assert_eq!(got.len(), 1, "{len}");
        assert!(
            got[0].content == content && got[0].end == Full && got[0].piece == 0,
            "{len}"
        );

        // With the cap at containerd's size, the pieces are containerd's records.
        let got = push_all(&mut joiner(CONTAINERD_MAX_LINE), &file);
        let want: Vec<(usize, u32, LineEnd)> = cri::split_containerd(&content, CONTAINERD_MAX_LINE)
            .enumerate()
            .map(|(i, (p, partial))| (p.len(), i as u32, if partial { Continued } else { Full }))
            .collect();
        let got_shape: Vec<(usize, u32, LineEnd)> = got
            .iter()
            .map(|l| (l.content.len(), l.piece, l.end))
            .collect();
        assert_eq!(got_shape, want, "{len}");
        assert_eq!(
            got.iter()
                .flat_map(|l| l.content.clone())
                .collect::<Vec<u8>>(),
            content
        );
    }
}

#[test]
fn overlong_lines_come_out_in_marked_pieces() {
    let mut j = joiner(4);
    let got = push_all(
        &mut j,
        b"2024-06-01T12:00:00Z stdout P ab\n\
          2024-06-01T12:00:01Z stdout P cdefghijk\n\
          2024-06-01T12:00:02Z stdout P lm\n\
          2024-06-01T12:00:03Z stdout F nopq\n\
          2024-06-01T12:00:04Z stdout F 1234\n\
          2024-06-01T12:00:05Z stdout F 12345\n\
          2024-06-01T12:00:06Z stdout F 12345678\n",
    );
    assert_eq!(
        got,
        [
            // The first piece carries the line's first timestamp, later pieces the
            // timestamp of the record holding their first byte.
            line("2024-06-01T12:00:00Z", OUT, b"abcd", 0, Continued),
            line("2024-06-01T12:00:01Z", OUT, b"efgh", 1, Continued),
            line("2024-06-01T12:00:01Z", OUT, b"ijkl", 2, Continued),
            line("2024-06-01T12:00:02Z", OUT, b"mnop", 3, Continued),
            line("2024-06-01T12:00:03Z", OUT, b"q", 4, Full),
            // Exactly the maximum: whole.
            line("2024-06-01T12:00:04Z", OUT, b"1234", 0, Full),
            line("2024-06-01T12:00:05Z", OUT, b"1234", 0, Continued),
            line("2024-06-01T12:00:05Z", OUT, b"5", 1, Full),
            line("2024-06-01T12:00:06Z", OUT, b"1234", 0, Continued),
            line("2024-06-01T12:00:06Z", OUT, b"5678", 1, Full),
        ]
    );
    // A partial line past the cap times out with its piece number.
    let got = push_all(&mut j, b"2024-06-01T12:00:07Z stderr P 123456\n");
    assert_eq!(
        got,
        [line("2024-06-01T12:00:07Z", ERR, b"1234", 0, Continued)]
    );
    let rest: Vec<Line> = j.expire(Timestamp::MAX).map(Line::from).collect();
    assert_eq!(
        rest,
        [line("2024-06-01T12:00:07Z", ERR, b"56", 1, TimedOut)]
    );
}

#[test]
fn whole_lines_are_not_copied() {
    let mut j = joiner(64);
    let text = b"2024-06-01T12:00:00Z stdout F no copy";
    let r = cri::parse(text).unwrap();
    let out: Vec<LogicalLine<'_>> = j.push(r, NOW).collect();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].content.as_ptr(), text[30..].as_ptr());
    // Nor are the pieces of a long full line.
    let long = [b'x'; 200];
    let r = CriRecord {
        timestamp: NOW,
        stream: OUT,
        partial: false,
        content: &long,
    };
    let ptrs: Vec<*const u8> = j.push(r, NOW).map(|l| l.content.as_ptr()).collect();
    assert_eq!(ptrs, [0, 64, 128, 192].map(|i| long[i..].as_ptr()));
}

#[test]
fn size_hint_is_exact() {
    let mut j = joiner(3);
    let r = CriRecord {
        timestamp: NOW,
        stream: OUT,
        partial: true,
        content: b"ab",
    };
    assert_eq!(j.push(r, NOW).len(), 0);
    let r = CriRecord {
        timestamp: NOW,
        stream: OUT,
        partial: false,
        content: b"cdefgh",
    };
    let lines = j.push(r, NOW);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines.count(), 3);
}

/// One operation of the model test.
#[derive(Debug, Clone)]
enum Op {
    Push {
        stream: Stream,
        partial: bool,
        content: Vec<u8>,
        secs: i64,
    },
    Expire {
        secs: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (any::<bool>(), any::<bool>(), proptest::collection::vec(b'a'..=b'e', 0..20), 0i64..4)
            .prop_map(|(err, partial, content, secs)| Op::Push {
                stream: if err { ERR } else { OUT },
                partial,
                content,
                secs,
            }),
        1 => (0i64..8).prop_map(|secs| Op::Expire { secs }),
    ]
}

/// The reference: per stream, the whole logical line is kept, then cut into `max`
/// pieces when it ends. Piece 0 carries the line's first record's time, later pieces the
/// time of the record holding their first byte.
#[derive(Default)]
struct Model {
    /// Per stream, the open line.
    open: [Option<OpenLine>; 2],
    out: [Vec<Line>; 2],
}

/// A line of the reference model.
struct OpenLine {
    /// Each byte with the time of the record it came in.
    bytes: Vec<(u8, Timestamp)>,
    /// The time of the line's first record.
    first: Timestamp,
    /// The clock (seconds) at the last record that fed it.
    fed: i64,
}

impl Model {
    fn end(&mut self, i: usize, stream: Stream, max: usize, end: LineEnd) {
        let Some(OpenLine { bytes, first, .. }) = self.open[i].take() else {
            return;
        };
        let mut start = 0;
        let mut piece = 0;
        loop {
            let last = bytes.len() - start <= max;
            let stop = if last { bytes.len() } else { start + max };
            let t = if piece == 0 { first } else { bytes[start].1 };
            self.out[i].push(Line {
                ts: t,
                stream,
                content: bytes[start..stop].iter().map(|b| b.0).collect(),
                piece,
                end: if last { end } else { Continued },
            });
            if last {
                break;
            }
            start = stop;
            piece += 1;
        }
    }
}

fn idx(s: Stream) -> usize {
    match s {
        OUT => 0,
        ERR => 1,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// The joiner hands out, per stream, exactly the reference's lines: same bytes, same
    /// cuts, same piece numbers, ends and timestamps.
    #[test]
    fn joiner_matches_the_reference(max in 1usize..12, ops in proptest::collection::vec(op(), 0..60)) {
        let timeout = 3i64;
        let mut j = Joiner::new(JoinerConfig { max_line_bytes: max, partial_timeout: Duration::from_secs(timeout as u64) });
        let mut m = Model::default();
        let mut got: [Vec<Line>; 2] = Default::default();
        let mut clock = 0i64;
        for (n, op) in ops.into_iter().enumerate() {
            match op {
                Op::Push { stream, partial, content, secs } => {
                    clock += secs;
                    let now = Timestamp::from_unix_secs(clock);
                    let t = Timestamp::from_unix_nanos(n as i64);
                    let i = idx(stream);
                    let open = m.open[i].get_or_insert_with(|| OpenLine { bytes: Vec::new(), first: t, fed: clock });
                    open.bytes.extend(content.iter().map(|&b| (b, t)));
                    open.fed = clock;
                    if !partial {
                        m.end(i, stream, max, Full);
                    }
                    let rec = CriRecord { timestamp: t, stream, partial, content: &content };
                    for l in j.push(rec, now) {
                        prop_assert!(l.content.len() <= max);
                        got[idx(l.stream)].push(l.into());
                    }
                }
                Op::Expire { secs } => {
                    clock += secs;
                    for (i, s) in [(0, OUT), (1, ERR)] {
                        if m.open[i].as_ref().is_some_and(|o| clock - o.fed >= timeout) {
                            m.end(i, s, max, TimedOut);
                        }
                    }
                    for l in j.expire(Timestamp::from_unix_secs(clock)) {
                        got[idx(l.stream)].push(l.into());
                    }
                }
            }
            prop_assert!(j.pending_bytes() <= 2 * max);
        }
        m.end(0, OUT, max, Closed);
        m.end(1, ERR, max, Closed);
        for l in j.finish() {
            got[idx(l.stream)].push(l.into());
        }
        prop_assert_eq!(&got, &m.out);
        prop_assert!(!j.has_pending());
    }

    /// split_containerd + joiner rebuilds any line, whatever the split size, with
    /// another stream's lines interleaved at every record boundary.
    #[test]
    fn split_then_join_round_trip(
        lines in proptest::collection::vec(proptest::collection::vec(any::<u8>().prop_filter("no LF", |b| *b != b'\n'), 0..200), 1..6),
        split in 1usize..64,
    ) {
        let mut file = Vec::new();
        let mut records = 0;
        let t = ts("2024-06-01T12:00:00Z");
        for l in &lines {
            for (piece, partial) in cri::split_containerd(l, split) {
                cri::format(&mut file, t, OUT, partial, piece);
                cri::format(&mut file, t, ERR, false, b"noise");
                records += 1;
            }
        }
        let got = push_all(&mut joiner(1 << 16), &file);
        prop_assert!(got.iter().all(|l| l.piece == 0 && l.end == Full));
        let stdout: Vec<Vec<u8>> = got.iter().filter(|l| l.stream == OUT).map(|l| l.content.clone()).collect();
        prop_assert_eq!(stdout, lines);
        prop_assert_eq!(got.iter().filter(|l| l.stream == ERR).count(), records);
    }
}
