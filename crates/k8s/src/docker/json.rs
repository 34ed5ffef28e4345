//! A small zero-copy JSON scanner: just enough to walk one docker json-file object, find
//! strings without copying them, validate and skip everything else.

use std::borrow::Cow;

use memchr::{memchr, memchr2};

use crate::error::DockerReason;

/// A scanning failure: byte offset and reason.
pub(crate) type Fail = (usize, DockerReason);

/// Nesting the scanner follows when skipping unknown values (Go's decoder allows 10 000;
/// docker writes none).
const MAX_DEPTH: usize = 256;

/// A JSON string as it appears between its quotes; escapes validated, not yet decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawStr<'a> {
    /// The bytes between the quotes.
    pub raw: &'a [u8],
    /// The offset in `raw` of the first backslash, if any.
    pub first_escape: Option<usize>,
}

impl<'a> RawStr<'a> {
    /// Whether the string has an escape.
    pub fn escaped(&self) -> bool {
        self.first_escape.is_some()
    }

    /// The decoded bytes: borrowed when there is no escape.
    pub fn decode(&self) -> Cow<'a, [u8]> {
        match self.first_escape {
            Some(_) => Cow::Owned(unescape(self.raw)),
            None => Cow::Borrowed(self.raw),
        }
    }

    /// Whether the decoded string equals `want`, without allocating for plain strings.
    pub fn equals(&self, want: &[u8]) -> bool {
        match self.first_escape {
            Some(_) => unescape(self.raw) == want,
            None => self.raw == want,
        }
    }
}

/// A cursor over one line.
pub(crate) struct Scanner<'a> {
    s: &'a [u8],
    pub i: usize,
}

impl<'a> Scanner<'a> {
    pub fn new(s: &'a [u8]) -> Self {
        Self { s, i: 0 }
    }

    pub fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    pub fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Skips JSON whitespace.
    pub fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    /// Consumes `b` if it is next.
    pub fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Consumes `b` or fails with `reason` (or [`DockerReason::UnexpectedEnd`] at the end).
    pub fn expect(&mut self, b: u8, reason: DockerReason) -> Result<(), Fail> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(self.fail(reason))
        }
    }

    /// `reason` at the cursor, or [`DockerReason::UnexpectedEnd`] past the end.
    pub fn fail(&self, reason: DockerReason) -> Fail {
        if self.at_end() {
            (self.s.len(), DockerReason::UnexpectedEnd)
        } else {
            (self.i, reason)
        }
    }

    /// Scans a string; the cursor is on its opening quote.
    pub fn string(&mut self) -> Result<RawStr<'a>, Fail> {
        let open = self.i;
        debug_assert_eq!(self.peek(), Some(b'"'));
        let start = open + 1;
        let mut i = start;
        let mut first_escape = None;
        loop {
            let Some(hit) = memchr2(b'"', b'\\', &self.s[i..]) else {
                return Err((open, DockerReason::UnterminatedString));
            };
            i += hit;
            if self.s[i] == b'"' {
                self.i = i + 1;
                return Ok(RawStr {
                    raw: &self.s[start..i],
                    first_escape,
                });
            }
            first_escape = first_escape.or(Some(i - start));
            i += match self.s.get(i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => 2,
                Some(b'u') if hex4(&self.s[i + 2..]).is_some() => 6,
                None => return Err((open, DockerReason::UnterminatedString)),
                Some(_) => return Err((i, DockerReason::InvalidEscape)),
            };
        }
    }

    /// Scans a string, or `null` (as `None`); anything else is a [`DockerReason::WrongType`].
    pub fn string_or_null(&mut self, field: &'static str) -> Result<Option<RawStr<'a>>, Fail> {
        match self.peek() {
            Some(b'"') => self.string().map(Some),
            Some(b'n') => self.literal(b"null").map(|()| None),
            _ => {
                let at = self.i;
                self.skip_value()?;
                Err((at, wrong_type(field, "string")))
            }
        }
    }

    /// Scans an object of string values, or `null` (as `None`); gives the object's text.
    pub fn string_map_or_null(&mut self, field: &'static str) -> Result<Option<&'a [u8]>, Fail> {
        let start = self.i;
        match self.peek() {
            Some(b'{') => {}
            Some(b'n') => return self.literal(b"null").map(|()| None),
            _ => {
                self.skip_value()?;
                return Err((start, wrong_type(field, "object of strings")));
            }
        }
        self.i += 1;
        self.ws();
        if !self.eat(b'}') {
            loop {
                self.key()?;
                self.ws();
                if self.peek() != Some(b'"') {
                    let at = self.i;
                    self.skip_value()?;
                    return Err((at, wrong_type(field, "object of strings")));
                }
                self.string()?;
                self.ws();
                if self.eat(b'}') {
                    break;
                }
                self.expect(b',', DockerReason::ExpectedCommaOrClose)?;
                self.ws();
            }
        }
        Ok(Some(&self.s[start..self.i]))
    }

    /// Scans `"key"` and the `:` after it, leaving the cursor before the value.
    pub fn key(&mut self) -> Result<RawStr<'a>, Fail> {
        if self.peek() != Some(b'"') {
            return Err(self.fail(DockerReason::ExpectedKey));
        }
        let k = self.string()?;
        self.ws();
        self.expect(b':', DockerReason::ExpectedColon)?;
        self.ws();
        Ok(k)
    }

    /// `true`, `false` or `null`; a line that ends inside the word is
    /// [`DockerReason::UnexpectedEnd`].
    fn literal(&mut self, word: &[u8]) -> Result<(), Fail> {
        let rest = &self.s[self.i..];
        if rest.starts_with(word) {
            self.i += word.len();
            Ok(())
        } else if word.starts_with(rest) {
            Err((self.s.len(), DockerReason::UnexpectedEnd))
        } else {
            Err((self.i, DockerReason::ExpectedValue))
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<(), Fail> {
        let start = self.i;
        let bad = |at: usize| Err((at, DockerReason::InvalidNumber));
        self.eat(b'-');
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return bad(start),
        }
        if self.eat(b'.') {
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return bad(start);
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return bad(start);
            }
            self.digits();
        }
        Ok(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    /// Skips one value of any type, validating it. Iterative: deep nesting cannot
    /// overflow the stack; it is refused past [`MAX_DEPTH`].
    pub fn skip_value(&mut self) -> Result<(), Fail> {
        // One bit per open container: 1 = object, 0 = array.
        let mut stack = [0u64; MAX_DEPTH / 64];
        let mut depth = 0usize;
        'value: loop {
            self.ws();
            match self.peek() {
                Some(open @ (b'{' | b'[')) => {
                    if depth == MAX_DEPTH {
                        return Err((self.i, DockerReason::TooDeep));
                    }
                    self.i += 1;
                    self.ws();
                    let object = open == b'{';
                    if !self.eat(if object { b'}' } else { b']' }) {
                        let (word, bit) = (depth / 64, 1u64 << (depth % 64));
                        if object {
                            stack[word] |= bit;
                            self.key()?;
                        } else {
                            stack[word] &= !bit;
                        }
                        depth += 1;
                        continue 'value;
                    }
                }
                Some(b'"') => {
                    self.string()?;
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                _ => return Err(self.fail(DockerReason::ExpectedValue)),
            }
            // A value is complete: close the containers it completes.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                let object = stack[(depth - 1) / 64] & (1u64 << ((depth - 1) % 64)) != 0;
                self.ws();
                if self.eat(b',') {
                    self.ws();
                    if object {
                        self.key()?;
                    }
                    continue 'value;
                }
                self.expect(
                    if object { b'}' } else { b']' },
                    DockerReason::ExpectedCommaOrClose,
                )?;
                depth -= 1;
            }
        }
    }
}

fn wrong_type(field: &'static str, expected: &'static str) -> DockerReason {
    DockerReason::WrongType { field, expected }
}

/// Four hex digits at the start of `s`.
fn hex4(s: &[u8]) -> Option<u32> {
    let h = s.get(..4)?;
    let mut v = 0u32;
    for &b in h {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return None,
        };
        v = v << 4 | u32::from(d);
    }
    Some(v)
}

/// Decodes the escapes of a validated string body as Go's `encoding/json` does, except
/// that bytes which are not UTF-8 are kept as they are: a high surrogate followed by a low
/// one is a pair; any other surrogate becomes U+FFFD (and a following escape is decoded on
/// its own). A malformed escape (impossible after [`Scanner::string`]) is copied as is.
pub(crate) fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(hit) = memchr(b'\\', &raw[i..]) {
        out.extend_from_slice(&raw[i..i + hit]);
        i += hit;
        let simple = match raw.get(i + 1) {
            Some(b'"') => Some(b'"'),
            Some(b'\\') => Some(b'\\'),
            Some(b'/') => Some(b'/'),
            Some(b'b') => Some(0x08),
            Some(b'f') => Some(0x0c),
            Some(b'n') => Some(b'\n'),
            Some(b'r') => Some(b'\r'),
            Some(b't') => Some(b'\t'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            i += 2;
            continue;
        }
        let Some(u) = escape_u(raw, i) else {
            out.push(b'\\');
            i += 1;
            continue;
        };
        i += 6;
        let c = if (0xD800..0xDC00).contains(&u) {
            match escape_u(raw, i) {
                Some(lo @ 0xDC00..=0xDFFF) => {
                    i += 6;
                    char::from_u32(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00))
                }
                _ => None,
            }
        } else {
            // `None` for a lone low surrogate.
            char::from_u32(u)
        };
        let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
    }
    out.extend_from_slice(&raw[i..]);
    out
}

/// The code unit of a `\uXXXX` escape at `raw[i..]`.
fn escape_u(raw: &[u8], i: usize) -> Option<u32> {
    match raw.get(i..i + 2) {
        Some(b"\\u") => hex4(&raw[i + 2..]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Vec<u8> {
        unescape(s.as_bytes())
    }

    #[test]
    fn escapes_decode_as_go_does() {
        assert_eq!(dec(r#"a\"b\\c\/d\b\f\n\r\t"#), b"a\"b\\c/d\x08\x0c\n\r\t");
        assert_eq!(dec(r"\u00e9\u4e2d"), "é中".as_bytes());
        assert_eq!(dec(r"\ud83d\ude00"), "😀".as_bytes());
        assert_eq!(dec(r"\uD83D\uDE00"), "😀".as_bytes());
        // Lone surrogates become U+FFFD; the escape after a bad high one stands alone.
        assert_eq!(dec(r"\ud800"), "\u{fffd}".as_bytes());
        assert_eq!(dec(r"\udc00x"), "\u{fffd}x".as_bytes());
        assert_eq!(dec(r"\ud800\u0041"), "\u{fffd}A".as_bytes());
        assert_eq!(dec(r"\ud800\ud83d\ude00"), "\u{fffd}😀".as_bytes());
        assert_eq!(dec(r"\ud800\\"), "\u{fffd}\\".as_bytes());
        assert_eq!(dec(r"\u0000"), b"\0");
    }

    #[test]
    fn skip_value_handles_nesting_and_rejects_garbage() {
        for ok in [
            r#"{"a":[1,-2.5e+3,true,false,null,{"b":{}}],"c":[]}"#,
            "[[[[]]]]",
            "0",
            r#""x""#,
        ] {
            let mut s = Scanner::new(ok.as_bytes());
            assert_eq!(s.skip_value(), Ok(()), "{ok}");
            assert!(s.at_end(), "{ok}");
        }
        for (bad, at) in [
            ("[1,]", 3),
            ("{\"a\" 1}", 5),
            ("01", 1),
            ("-", 0),
            ("1.", 0),
            ("tru", 3),
            ("trux", 0),
            ("[1 2]", 3),
            ("{1:2}", 1),
            ("\"\\x\"", 1),
        ] {
            let mut s = Scanner::new(bad.as_bytes());
            let r = s.skip_value().and_then(|()| {
                if s.at_end() {
                    Ok(())
                } else {
                    Err((s.i, DockerReason::TrailingBytes))
                }
            });
            assert_eq!(r.map_err(|e| e.0), Err(at), "{bad}");
        }
        let deep = "[".repeat(MAX_DEPTH + 1);
        assert_eq!(
            Scanner::new(deep.as_bytes()).skip_value(),
            Err((MAX_DEPTH, DockerReason::TooDeep))
        );
    }
}
