//! The joiner driven by arbitrary record sequences. Invariants, per stream: the bytes out
//! equal the bytes in; no line is longer than the maximum; pieces are numbered 0, 1, …
//! and only `Continued` is followed by a higher piece; every full record ends exactly one
//! line, whole if it fits; the buffer stays bounded.
//!
//! Input: byte 0 picks the maximum line size (1..=64); then each operation is one control
//! byte (bit 0: stream, bit 1: partial, bits 2-3: 3 = expire, else push; bits 4-7: clock
//! step) and, for a push, one length byte and that many content bytes.

use std::time::Duration;

use kelp_k8s::cri::CriRecord;
use kelp_k8s::join::{Joiner, JoinerConfig, LineEnd, LogicalLine};
use kelp_k8s::Stream;
use kelp_model::Timestamp;

#[derive(Default)]
struct Side {
    /// All bytes pushed and all bytes handed out.
    bytes_in: Vec<u8>,
    bytes_out: Vec<u8>,
    /// Length of the line being built (all its records so far), if one is open.
    open_len: Option<usize>,
    /// The piece the next line handed out must have.
    next_piece: u32,
    full_records: usize,
    full_lines: usize,
}

struct Check {
    max: usize,
    sides: [Side; 2],
}

impl Check {
    fn out(&mut self, l: LogicalLine<'_>) {
        assert!(l.content.len() <= self.max, "line longer than the maximum");
        let s = &mut self.sides[idx(l.stream)];
        assert_eq!(l.piece, s.next_piece, "pieces are numbered in order");
        s.next_piece = if l.end == LineEnd::Continued {
            l.piece + 1
        } else {
            0
        };
        if l.end == LineEnd::Continued {
            assert_eq!(
                l.content.len(),
                self.max,
                "cut pieces are exactly the maximum"
            );
        }
        if l.end == LineEnd::Full {
            s.full_lines += 1;
        }
        s.bytes_out.extend_from_slice(l.content);
    }
}

fn idx(s: Stream) -> usize {
    match s {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

/// One input.
pub fn run(data: &[u8]) {
    let Some((&first, mut rest)) = data.split_first() else {
        return;
    };
    let max = usize::from(first % 64) + 1;
    let mut j = Joiner::new(JoinerConfig {
        max_line_bytes: max,
        partial_timeout: Duration::from_secs(3),
    });
    let mut c = Check {
        max,
        sides: Default::default(),
    };
    let mut clock = 0i64;
    let mut n = 0i64;
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        clock += i64::from(op >> 4);
        let now = Timestamp::from_unix_secs(clock);
        if (op >> 2) & 3 == 3 {
            for l in j.expire(now) {
                c.sides[idx(l.stream)].open_len = None;
                c.out(l);
            }
            continue;
        }
        let Some((&len, tail)) = rest.split_first() else {
            break;
        };
        let len = usize::from(len).min(tail.len());
        let (content, tail) = tail.split_at(len);
        rest = tail;
        let stream = if op & 1 == 0 {
            Stream::Stdout
        } else {
            Stream::Stderr
        };
        let partial = op & 2 != 0;
        n += 1;
        let s = &mut c.sides[idx(stream)];
        s.bytes_in.extend_from_slice(content);
        let line_len = s.open_len.unwrap_or(0) + content.len();
        s.open_len = partial.then_some(line_len);
        if !partial {
            s.full_records += 1;
        }
        let record = CriRecord {
            timestamp: Timestamp::from_unix_nanos(n),
            stream,
            partial,
            content,
        };
        let mut whole = None;
        for l in j.push(record, now) {
            whole = Some(l.is_whole());
            c.out(l);
        }
        if !partial && line_len <= max {
            assert_eq!(whole, Some(true), "a line that fits comes out whole");
        }
        assert!(j.pending_bytes() <= 2 * max);
    }
    for l in j.finish() {
        assert!(matches!(l.end, LineEnd::Closed));
        c.out(l);
    }
    assert!(!j.has_pending());
    for s in &c.sides {
        assert_eq!(s.bytes_in, s.bytes_out, "bytes out == bytes in");
        assert_eq!(
            s.full_records, s.full_lines,
            "each full record ends one line"
        );
        assert_eq!(s.next_piece, 0);
    }
}
