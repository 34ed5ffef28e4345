//! Cutting a byte stream into lines, in bounded memory.

use std::io;

use crate::config::READ_CHUNK_BYTES;

/// How a [`Line`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineEnd {
    /// A `\n` ended it; the `\n` is not part of the line. A `\r` before it is kept.
    Newline,
    /// It reached the maximum line length; the rest of the line comes next.
    Split,
    /// No `\n` came before the partial-flush timeout or [`Follower::finish`]; bytes that
    /// come later start a new line.
    ///
    /// [`Follower::finish`]: crate::Follower::finish
    Unterminated,
}

/// One line handed out by a [`Follower`](crate::Follower): the bytes without the `\n`,
/// borrowed from the follower until its next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Line<'a> {
    /// The line's bytes, as read: not decoded, not trimmed (a CRLF line keeps its `\r`).
    pub bytes: &'a [u8],
    /// How it ended.
    pub end: LineEnd,
}

/// A buffer of read bytes that hands out whole lines. It never holds more than
/// `max_line + 1 + READ_CHUNK_BYTES` bytes: a line that reaches `max_line` bytes without a
/// `\n` is cut before more is read.
#[derive(Debug)]
pub(crate) struct LineBuf {
    buf: Vec<u8>,
    /// First byte not handed out yet.
    start: usize,
    /// How many bytes from `start` on are known to hold no `\n`, so a waiting partial line is
    /// not searched again on every poll.
    scanned: usize,
    max_line: usize,
}

impl LineBuf {
    pub(crate) fn new(max_line: usize) -> Self {
        debug_assert!(max_line > 0);
        Self {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            max_line: max_line.max(1),
        }
    }

    /// Bytes read but not handed out yet.
    pub(crate) fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// If a line can be handed out now, its length and how it ends. Call [`Self::take`]
    /// with them to hand it out.
    pub(crate) fn find(&mut self) -> Option<(usize, LineEnd)> {
        let pending = &self.buf[self.start..];
        let limit = pending.len().min(self.max_line.saturating_add(1));
        let from = self.scanned.min(limit);
        match memchr::memchr(b'\n', &pending[from..limit]) {
            Some(i) => Some((from + i, LineEnd::Newline)),
            None if pending.len() > self.max_line => Some((self.max_line, LineEnd::Split)),
            None => {
                self.scanned = limit;
                None
            }
        }
    }

    /// Hands out `len` bytes as a line that ended as `end` (as [`Self::find`] returned),
    /// consuming its `\n` if `end` is [`LineEnd::Newline`].
    pub(crate) fn take(&mut self, len: usize, end: LineEnd) -> Line<'_> {
        let len = len.min(self.pending());
        let from = self.start;
        let consumed = if end == LineEnd::Newline && from + len < self.buf.len() {
            len + 1
        } else {
            len
        };
        self.start += consumed;
        self.scanned = 0;
        Line {
            bytes: &self.buf[from..from + len],
            end,
        }
    }

    /// Hands out what is pending with no `\n` (at most one maximum-length piece).
    pub(crate) fn take_partial(&mut self) -> Option<Line<'_>> {
        match self.pending() {
            0 => None,
            n if n > self.max_line => Some(self.take(self.max_line, LineEnd::Split)),
            n => Some(self.take(n, LineEnd::Unterminated)),
        }
    }

    /// Reads once through `read`, which gets free space to fill and returns how much it
    /// filled, as `Read::read` does. Call only when [`Self::find`] returned `None`.
    pub(crate) fn read_with(
        &mut self,
        read: impl FnOnce(&mut [u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        debug_assert!(self.pending() <= self.max_line);
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let old = self.buf.len();
        self.buf.resize(old + READ_CHUNK_BYTES, 0);
        let result = read(&mut self.buf[old..]);
        let n = *result.as_ref().unwrap_or(&0);
        self.buf.truncate(old + n.min(READ_CHUNK_BYTES));
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` one read at a time and collects every line `find` allows.
    fn cut(max_line: usize, chunks: &[&[u8]]) -> (Vec<(String, LineEnd)>, usize) {
        let mut b = LineBuf::new(max_line);
        let mut out = Vec::new();
        for chunk in chunks {
            b.read_with(|buf| {
                buf[..chunk.len()].copy_from_slice(chunk);
                Ok(chunk.len())
            })
            .unwrap();
            while let Some((len, end)) = b.find() {
                let line = b.take(len, end);
                out.push((String::from_utf8_lossy(line.bytes).into_owned(), line.end));
            }
        }
        (out, b.pending())
    }

    /// max_line, the reads, the lines they give, and the bytes left pending.
    type Case = (
        usize,
        &'static [&'static [u8]],
        &'static [(&'static str, LineEnd)],
        usize,
    );

    #[test]
    fn table() {
        use LineEnd::*;
        let table: &[Case] = &[
            (10, &[b"a\nb\n"], &[("a", Newline), ("b", Newline)], 0),
            (10, &[b"\n\n"], &[("", Newline), ("", Newline)], 0),
            (10, &[b"hel", b"lo\nwo"], &[("hello", Newline)], 2),
            (10, &[b"crlf\r\n"], &[("crlf\r", Newline)], 0),
            // Exactly max_line bytes then `\n` is one line, not a split and an empty line.
            (3, &[b"abc", b"\n"], &[("abc", Newline)], 0),
            (3, &[b"abcd\n"], &[("abc", Split), ("d", Newline)], 0),
            (3, &[b"abcdef\n"], &[("abc", Split), ("def", Newline)], 0),
            // max_line bytes without `\n` wait for the next byte before being cut.
            (3, &[b"abc"], &[], 3),
            (3, &[b"abcdefg"], &[("abc", Split), ("def", Split)], 1),
        ];
        for (max, chunks, want, pending) in table {
            let (got, left) = cut(*max, chunks);
            let want: Vec<_> = want.iter().map(|(s, e)| (s.to_string(), *e)).collect();
            assert_eq!(got, want, "max {max} chunks {chunks:?}");
            assert_eq!(left, *pending, "max {max} chunks {chunks:?}");
        }
    }

    #[test]
    fn partial_comes_out_when_asked() {
        let mut b = LineBuf::new(4);
        b.read_with(|buf| {
            buf[..3].copy_from_slice(b"x\nyz"[..3].as_ref());
            Ok(3)
        })
        .unwrap();
        let (len, end) = b.find().unwrap();
        assert_eq!(b.take(len, end).bytes, b"x");
        assert_eq!(b.find(), None);
        let p = b.take_partial().unwrap();
        assert_eq!((p.bytes, p.end), (&b"y"[..], LineEnd::Unterminated));
        assert_eq!(b.take_partial(), None);
    }

    #[test]
    fn memory_stays_bounded_on_an_endless_line() {
        let mut b = LineBuf::new(100);
        for _ in 0..1000 {
            b.read_with(|buf| {
                buf.fill(b'x');
                Ok(buf.len())
            })
            .unwrap();
            while let Some((len, end)) = b.find() {
                assert_eq!((len, end), (100, LineEnd::Split));
                b.take(len, end);
            }
            assert!(b.buf.capacity() <= 2 * (100 + 1 + READ_CHUNK_BYTES));
        }
    }

    #[test]
    fn a_failed_read_keeps_what_was_pending() {
        let mut b = LineBuf::new(10);
        b.read_with(|buf| {
            buf[..2].copy_from_slice(b"ab");
            Ok(2)
        })
        .unwrap();
        assert!(b.read_with(|_| Err(io::Error::other("boom"))).is_err());
        assert_eq!(b.pending(), 2);
    }
}
