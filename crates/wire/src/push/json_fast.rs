//! A scanner for the common shape of Loki's JSON push body, tried before the serde
//! decoder ([`super::json`]): `{"streams":[{"stream":{...},"values":[["ts","line"(,{...})?],...]},...]}`
//! with string labels, string timestamps and lines, and optional structured metadata of
//! string values, in any order of `stream` and `values`, with any JSON whitespace.
//!
//! It accepts only bodies the serde decoder accepts and gives the same result for them
//! (a property test and the `loki_push` fuzz target compare the two); on anything else (an
//! unknown or repeated key, `null`, a number, an escaped key or timestamp, a lone
//! surrogate, invalid UTF-8, a label error, malformed JSON) it returns `None` and the serde
//! decoder decides, with its precise error messages. What it saves: serde's visitor calls
//! per token and, for lines with escapes (JSON logs), the copy of each piece between two
//! escapes through serde_json's scratch buffer: a line is unescaped in one loop.

use bytes::Bytes;
use kelp_model::{Entry, LabelPair, Labels, StreamEntries};

use crate::names::sanitize_label_name;
use crate::push::json::parse_nanos;
use crate::push::metadata_pair;

/// Decodes `body` when it has the common shape; `None` otherwise (see the module docs).
pub(crate) fn decode(body: &Bytes) -> Option<Vec<StreamEntries>> {
    let mut p = Parser {
        body,
        s: body,
        i: 0,
    };
    p.expect(b'{')?;
    p.key_is(b"streams")?;
    p.expect(b'[')?;
    let mut streams = Vec::new();
    if !p.eat(b']')? {
        loop {
            streams.push(p.stream()?);
            if !p.next_or_end(b']')? {
                break;
            }
        }
    }
    p.expect(b'}')?;
    p.ws();
    (p.i == p.s.len()).then_some(streams)
}

struct Parser<'a> {
    body: &'a Bytes,
    s: &'a [u8],
    i: usize,
}

/// A string found in the body: a slice of it, or unescaped bytes.
enum Str<'a> {
    Raw(&'a [u8]),
    Unescaped(Vec<u8>),
}

impl<'a> Parser<'a> {
    #[inline]
    fn ws(&mut self) {
        while let Some(&c) = self.s.get(self.i) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.i += 1;
        }
    }

    /// The next non-whitespace byte, not consumed.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    #[inline]
    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// Consumes `c` if it is next.
    #[inline]
    fn eat(&mut self, c: u8) -> Option<bool> {
        let hit = self.peek()? == c;
        self.i += usize::from(hit);
        Some(hit)
    }

    /// After an element: `,` (true: another follows) or `close` (false).
    #[inline]
    fn next_or_end(&mut self, close: u8) -> Option<bool> {
        match self.peek()? {
            b',' => {
                self.i += 1;
                Some(true)
            }
            c if c == close => {
                self.i += 1;
                Some(false)
            }
            _ => None,
        }
    }

    /// A key without escapes and its `:`.
    fn key(&mut self) -> Option<&'a [u8]> {
        match self.string()? {
            Str::Raw(k) => {
                self.expect(b':')?;
                Some(k)
            }
            Str::Unescaped(_) => None,
        }
    }

    fn key_is(&mut self, want: &[u8]) -> Option<()> {
        (self.key()? == want).then_some(())
    }

    /// A JSON string; the opening quote is next (after whitespace).
    #[inline]
    fn string(&mut self) -> Option<Str<'a>> {
        self.expect(b'"')?;
        let start = self.i;
        let rest = &self.s[start..];
        let end = start + memchr::memchr2(b'"', b'\\', rest)?;
        let (control, high) = scan(&self.s[start..end]);
        if control {
            return None;
        }
        match self.s[end] {
            b'"' => {
                self.i = end + 1;
                let raw = &self.s[start..end];
                if high {
                    std::str::from_utf8(raw).ok()?;
                }
                Some(Str::Raw(raw))
            }
            _ => {
                let mut out = Vec::with_capacity(2 * (end - start) + 64);
                out.extend_from_slice(&self.s[start..end]);
                self.i = end;
                self.unescape_rest(&mut out)?;
                std::str::from_utf8(&out).ok()?;
                Some(Str::Unescaped(out))
            }
        }
    }

    /// Continues a string at a backslash until its closing quote.
    fn unescape_rest(&mut self, out: &mut Vec<u8>) -> Option<()> {
        loop {
            // At a backslash.
            let e = *self.s.get(self.i + 1)?;
            self.i += 2;
            match e {
                b'"' | b'\\' | b'/' => out.push(e),
                b'b' => out.push(0x08),
                b'f' => out.push(0x0c),
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'u' => {
                    let hi = self.hex4()?;
                    let c = match hi {
                        0xd800..=0xdbff => {
                            if self.s.get(self.i..self.i + 2)? != b"\\u" {
                                return None;
                            }
                            self.i += 2;
                            let lo = self.hex4()?;
                            if !(0xdc00..=0xdfff).contains(&lo) {
                                return None;
                            }
                            0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                        }
                        0xdc00..=0xdfff => return None,
                        c => c,
                    };
                    let c = char::from_u32(c)?;
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                _ => return None,
            }
            let rest = &self.s[self.i..];
            let n = find_special(rest)?;
            out.extend_from_slice(&rest[..n]);
            self.i += n;
            match self.s[self.i] {
                b'"' => {
                    self.i += 1;
                    return Some(());
                }
                b'\\' => {}
                _ => return None,
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        self.i += 4;
        h.iter().try_fold(0u32, |v, &c| {
            let d = (c as char).to_digit(16)?;
            Some(v * 16 + d)
        })
    }

    /// A string as text (either form).
    fn text(&mut self) -> Option<String> {
        let s = match self.string()? {
            Str::Raw(r) => r.to_vec(),
            Str::Unescaped(v) => v,
        };
        // Validated by `string`.
        String::from_utf8(s).ok()
    }

    fn stream(&mut self) -> Option<StreamEntries> {
        self.expect(b'{')?;
        let (mut pairs, mut entries) = (None, None);
        if !self.eat(b'}')? {
            loop {
                match self.key()? {
                    b"stream" if pairs.is_none() => pairs = Some(self.labels()?),
                    b"values" if entries.is_none() => entries = Some(self.values()?),
                    _ => return None,
                }
                if !self.next_or_end(b'}')? {
                    break;
                }
            }
        }
        let labels = Labels::from_pairs(pairs.unwrap_or_default()).ok()?;
        if labels.is_empty() {
            return None;
        }
        Some(StreamEntries {
            labels,
            entries: entries.unwrap_or_default(),
        })
    }

    fn labels(&mut self) -> Option<Vec<(String, String)>> {
        self.expect(b'{')?;
        let mut pairs = Vec::new();
        if !self.eat(b'}')? {
            loop {
                let k = self.key()?;
                let v = self.text()?;
                // Checked to be UTF-8 by `string`.
                pairs.push((String::from_utf8(k.to_vec()).ok()?, v));
                if !self.next_or_end(b'}')? {
                    break;
                }
            }
        }
        Some(pairs)
    }

    fn values(&mut self) -> Option<Vec<Entry>> {
        self.expect(b'[')?;
        let mut out = Vec::new();
        if !self.eat(b']')? {
            loop {
                out.push(self.entry()?);
                if !self.next_or_end(b']')? {
                    break;
                }
            }
        }
        Some(out)
    }

    #[inline]
    fn entry(&mut self) -> Option<Entry> {
        self.expect(b'[')?;
        let Str::Raw(ts) = self.string()? else {
            return None;
        };
        // UTF-8 checked by `string`; only ASCII digits and '-' parse.
        let timestamp = parse_nanos(std::str::from_utf8(ts).ok()?)?;
        self.expect(b',')?;
        let line = match self.string()? {
            Str::Raw(r) => self.body.slice_ref(r),
            Str::Unescaped(v) => Bytes::from(v),
        };
        let metadata = if self.eat(b',')? {
            let m = self.metadata()?;
            self.expect(b']')?;
            m
        } else {
            self.expect(b']')?;
            Vec::new()
        };
        Some(Entry {
            timestamp,
            line,
            metadata,
        })
    }

    fn metadata(&mut self) -> Option<Vec<LabelPair>> {
        self.expect(b'{')?;
        let mut out = Vec::new();
        if !self.eat(b'}')? {
            loop {
                let k = std::str::from_utf8(self.key()?).ok()?;
                let v = self.text()?;
                out.extend(metadata_pair(sanitize_label_name(k).into_owned(), v));
                if !self.next_or_end(b'}')? {
                    break;
                }
            }
        }
        Some(out)
    }
}

/// The position of the first `"`, `\` or control character (< 0x20) in `s`.
#[inline]
fn find_special(s: &[u8]) -> Option<usize> {
    let end = memchr::memchr2(b'"', b'\\', s);
    let upto = &s[..end.unwrap_or(s.len())];
    if scan(upto).0 {
        return upto.iter().position(|&b| b < 0x20);
    }
    end
}

/// Whether `s` holds a control character (< 0x20), and a byte over 0x7F (then it must be
/// checked as UTF-8; without one it is ASCII): eight bytes at a time in a `u64`.
#[inline]
fn scan(s: &[u8]) -> (bool, bool) {
    const HIGH: u64 = 0x8080_8080_8080_8080;
    const SPACES: u64 = 0x2020_2020_2020_2020;
    // A byte < 0x20 borrows into its high bit, which `!v` keeps only for ASCII bytes; a
    // borrow can only start at such a byte, so the test is exact for "any".
    let control = |v: u64| v.wrapping_sub(SPACES) & !v & HIGH;
    let (mut c, mut h) = (0u64, 0u64);
    let mut words = s.chunks_exact(8);
    for w in words.by_ref() {
        let v = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        c |= control(v);
        h |= v & HIGH;
    }
    let mut last = [b' '; 8];
    last[..words.remainder().len()].copy_from_slice(words.remainder());
    let v = u64::from_le_bytes(last);
    c |= control(v);
    h |= v & HIGH;
    (c != 0, h != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_is_exact_for_every_byte_anywhere() {
        for len in [1, 7, 8, 9, 16, 23] {
            for at in 0..len {
                for b in 0..=255u8 {
                    for fill in [b' ', b'a', 0x7f, 0xc3] {
                        let mut s = vec![fill; len];
                        s[at] = b;
                        let want = (s.iter().any(|&c| c < 0x20), s.iter().any(|&c| c >= 0x80));
                        assert_eq!(scan(&s), want, "{s:?}");
                    }
                }
            }
        }
        assert_eq!(scan(b""), (false, false));
    }

    #[test]
    fn special_is_the_first_quote_backslash_or_control() {
        assert_eq!(find_special(b"abc\"d"), Some(3));
        assert_eq!(find_special(b"a\x01c\"d"), Some(1));
        assert_eq!(find_special(b"ab\\\x01"), Some(2));
        assert_eq!(find_special(b"abc"), None);
        assert_eq!(find_special(b"ab\x1f"), Some(2));
    }
}
