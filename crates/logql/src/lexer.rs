//! The lexer: query text to tokens, read the way Loki's lexer (Go's `text/scanner`) reads
//! it. It is context-free; the parser decides whether a word such as `rate` is a function or
//! a label name. Lexing stops at the first malformed token, which becomes a final
//! [`Tok::Error`] so that an earlier syntax error is still reported first.

mod string;
mod token;

pub(crate) use token::{Flag, Keyword, Tok, Token};

use crate::units;

/// All tokens of `src`, ending with [`Tok::Eof`] or [`Tok::Error`].
pub(crate) fn tokenize(src: &str) -> Vec<Token> {
    let mut lexer = Lexer { src, pos: 0 };
    let mut tokens = Vec::new();
    loop {
        let token = lexer.next_token();
        let last = matches!(token.kind, Tok::Eof | Tok::Error(_));
        tokens.push(token);
        if last {
            return tokens;
        }
    }
}

/// The longest unit suffix tried after a number (`1h30m15s`, `2.5KiB`).
const MAX_UNIT_RUN: usize = 64;

/// A lexing failure: where, and why.
type LexError = (usize, String);

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn byte_at(&self, i: usize) -> Option<u8> {
        self.src.as_bytes().get(self.pos + i).copied()
    }

    /// Advances over bytes matching `ok`; returns how many.
    fn take_bytes(&mut self, ok: impl Fn(u8) -> bool) -> usize {
        let n = self.rest().bytes().take_while(|b| ok(*b)).count();
        self.pos += n;
        n
    }

    fn next_token(&mut self) -> Token {
        let result = self.skip_trivia().and_then(|()| {
            let start = self.pos;
            self.token().map(|kind| Token {
                kind,
                start,
                end: self.pos,
            })
        });
        result.unwrap_or_else(|(at, reason)| Token {
            kind: Tok::Error(reason),
            start: at,
            end: at,
        })
    }

    /// Whitespace, `#` and `//` line comments and `/* */` block comments (Go's scanner skips
    /// the last two, so Loki accepts them too).
    fn skip_trivia(&mut self) -> Result<(), LexError> {
        loop {
            match (self.byte_at(0), self.byte_at(1)) {
                (Some(b' ' | b'\t' | b'\n' | b'\r'), _) => self.pos += 1,
                (Some(b'#'), _) | (Some(b'/'), Some(b'/')) => {
                    self.pos += self.rest().find('\n').unwrap_or(self.rest().len());
                }
                (Some(b'/'), Some(b'*')) => match self.rest()[2..].find("*/") {
                    Some(i) => self.pos += i + 4,
                    None => return Err((self.pos, "comment not terminated".into())),
                },
                _ => return Ok(()),
            }
        }
    }

    fn token(&mut self) -> Result<Tok, LexError> {
        let Some(c) = self.rest().chars().next() else {
            return Ok(Tok::Eof);
        };
        let next = self.byte_at(1);
        let (tok, len) = match c {
            c if c.is_alphabetic() || c == '_' => return Ok(self.word()),
            '0'..='9' => return self.number(),
            '.' if next.is_some_and(|b| b.is_ascii_digit()) => return self.number(),
            '"' => return string::quoted(self.src, &mut self.pos).map(Tok::Str),
            '`' => return string::raw(self.src, &mut self.pos).map(Tok::Str),
            '[' => return self.range(),
            '-' if self.rest().starts_with("--") => return Ok(self.flag_or_minus()),
            '{' => (Tok::LBrace, 1),
            '}' => (Tok::RBrace, 1),
            '(' => (Tok::LParen, 1),
            ')' => (Tok::RParen, 1),
            ',' => (Tok::Comma, 1),
            '=' if next == Some(b'=') => (Tok::CmpEq, 2),
            '=' if next == Some(b'~') => (Tok::Re, 2),
            '=' => (Tok::Eq, 1),
            '!' if next == Some(b'=') => (Tok::Neq, 2),
            '!' if next == Some(b'~') => (Tok::Nre, 2),
            '!' if next == Some(b'>') => (Tok::NotPattern, 2),
            '|' if next == Some(b'=') => (Tok::PipeExact, 2),
            '|' if next == Some(b'~') => (Tok::PipeMatch, 2),
            '|' if next == Some(b'>') => (Tok::PipePattern, 2),
            '|' => (Tok::Pipe, 1),
            '>' if next == Some(b'=') => (Tok::Ge, 2),
            '>' => (Tok::Gt, 1),
            '<' if next == Some(b'=') => (Tok::Le, 2),
            '<' => (Tok::Lt, 1),
            '+' => (Tok::Add, 1),
            '-' => (Tok::Sub, 1),
            '*' => (Tok::Mul, 1),
            '/' => (Tok::Div, 1),
            '%' => (Tok::Mod, 1),
            '^' => (Tok::Pow, 1),
            '\'' => {
                return Err((
                    self.pos,
                    "unexpected character '\\'': single quotes do not delimit strings, use \"...\" or `...`".into(),
                ))
            }
            c => return Err((self.pos, format!("unexpected character {c:?}"))),
        };
        self.pos += len;
        Ok(tok)
    }

    /// An identifier or keyword: a letter or `_`, then letters, digits or `_`.
    fn word(&mut self) -> Tok {
        let len = self
            .rest()
            .char_indices()
            .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
            .map_or(self.rest().len(), |(i, _)| i);
        let word = &self.rest()[..len];
        self.pos += len;
        Keyword::from_word(word).map_or(Tok::Ident, Tok::Keyword)
    }

    /// `--strict` and `--keep-empty` are flags; any other `--word` is two minus signs.
    fn flag_or_minus(&mut self) -> Tok {
        let rest = self.rest();
        for (text, flag) in [
            ("--strict", Flag::Strict),
            ("--keep-empty", Flag::KeepEmpty),
        ] {
            let after = rest.get(text.len()..).and_then(|r| r.chars().next());
            let ends = !after.is_some_and(|c| c.is_alphabetic() || c == '-');
            if rest.starts_with(text) && ends {
                self.pos += text.len();
                return Tok::Flag(flag);
            }
        }
        self.pos += 1;
        Tok::Sub
    }

    /// A number as Go's scanner reads it, then, directly attached, duration or byte units.
    fn number(&mut self) -> Result<Tok, LexError> {
        let start = self.pos;
        let prefix = match (self.byte_at(0), self.byte_at(1)) {
            (Some(b'0'), Some(p)) => p.to_ascii_lowercase(),
            _ => 0,
        };
        if matches!(prefix, b'x' | b'o' | b'b') {
            self.pos += 2;
            let (name, digits) = match prefix {
                b'x' => (
                    "hexadecimal",
                    self.take_bytes(|b| b.is_ascii_hexdigit() || b == b'_'),
                ),
                b'o' => (
                    "octal",
                    self.take_bytes(|b| matches!(b, b'0'..=b'7' | b'_')),
                ),
                _ => (
                    "binary",
                    self.take_bytes(|b| matches!(b, b'0' | b'1' | b'_')),
                ),
            };
            if digits == 0 {
                return Err((start, format!("{name} literal has no digits")));
            }
            return Ok(Tok::Number { decimal: false });
        }
        self.take_bytes(|b| b.is_ascii_digit());
        let mut float = false;
        if self.byte_at(0) == Some(b'.') {
            self.pos += 1;
            self.take_bytes(|b| b.is_ascii_digit());
            float = true;
        }
        if matches!(self.byte_at(0), Some(b'e' | b'E')) {
            float = true;
            self.pos += 1;
            if matches!(self.byte_at(0), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.take_bytes(|b| b.is_ascii_digit()) == 0 {
                return Err((self.pos, "exponent has no digits".into()));
            }
        }
        let text = &self.src[start..self.pos];
        if !float && text.len() > 1 && text.starts_with('0') {
            if let Some(d) = text.bytes().find(|b| *b >= b'8') {
                return Err((
                    start,
                    format!("invalid digit '{}' in octal literal", d as char),
                ));
            }
        }
        Ok(self.units(start).unwrap_or(Tok::Number { decimal: true }))
    }

    /// Duration units, else byte units, attached to the number that starts at `start`, as
    /// Loki's `tryScanDuration` and `tryScanBytes` read them.
    /// Runs longer than [`MAX_UNIT_RUN`] bytes are not tried, which keeps lexing linear
    /// (Loki tries them all, so `1.1.1.1...` is quadratic there).
    fn units(&mut self, start: usize) -> Option<Tok> {
        let rest = self.rest();
        let run = |units: &str| {
            rest.char_indices()
                .take(MAX_UNIT_RUN + 1)
                .find(|&(_, c)| !(c.is_ascii_digit() || c == '.' || units.contains(c)))
                .map_or(rest.len(), |(i, _)| i)
        };
        let len = run("nsuµmhdwy");
        if len > 0 && len <= MAX_UNIT_RUN {
            if let Some(d) = units::parse_duration(&self.src[start..self.pos + len]) {
                self.pos += len;
                return Some(Tok::Duration(d));
            }
        }
        let len = run("BikKMGTP");
        if len > 0 && len <= MAX_UNIT_RUN {
            if let Some(b) = units::parse_bytes(&self.src[start..self.pos + len]) {
                self.pos += len;
                return Some(Tok::Bytes(b));
            }
        }
        None
    }

    /// `[...]`: everything up to `]` must be a Prometheus duration.
    fn range(&mut self) -> Result<Tok, LexError> {
        let start = self.pos;
        let Some(len) = self.rest()[1..].find(']') else {
            self.pos = self.src.len();
            return Err((start, "missing closing ']' in duration".into()));
        };
        let inner = &self.rest()[1..1 + len];
        self.pos += len + 2;
        units::parse_range(inner)
            .map(Tok::Range)
            .map_err(|reason| (start, reason))
    }
}

#[cfg(test)]
mod tests {
    use kelp_model::GoDuration;

    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        tokenize(src).into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn operators_take_the_longest_match() {
        assert_eq!(
            kinds("|= != |~ !~ |> !> = =~ == >= <= |"),
            [
                Tok::PipeExact,
                Tok::Neq,
                Tok::PipeMatch,
                Tok::Nre,
                Tok::PipePattern,
                Tok::NotPattern,
                Tok::Eq,
                Tok::Re,
                Tok::CmpEq,
                Tok::Ge,
                Tok::Le,
                Tok::Pipe,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn numbers_durations_bytes() {
        let d = |ns: i64| Tok::Duration(GoDuration(ns));
        assert_eq!(kinds("5m")[0], d(300_000_000_000));
        assert_eq!(kinds("1h0.0m0s")[0], d(3_600_000_000_000));
        assert_eq!(kinds("250kB")[0], Tok::Bytes(250_000));
        assert_eq!(kinds(".5")[0], Tok::Number { decimal: true });
        assert_eq!(kinds("0x10")[0], Tok::Number { decimal: false });
        assert!(matches!(kinds("0B")[0], Tok::Error(_)));
        assert!(matches!(kinds("1e")[0], Tok::Error(_)));
        assert!(matches!(kinds("089")[0], Tok::Error(_)));
        assert_eq!(
            kinds("5x"),
            [Tok::Number { decimal: true }, Tok::Ident, Tok::Eof]
        );
    }

    #[test]
    fn words_comments_flags() {
        assert_eq!(
            kinds("BY rate # note\n/* x */ --strict --nope // end"),
            [
                Tok::Keyword(Keyword::By),
                Tok::Ident,
                Tok::Flag(Flag::Strict),
                Tok::Sub,
                Tok::Sub,
                Tok::Ident,
                Tok::Eof
            ]
        );
        assert!(matches!(kinds("/* open")[0], Tok::Error(_)));
    }

    #[test]
    fn ranges() {
        assert_eq!(
            kinds("[1h30m]")[0],
            Tok::Range(GoDuration(5_400_000_000_000))
        );
        for bad in ["[1.5m]", "[5m:1m]", "[ 5m]", "[5m"] {
            assert!(matches!(kinds(bad)[0], Tok::Error(_)), "{bad}");
        }
    }
}
