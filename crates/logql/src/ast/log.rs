//! Log queries: the stream selector and the pipeline stages.

use super::LabelFilter;

/// A log query: `{app="api", env!="dev"} |= "error" | json | level="error"`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogExpr {
    /// The stream selector's matchers, in query order. Never empty in a valid query.
    pub selector: Vec<Matcher>,
    /// The stages, run left to right on every line.
    pub pipeline: Vec<Stage>,
}

/// A label matcher, `name op "value"`: in a stream selector, in a label filter, or in
/// `drop`/`keep`. Regex values are fully anchored (`^(?:value)$`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// How the value is compared.
    pub op: MatchOp,
    /// The string or regular expression.
    pub value: String,
}

/// A label matcher's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchOp {
    /// `=`: equal.
    Eq,
    /// `!=`: not equal.
    Neq,
    /// `=~`: the anchored regex matches.
    Re,
    /// `!~`: the anchored regex does not match.
    Nre,
}

impl MatchOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Neq => "!=",
            MatchOp::Re => "=~",
            MatchOp::Nre => "!~",
        }
    }
}

/// One pipeline stage.
#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// `|= "x"`, `!~ "re" or "re2"`, `|> "<_> x"`, `|= ip("10.0.0.0/8")`.
    LineFilter(LineFilter),
    /// `| json` (empty: every scalar leaf) or `| json a="path", b`.
    Json(Vec<LabelExtraction>),
    /// `| logfmt [--strict] [--keep-empty] [params]`.
    Logfmt(Logfmt),
    /// `| regexp "(?P<name>...)"`: the regex, with at least one named group.
    Regexp(String),
    /// `| pattern "<name> <_> ..."`: the pattern, with at least one named capture.
    Pattern(String),
    /// `| unpack`.
    Unpack,
    /// `| level="error" or status >= 500`.
    LabelFilter(LabelFilter),
    /// `| line_format "<Go template>"`.
    LineFormat(String),
    /// `| label_format dst=src, dst2="<Go template>"`.
    LabelFormat(Vec<LabelFormat>),
    /// `| drop a, b="v"`: remove labels (those with a matcher only when it matches).
    Drop(Vec<NamedMatcher>),
    /// `| keep a, b="v"`: keep only these labels (and `__error__`, `__error_details__`).
    Keep(Vec<NamedMatcher>),
    /// `| decolorize`: strip ANSI colour sequences from the line.
    Decolorize,
}

/// Line filters joined by `or`: `|= "timeout" or "refused"`. Every alternative uses the
/// same operator; for the negative operators the line passes when none matches.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LineFilter {
    /// The operator.
    pub op: LineFilterOp,
    /// The alternatives, at least one.
    pub values: Vec<LineFilterValue>,
}

/// A line filter operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineFilterOp {
    /// `|=`: the line contains the text.
    Contains,
    /// `!=`: the line does not contain the text.
    NotContains,
    /// `|~`: the regex matches somewhere in the line (unanchored).
    Match,
    /// `!~`: the regex matches nowhere in the line.
    NotMatch,
    /// `|>`: the line matches the pattern (literals and `<_>`).
    Pattern,
    /// `!>`: the line does not match the pattern.
    NotPattern,
}

impl LineFilterOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            LineFilterOp::Contains => "|=",
            LineFilterOp::NotContains => "!=",
            LineFilterOp::Match => "|~",
            LineFilterOp::NotMatch => "!~",
            LineFilterOp::Pattern => "|>",
            LineFilterOp::NotPattern => "!>",
        }
    }

    /// Whether the operator keeps lines that do *not* match.
    pub fn is_negative(self) -> bool {
        matches!(self, Self::NotContains | Self::NotMatch | Self::NotPattern)
    }
}

/// One alternative of a line filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LineFilterValue {
    /// A string: text, regex or pattern, depending on the operator.
    Text(String),
    /// `ip("...")`: the line contains an IP address in this address, range or CIDR.
    Ip(String),
}

/// The `logfmt` parser.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Logfmt {
    /// `--strict`: stop at the first malformed pair and set `__error__`.
    pub strict: bool,
    /// `--keep-empty`: keep standalone keys, with value `""`.
    pub keep_empty: bool,
    /// Only these keys (all when empty).
    pub params: Vec<LabelExtraction>,
}

/// A parser parameter, `label="expression"` (or a bare `label`, short for `label="label"`).
/// For `json` the expression is a path (`a.b`, `a["b c"]`, `list[0]`); for `logfmt` a key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LabelExtraction {
    /// The label to set.
    pub label: String,
    /// Where its value comes from.
    pub expression: String,
}

/// One `label_format` item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LabelFormat {
    /// `dst=src`: rename `src` to `dst`.
    Rename {
        /// The new name.
        dst: String,
        /// The label renamed (and removed).
        src: String,
    },
    /// `dst="{{.a}}-{{.b}}"`: set `dst` to the rendered Go template.
    Template {
        /// The label set.
        dst: String,
        /// The template text.
        template: String,
    },
}

impl LabelFormat {
    /// The label this item sets.
    pub fn dst(&self) -> &str {
        match self {
            Self::Rename { dst, .. } | Self::Template { dst, .. } => dst,
        }
    }
}

/// One `drop`/`keep` item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NamedMatcher {
    /// A label, by name.
    Name(String),
    /// A label, only when its value matches.
    Matcher(Matcher),
}
