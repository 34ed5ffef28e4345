//! The crate's one error type.

use std::fmt;

/// Where in a query a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Position {
    /// Byte offset from the start of the query.
    pub offset: usize,
    /// Line number, starting at 1.
    pub line: usize,
    /// Column in characters, starting at 1.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` in `src` (clamped to its length and to a character
    /// boundary).
    pub(crate) fn locate(src: &str, offset: usize) -> Self {
        let mut offset = offset.min(src.len());
        while !src.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &src[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Self {
            offset,
            line: 1 + before.matches('\n').count(),
            column: 1 + before[line_start..].chars().count(),
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, col {}", self.line, self.column)
    }
}

/// Why a query was rejected. Every variant but [`ParseError::TooLong`] says where.
///
/// Messages follow Loki's: `parse error at line 1, col 9: syntax error: unexpected ...`, and
/// the rule violations use Loki's wording (`grouping not allowed for rate aggregation`), with
/// the position added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A token the grammar does not allow at this point.
    #[error("parse error at {pos}: syntax error: unexpected {found}{}", expecting(.expected))]
    Syntax {
        /// Where the unexpected token starts.
        pos: Position,
        /// What was found, e.g. `IDENTIFIER`, `)` or `end of input`.
        found: String,
        /// What the grammar allows here; empty when it is not worth listing.
        expected: Vec<&'static str>,
    },
    /// A malformed token: an unterminated string, a bad escape, number, duration or range.
    #[error("parse error at {pos}: {reason}")]
    Lexical {
        /// Where the problem is.
        pos: Position,
        /// What is wrong.
        reason: String,
    },
    /// A well-formed query that breaks one of LogQL's rules (a selector that matches
    /// everything, grouping on `count_over_time`, `topk(0, ...)`, a bad regex, ...).
    #[error("parse error at {pos}: {reason}")]
    Invalid {
        /// The start of the offending part.
        pos: Position,
        /// The rule, in Loki's words where Loki has them.
        reason: String,
    },
    /// Nested deeper than [`crate::MAX_DEPTH`] levels.
    #[error("parse error at {pos}: query is nested too deeply (more than {limit} levels)")]
    TooDeep {
        /// Where the limit was crossed.
        pos: Position,
        /// The limit.
        limit: usize,
    },
    /// Longer than [`crate::MAX_QUERY_BYTES`].
    #[error("parse error : input size too long ({len} > {limit})")]
    TooLong {
        /// The query's length in bytes.
        len: usize,
        /// The limit.
        limit: usize,
    },
}

impl ParseError {
    /// Where the problem is, when it is one place.
    pub fn position(&self) -> Option<Position> {
        match self {
            Self::Syntax { pos, .. }
            | Self::Lexical { pos, .. }
            | Self::Invalid { pos, .. }
            | Self::TooDeep { pos, .. } => Some(*pos),
            Self::TooLong { .. } => None,
        }
    }
}

fn expecting(expected: &[&str]) -> String {
    match expected {
        [] => String::new(),
        [one] => format!(", expecting {one}"),
        [init @ .., last] => format!(", expecting {} or {last}", init.join(", ")),
    }
}
