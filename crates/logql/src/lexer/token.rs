//! Token kinds.

use kelp_model::GoDuration;

/// The words that can never be label names (matched case-insensitively).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    By,
    Without,
    Bool,
    On,
    Ignoring,
    GroupLeft,
    GroupRight,
    Offset,
    Unwrap,
    Json,
    Logfmt,
    Regexp,
    Unpack,
    Pattern,
    LineFormat,
    LabelFormat,
    Decolorize,
    Drop,
    Keep,
    Or,
    And,
    Unless,
}

const KEYWORDS: &[(&str, Keyword)] = &[
    ("by", Keyword::By),
    ("without", Keyword::Without),
    ("bool", Keyword::Bool),
    ("on", Keyword::On),
    ("ignoring", Keyword::Ignoring),
    ("group_left", Keyword::GroupLeft),
    ("group_right", Keyword::GroupRight),
    ("offset", Keyword::Offset),
    ("unwrap", Keyword::Unwrap),
    ("json", Keyword::Json),
    ("logfmt", Keyword::Logfmt),
    ("regexp", Keyword::Regexp),
    ("unpack", Keyword::Unpack),
    ("pattern", Keyword::Pattern),
    ("line_format", Keyword::LineFormat),
    ("label_format", Keyword::LabelFormat),
    ("decolorize", Keyword::Decolorize),
    ("drop", Keyword::Drop),
    ("keep", Keyword::Keep),
    ("or", Keyword::Or),
    ("and", Keyword::And),
    ("unless", Keyword::Unless),
];

impl Keyword {
    /// The keyword's canonical (lowercase) spelling.
    pub(crate) fn as_str(self) -> &'static str {
        KEYWORDS
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("", |(s, _)| s)
    }

    pub(crate) fn from_word(word: &str) -> Option<Self> {
        KEYWORDS
            .iter()
            .find(|(s, _)| s.eq_ignore_ascii_case(word))
            .map(|(_, k)| *k)
    }
}

/// A `logfmt` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flag {
    Strict,
    KeepEmpty,
}

/// What a token is. Identifiers and numbers keep their text in the source span.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident,
    Keyword(Keyword),
    /// A string literal, unescaped.
    Str(String),
    /// A number; `decimal` is false for `0x`/`0o`/`0b` literals, which never convert.
    Number {
        decimal: bool,
    },
    /// A number with duration units (`5m`, `1.5h`), outside `[...]`.
    Duration(GoDuration),
    /// A number with byte units (`10MB`, `2.5KiB`).
    Bytes(u64),
    /// `[5m]`.
    Range(GoDuration),
    Flag(Flag),
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    /// `=`
    Eq,
    /// `!=`
    Neq,
    /// `=~`
    Re,
    /// `!~`
    Nre,
    /// `==`
    CmpEq,
    Gt,
    Ge,
    Lt,
    Le,
    Pipe,
    /// `|=`
    PipeExact,
    /// `|~`
    PipeMatch,
    /// `|>`
    PipePattern,
    /// `!>`
    NotPattern,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eof,
    /// A malformed token; lexing stopped here.
    Error(String),
}

impl Tok {
    /// How a syntax error names this token.
    pub(crate) fn describe(&self) -> String {
        let s = match self {
            Tok::Ident => "IDENTIFIER",
            Tok::Keyword(k) => k.as_str(),
            Tok::Str(_) => "STRING",
            Tok::Number { .. } => "NUMBER",
            Tok::Duration(_) => "DURATION",
            Tok::Bytes(_) => "BYTES",
            Tok::Range(_) => "RANGE",
            Tok::Flag(Flag::Strict) => "--strict",
            Tok::Flag(Flag::KeepEmpty) => "--keep-empty",
            Tok::LBrace => "{",
            Tok::RBrace => "}",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::Comma => ",",
            Tok::Eq => "=",
            Tok::Neq => "!=",
            Tok::Re => "=~",
            Tok::Nre => "!~",
            Tok::CmpEq => "==",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Pipe => "|",
            Tok::PipeExact => "|=",
            Tok::PipeMatch => "|~",
            Tok::PipePattern => "|>",
            Tok::NotPattern => "!>",
            Tok::Add => "+",
            Tok::Sub => "-",
            Tok::Mul => "*",
            Tok::Div => "/",
            Tok::Mod => "%",
            Tok::Pow => "^",
            Tok::Eof => "end of input",
            Tok::Error(reason) => return reason.clone(),
        };
        s.to_owned()
    }
}

/// A token and its byte span in the source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: Tok,
    pub start: usize,
    pub end: usize,
}
