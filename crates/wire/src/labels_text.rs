//! The text form of a label set, `{name="value", ...}`, as Loki's protobuf push carries it.
//!
//! A strict parser for exactly that form, not LogQL: an opening `{`, zero or more
//! `name="value"` pairs separated by `,` (a trailing comma is allowed, as PromQL allows it),
//! a closing `}`, with spaces, tabs and newlines between tokens. Values are double-quoted
//! with Go's escapes (`\a \b \f \n \r \t \v \\ \"`, `\xHH`, `\ooo`, `\uHHHH`, `\UHHHHHHHH`).
//! Names follow the label-name rule; empty values are dropped and duplicate names rejected by
//! [`Labels`].

use kelp_model::Labels;

use crate::error::{excerpt, WireError};

/// Parses `{name="value", ...}` into [`Labels`].
///
/// Errors name stream 0; use [`parse_labels_for`] inside a request.
///
/// ```
/// let l = kelp_wire::parse_labels(r#"{app="checkout", env="prod"}"#).unwrap();
/// assert_eq!(l.get("env"), Some("prod"));
/// assert!(kelp_wire::parse_labels(r#"{app=checkout}"#).is_err());
/// ```
pub fn parse_labels(text: &str) -> Result<Labels, WireError> {
    parse_labels_for(text, 0)
}

/// [`parse_labels`] for stream number `stream` of a request, which errors then name.
pub fn parse_labels_for(text: &str, stream: usize) -> Result<Labels, WireError> {
    let pairs = Parser {
        s: text.as_bytes(),
        pos: 0,
    }
    .label_set()
    .map_err(|(offset, reason)| WireError::LabelText {
        stream,
        input: excerpt(text.as_bytes()),
        offset,
        reason,
    })?;
    Labels::from_pairs(pairs).map_err(|source| WireError::Labels { stream, source })
}

type Fail = (usize, &'static str);

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn label_set(mut self) -> Result<Vec<(String, String)>, Fail> {
        let mut pairs = Vec::new();
        self.skip_ws();
        self.expect(b'{', "expected '{'")?;
        loop {
            self.skip_ws();
            if self.peek() == Some(b'}') {
                self.pos += 1;
                break;
            }
            let name = self.name()?;
            self.skip_ws();
            self.expect(b'=', "expected '=' after label name")?;
            self.skip_ws();
            let value = self.string()?;
            pairs.push((name, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err((self.pos, "expected ',' or '}'")),
            }
        }
        self.skip_ws();
        if self.pos != self.s.len() {
            return Err((self.pos, "unexpected text after '}'"));
        }
        Ok(pairs)
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, b: u8, reason: &'static str) -> Result<(), Fail> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err((self.pos, reason))
        }
    }

    fn name(&mut self) -> Result<String, Fail> {
        let start = self.pos;
        match self.peek() {
            Some(b) if b.is_ascii_alphabetic() || b == b'_' => self.pos += 1,
            _ => return Err((start, "expected a label name")),
        }
        while matches!(self.peek(), Some(b) if b.is_ascii_alphanumeric() || b == b'_') {
            self.pos += 1;
        }
        // The slice is ASCII, checked above.
        Ok(String::from_utf8_lossy(&self.s[start..self.pos]).into_owned())
    }

    fn string(&mut self) -> Result<String, Fail> {
        self.expect(b'"', "expected '\"' to open the value")?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let run = self.pos;
            while !matches!(self.peek(), None | Some(b'"' | b'\\' | b'\n')) {
                self.pos += 1;
            }
            out.extend_from_slice(&self.s[run..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    // The input is a &str and escapes produce whole chars or bytes
                    // checked below, so only \x and octal escapes can break UTF-8.
                    return String::from_utf8(out).map_err(|_| (self.pos, "value is not UTF-8"));
                }
                Some(b'\\') => self.escape(&mut out)?,
                _ => return Err((self.pos, "unterminated quoted string")),
            }
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), Fail> {
        let at = self.pos;
        self.pos += 1;
        let c = self.peek().ok_or((at, "unterminated escape"))?;
        self.pos += 1;
        let simple = match c {
            b'a' => Some(0x07),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(0x0b),
            b'\\' => Some(b'\\'),
            b'"' => Some(b'"'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            return Ok(());
        }
        match c {
            b'x' => out.push(self.radix(2, 16, at)? as u8),
            b'0'..=b'7' => {
                self.pos -= 1;
                let v = self.radix(3, 8, at)?;
                out.push(u8::try_from(v).map_err(|_| (at, "octal escape value > 255"))?);
            }
            b'u' | b'U' => {
                let digits = if c == b'u' { 4 } else { 8 };
                let v = self.radix(digits, 16, at)?;
                let ch =
                    char::from_u32(v).ok_or((at, "escape is not a valid Unicode code point"))?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            _ => return Err((at, "unknown escape sequence")),
        }
        Ok(())
    }

    fn radix(&mut self, digits: usize, radix: u32, at: usize) -> Result<u32, Fail> {
        let mut v = 0u32;
        for _ in 0..digits {
            let d = self
                .peek()
                .and_then(|b| (b as char).to_digit(radix))
                .ok_or((at, "bad digit in escape sequence"))?;
            v = v * radix + d;
            self.pos += 1;
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_loki_form() {
        let table: &[(&str, &[(&str, &str)])] = &[
            (
                r#"{app="checkout", env="prod"}"#,
                &[("app", "checkout"), ("env", "prod")],
            ),
            (r#"{}"#, &[]),
            (r#" { a = "1" , } "#, &[("a", "1")]),
            (r#"{a="", b="x"}"#, &[("b", "x")]),
            (
                r#"{a="q\"\\\n\t\x41\101\u00e9\U0001F600"}"#,
                &[("a", "q\"\\\n\tAAé😀")],
            ),
            (r#"{_x="é ü"}"#, &[("_x", "é ü")]),
        ];
        for (text, want) in table {
            let got = parse_labels(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                got,
                Labels::from_pairs(want.iter().copied()).unwrap(),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_everything_else() {
        let table: &[(&str, usize, &str)] = &[
            ("", 0, "expected '{'"),
            ("app=\"x\"", 0, "expected '{'"),
            ("{app=x}", 5, "expected '\"' to open the value"),
            ("{app=\"x\"", 8, "expected ',' or '}'"),
            ("{app=\"x} ", 9, "unterminated quoted string"),
            ("{1a=\"x\"}", 1, "expected a label name"),
            ("{a.b=\"x\"}", 2, "expected '=' after label name"),
            ("{a=\"x\"} junk", 8, "unexpected text after '}'"),
            ("{a=\"\\q\"}", 4, "unknown escape sequence"),
            ("{a=\"\\xZZ\"}", 4, "bad digit in escape sequence"),
            ("{a=\"\\xff\"}", 9, "value is not UTF-8"),
            ("{a=\"1\",,}", 7, "expected a label name"),
            ("{a=\"x\n\"}", 5, "unterminated quoted string"),
        ];
        for (text, offset, reason) in table {
            match parse_labels_for(text, 3) {
                Err(WireError::LabelText {
                    stream: 3,
                    offset: o,
                    reason: r,
                    ..
                }) => {
                    assert_eq!((o, r), (*offset, *reason), "{text:?}")
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
        let dup = parse_labels(r#"{a="1", a="2"}"#).unwrap_err();
        assert_eq!(dup.to_string(), r#"stream 0: duplicate label name "a""#);
    }

    #[test]
    fn display_form_parses_back() {
        let l = Labels::from_pairs([("msg", "a\"b\\c\nd\u{1}é"), ("z", "1")]).unwrap();
        assert_eq!(parse_labels(&l.to_string()).unwrap(), l);
    }
}
