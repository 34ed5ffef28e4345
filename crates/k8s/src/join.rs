//! Rebuilding logical lines from partial records, per (file, stream).
//!
//! Runtimes cut long lines into `P` records ended by an `F` record (CRI, spec §1.3–1.4),
//! docker cuts them into 16 KiB pieces without a trailing `\n` (§1.6). A [`Joiner`] takes
//! the records of **one file** in file order (keep it across that file's rotations, since
//! a line may continue in the next file) and gives back [`LogicalLine`]s:
//!
//! - stdout and stderr are joined separately, never across streams;
//! - a logical line carries the timestamp of its first record;
//! - a line longer than [`JoinerConfig::max_line_bytes`] comes out in pieces of exactly
//!   that size, marked [`LineEnd::Continued`], the last piece marked as the line ends;
//! - a partial line that gets no new record for [`JoinerConfig::partial_timeout`] is
//!   flushed by [`Joiner::expire`] as [`LineEnd::TimedOut`], and [`Joiner::finish`]
//!   flushes what is left when the file is closed as [`LineEnd::Closed`].
//!
//! No byte is dropped or duplicated: per stream, the contents of the lines that come out,
//! concatenated, equal the contents of the records that went in.
//!
//! A line that arrives whole in one full record is handed back borrowed from the record,
//! without copying. Only partial records are copied, into a per-stream buffer that is
//! reused from line to line. It never holds more than twice the maximum line size, and
//! keeps at most [`RETAINED_BYTES`] of capacity once a long line has gone out.
//!
//! ```
//! use kelp_k8s::cri;
//! use kelp_k8s::join::{Joiner, JoinerConfig, LineEnd};
//! use kelp_model::Timestamp;
//! use std::time::Duration;
//!
//! let config = JoinerConfig { max_line_bytes: 16, partial_timeout: Duration::from_secs(5) };
//! let mut joiner = Joiner::new(config);
//! let now = Timestamp::from_unix_secs(1_717_243_200);
//! let file = b"2024-06-01T12:00:00Z stdout P Hello \n\
//!              2024-06-01T12:00:01Z stderr F oops\n\
//!              2024-06-01T12:00:02Z stdout F World\n\
//!              2024-06-01T12:00:03Z stdout F twenty bytes of text\n\
//!              2024-06-01T12:00:04Z stdout P dangling";
//!
//! let mut got = Vec::new();
//! for line in file.split(|&b| b == b'\n') {
//!     let record = cri::parse(line).unwrap();
//!     for l in joiner.push(record, now) {
//!         got.push((l.stream.as_str(), l.content.to_vec(), l.piece, l.end));
//!     }
//! }
//! // Nothing is older than the timeout yet ...
//! assert_eq!(joiner.expire(now).count(), 0);
//! // ... and the dangling partial comes out when the file is closed.
//! for l in joiner.finish() {
//!     got.push((l.stream.as_str(), l.content.to_vec(), l.piece, l.end));
//! }
//! let want = [
//!     ("stderr", &b"oops"[..], 0, LineEnd::Full),
//!     ("stdout", b"Hello World", 0, LineEnd::Full), // joined, never across streams
//!     ("stdout", b"twenty bytes of ", 0, LineEnd::Continued), // over 16 bytes: cut
//!     ("stdout", b"text", 1, LineEnd::Full),
//!     ("stdout", b"dangling", 0, LineEnd::Closed),
//! ];
//! assert_eq!(got, want.map(|(s, c, p, e)| (s, c.to_vec(), p, e)));
//! ```

use std::time::Duration;

use kelp_model::Timestamp;

use crate::cri::CriRecord;
use crate::Stream;

/// Buffer capacity a stream keeps between lines; a larger buffer, grown for a long line,
/// is freed once that line has gone out.
pub const RETAINED_BYTES: usize = 64 * 1024;

/// Limits of a [`Joiner`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinerConfig {
    /// The longest logical line handed out whole, in bytes; longer lines come out in
    /// pieces of exactly this size. Values below 1 count as 1. Default 256 KiB, Loki's
    /// default `max_line_size`.
    pub max_line_bytes: usize,
    /// How long a partial line may wait for its next record before [`Joiner::expire`]
    /// flushes it, measured on the caller's clock from the last record that fed it.
    /// Default 5 s.
    pub partial_timeout: Duration,
}

impl Default for JoinerConfig {
    fn default() -> Self {
        Self {
            max_line_bytes: 256 * 1024,
            partial_timeout: Duration::from_secs(5),
        }
    }
}

/// How a [`LogicalLine`] ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineEnd {
    /// A full record ended the line: it is complete.
    Full,
    /// The line is longer than the maximum: it was cut here and the next line handed
    /// out for the same stream continues it (with `piece` one higher).
    Continued,
    /// The line was still partial when its timeout passed; it was flushed incomplete by
    /// [`Joiner::expire`]. Records that arrive later start a new line.
    TimedOut,
    /// The line was still partial when the file was closed; flushed by [`Joiner::finish`].
    Closed,
}

/// A logical line, or a piece of one, as a [`Joiner`] hands it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogicalLine<'a> {
    /// The timestamp of the record holding the first byte of this line (or piece).
    pub timestamp: Timestamp,
    /// The stream it was written to.
    pub stream: Stream,
    /// The bytes, without the LF.
    pub content: &'a [u8],
    /// 0 for a line or a line's first piece; the piece number for later pieces of a line
    /// cut at the maximum size.
    pub piece: u32,
    /// How the line (or piece) ends.
    pub end: LineEnd,
}

impl LogicalLine<'_> {
    /// `true` for a complete line handed out in one piece.
    pub fn is_whole(&self) -> bool {
        self.piece == 0 && self.end == LineEnd::Full
    }
}

/// Joins the partial records of one file into logical lines; see the [module
/// docs](self).
#[derive(Debug, Clone)]
pub struct Joiner {
    max: usize,
    timeout_ns: i64,
    /// Indexed by [`stream_index`].
    pending: [Pending; 2],
}

/// A stream's partial line.
#[derive(Debug, Clone, Default)]
struct Pending {
    /// `buf[..handed]` was handed out by the previous call and is dropped at the next;
    /// `buf[handed..]` is the partial line, at most `max` bytes.
    buf: Vec<u8>,
    handed: usize,
    /// Whether a partial line is open (it may be empty: a `P` with no content).
    open: bool,
    /// Timestamp of the record that holds `buf[handed]`.
    start: Timestamp,
    /// The caller's clock at the last record that fed the line.
    touched: Timestamp,
    /// The piece number the open line's next piece gets.
    piece: u32,
}

impl Pending {
    /// Drops what the previous call handed out, and the memory of a long line once the
    /// buffer is empty.
    fn compact(&mut self) {
        if self.handed > 0 {
            self.buf.drain(..self.handed);
            self.handed = 0;
            if self.buf.is_empty() && self.buf.capacity() > RETAINED_BYTES {
                self.buf = Vec::new();
            }
        }
    }

    /// Adds a record to the open line (at most `max` bytes long) and hands out what
    /// leaves: the whole line if the record is full and it fits; otherwise, once the line
    /// outgrows `max`, the buffer tops up to exactly one piece, handed out first, and the
    /// rest of the record follows in place in `max`-byte pieces, except for what stays
    /// pending (copied behind the piece, so the buffer holds at most `2 * max`).
    fn append<'a>(&'a mut self, record: CriRecord<'a>, max: usize) -> Lines<'a> {
        let CriRecord {
            timestamp,
            stream,
            partial,
            content,
        } = record;
        let held = self.buf.len();
        debug_assert!(held <= max, "an open line never holds more than max bytes");
        if held + content.len() <= max {
            self.buf.extend_from_slice(content);
            if partial {
                return Lines::default();
            }
            self.close();
            let p: &'a Pending = self;
            return Lines::body(Chunks::new(
                stream,
                max,
                Some(&p.buf),
                p.start,
                p.piece,
                LineEnd::Full,
            ));
        }
        let (head_ts, head_piece) = (self.start, self.piece);
        let next_piece = head_piece.saturating_add(1);
        let (top_up, rest) = content.split_at(max - held);
        self.buf.extend_from_slice(top_up);
        self.handed = max;
        let (body, end) = if partial {
            let cut = cut_len(rest.len(), max);
            self.buf.extend_from_slice(&rest[cut..]);
            self.start = timestamp;
            self.piece = next_piece.saturating_add(pieces(cut, max));
            ((cut > 0).then_some(&rest[..cut]), LineEnd::Continued)
        } else {
            self.open = false;
            (Some(rest), LineEnd::Full)
        };
        let p: &'a Pending = self;
        Lines {
            first: Some(LogicalLine {
                timestamp: head_ts,
                stream,
                content: &p.buf[..max],
                piece: head_piece,
                end: LineEnd::Continued,
            }),
            body: Chunks::new(stream, max, body, timestamp, next_piece, end),
            last: None,
        }
    }

    /// Closes the open line, handing out all of the buffer at the next borrow.
    fn close(&mut self) {
        self.open = false;
        self.handed = self.buf.len();
    }
}

fn stream_index(s: Stream) -> usize {
    match s {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

/// The bytes of a `len`-byte partial content that leave as whole `max`-byte pieces: as
/// containerd does, cut while more than `max` remain, so 1..=max bytes stay pending.
fn cut_len(len: usize, max: usize) -> usize {
    if len > max {
        (len - 1) / max * max
    } else {
        0
    }
}

fn pieces(bytes: usize, max: usize) -> u32 {
    u32::try_from(bytes / max).unwrap_or(u32::MAX)
}

impl Joiner {
    /// An empty joiner.
    pub fn new(config: JoinerConfig) -> Self {
        Self {
            max: config.max_line_bytes.max(1),
            timeout_ns: i64::try_from(config.partial_timeout.as_nanos()).unwrap_or(i64::MAX),
            pending: Default::default(),
        }
    }

    /// Feeds the next record of the file; `now` is the caller's clock, used only for the
    /// timeout. Returns the lines this record completes: none while a line is partial,
    /// one for a full record, several when a line is cut at the maximum size. The lines
    /// borrow from the record and the joiner, so take them before the next call.
    pub fn push<'a>(&'a mut self, record: CriRecord<'a>, now: Timestamp) -> Lines<'a> {
        let max = self.max;
        let p = &mut self.pending[stream_index(record.stream)];
        p.compact();
        if !p.open {
            if !record.partial {
                // The common case: a whole line in one record, handed out without a copy.
                let CriRecord {
                    timestamp,
                    stream,
                    content,
                    ..
                } = record;
                return Lines::body(Chunks::new(
                    stream,
                    max,
                    Some(content),
                    timestamp,
                    0,
                    LineEnd::Full,
                ));
            }
            p.open = true;
            p.start = record.timestamp;
            p.piece = 0;
        }
        p.touched = now;
        p.append(record, max)
    }

    /// Flushes, as [`LineEnd::TimedOut`], the partial lines that got no record for the
    /// configured timeout before `now`. Call it whenever convenient (at EOF, on a timer,
    /// at [`Self::next_deadline`]); it costs nothing when no line is partial.
    pub fn expire(&mut self, now: Timestamp) -> Lines<'_> {
        let timeout = self.timeout_ns;
        self.flush(LineEnd::TimedOut, |p| {
            now.as_unix_nanos()
                .saturating_sub(p.touched.as_unix_nanos())
                >= timeout
        })
    }

    /// Flushes every partial line as [`LineEnd::Closed`]: call it when the file is closed
    /// for good (container gone, file deleted). The joiner is then empty and reusable.
    pub fn finish(&mut self) -> Lines<'_> {
        self.flush(LineEnd::Closed, |_| true)
    }

    /// When the next partial line times out, if one is open: the earliest `now` at which
    /// [`Self::expire`] will flush something.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.pending
            .iter()
            .filter(|p| p.open)
            .map(|p| {
                Timestamp::from_unix_nanos(
                    p.touched.as_unix_nanos().saturating_add(self.timeout_ns),
                )
            })
            .min()
    }

    /// The bytes held in partial lines, both streams together.
    pub fn pending_bytes(&self) -> usize {
        self.pending.iter().map(|p| p.buf.len() - p.handed).sum()
    }

    /// Whether a partial line is open on either stream.
    pub fn has_pending(&self) -> bool {
        self.pending.iter().any(|p| p.open)
    }

    fn flush(&mut self, end: LineEnd, due: impl Fn(&Pending) -> bool) -> Lines<'_> {
        let mut flushed = [false; 2];
        for (p, f) in self.pending.iter_mut().zip(&mut flushed) {
            p.compact();
            if p.open && due(p) {
                p.close();
                *f = true;
            }
        }
        let line = |i: usize, stream| {
            let p = &self.pending[i];
            flushed[i].then(|| LogicalLine {
                timestamp: p.start,
                stream,
                content: &p.buf[..],
                piece: p.piece,
                end,
            })
        };
        Lines {
            first: line(0, Stream::Stdout),
            body: Chunks::default(),
            last: line(1, Stream::Stderr),
        }
    }
}

/// The lines one [`Joiner`] call hands out, in order.
#[derive(Debug, Clone, Default)]
#[must_use = "the lines are lost if not taken"]
pub struct Lines<'a> {
    first: Option<LogicalLine<'a>>,
    body: Chunks<'a>,
    last: Option<LogicalLine<'a>>,
}

impl<'a> Lines<'a> {
    fn body(body: Chunks<'a>) -> Self {
        Self {
            first: None,
            body,
            last: None,
        }
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = LogicalLine<'a>;

    fn next(&mut self) -> Option<LogicalLine<'a>> {
        self.first
            .take()
            .or_else(|| self.body.next())
            .or_else(|| self.last.take())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n =
            usize::from(self.first.is_some()) + self.body.len() + usize::from(self.last.is_some());
        (n, Some(n))
    }
}

impl ExactSizeIterator for Lines<'_> {}

/// Bytes handed out in pieces of at most `max`; the last piece ends with `end`, the
/// others with [`LineEnd::Continued`]. `Some(empty)` yields one empty line.
#[derive(Debug, Clone)]
struct Chunks<'a> {
    rest: Option<&'a [u8]>,
    max: usize,
    timestamp: Timestamp,
    stream: Stream,
    piece: u32,
    end: LineEnd,
}

impl Default for Chunks<'_> {
    fn default() -> Self {
        Self::new(
            Stream::Stdout,
            1,
            None,
            Timestamp::default(),
            0,
            LineEnd::Full,
        )
    }
}

impl<'a> Chunks<'a> {
    fn new(
        stream: Stream,
        max: usize,
        rest: Option<&'a [u8]>,
        timestamp: Timestamp,
        piece: u32,
        end: LineEnd,
    ) -> Self {
        Self {
            rest,
            max,
            timestamp,
            stream,
            piece,
            end,
        }
    }

    fn len(&self) -> usize {
        match self.rest {
            None => 0,
            Some(r) => r.len().saturating_sub(1) / self.max.max(1) + 1,
        }
    }
}

impl<'a> Iterator for Chunks<'a> {
    type Item = LogicalLine<'a>;

    fn next(&mut self) -> Option<LogicalLine<'a>> {
        let rest = self.rest?;
        let (content, end) = if rest.len() > self.max {
            let (head, tail) = rest.split_at(self.max);
            self.rest = Some(tail);
            (head, LineEnd::Continued)
        } else {
            self.rest = None;
            (rest, self.end)
        };
        let line = LogicalLine {
            timestamp: self.timestamp,
            stream: self.stream,
            content,
            piece: self.piece,
            end,
        };
        self.piece = self.piece.saturating_add(1);
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_does_not_pin_its_memory() {
        let mut j = Joiner::new(JoinerConfig {
            max_line_bytes: 1 << 20,
            ..JoinerConfig::default()
        });
        let big = vec![b'x'; 4 * RETAINED_BYTES];
        let rec = |partial, content| CriRecord {
            timestamp: Timestamp::default(),
            stream: Stream::Stderr,
            partial,
            content,
        };
        assert_eq!(j.push(rec(true, &big), Timestamp::default()).count(), 0);
        assert_eq!(j.push(rec(false, b"end"), Timestamp::default()).count(), 1);
        let small = [b'y'; 10];
        assert_eq!(j.push(rec(true, &small), Timestamp::default()).count(), 0);
        assert!(j.pending[1].buf.capacity() <= RETAINED_BYTES);
        assert_eq!(j.pending_bytes(), 10);
    }
}
