//! A hand-written recursive-descent parser with precedence climbing for binary operators.
//! It applies LogQL's rules ([`crate::validate`]) as it builds each node, so every error
//! carries a position. Nesting is limited to [`MAX_DEPTH`] levels, both of the parser's
//! recursion and of the tree it returns, so that neither parsing nor walking the tree can
//! overflow the stack.
//!
//! - `expr.rs`: binary operators, literals and function calls (aggregations, `vector`,
//!   `label_replace`).
//! - `log.rs`: selectors and pipeline stages.
//! - `label_filter.rs`: label filter expressions.
//! - `range.rs`: log ranges, `unwrap` and `offset`.

mod expr;
mod label_filter;
mod log;
mod range;

use crate::ast::{Expr, LogExpr, MetricExpr};
use crate::error::{ParseError, Position};
use crate::lexer::{tokenize, Tok, Token};
use crate::{MAX_DEPTH, MAX_QUERY_BYTES};

/// Errors are boxed inside the parser: small results keep the recursive frames small.
type Result<T> = std::result::Result<T, Box<ParseError>>;

/// Parses and validates a query.
pub(crate) fn parse(input: &str) -> std::result::Result<Expr, ParseError> {
    if input.len() > MAX_QUERY_BYTES {
        return Err(ParseError::TooLong {
            len: input.len(),
            limit: MAX_QUERY_BYTES,
        });
    }
    let mut parser = Parser {
        src: input,
        tokens: tokenize(input),
        next: 0,
        depth: 0,
    };
    let node = parser.expr().map_err(|e| *e)?;
    if !matches!(parser.peek(), Tok::Eof) {
        return Err(*parser.unexpected(&[]));
    }
    Ok(match *node.expr {
        NodeExpr::Log(log) => Expr::Log(log),
        NodeExpr::Metric(m) => Expr::Metric(m),
    })
}

/// A parsed operand: where it starts and how deep its tree is.
struct Node {
    expr: Box<NodeExpr>,
    start: usize,
    depth: usize,
}

enum NodeExpr {
    Log(LogExpr),
    Metric(MetricExpr),
}

impl Node {
    fn metric(expr: MetricExpr, start: usize, depth: usize) -> Self {
        Self {
            expr: Box::new(NodeExpr::Metric(expr)),
            start,
            depth,
        }
    }
}

struct Parser<'a> {
    src: &'a str,
    /// Ends with `Eof` or `Error`, which are never consumed.
    tokens: Vec<Token>,
    next: usize,
    /// Current recursion depth.
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Tok {
        self.peek_nth(0)
    }

    fn peek_nth(&self, n: usize) -> &Tok {
        &self.tokens[(self.next + n).min(self.tokens.len() - 1)].kind
    }

    /// Byte offset of the next token.
    fn start(&self) -> usize {
        self.tokens[self.next].start
    }

    /// Whether the next two tokens touch (`-5m`).
    fn adjacent(&self) -> bool {
        let next = (self.next + 1).min(self.tokens.len() - 1);
        self.tokens[self.next].end == self.tokens[next].start
    }

    /// Consumes the next token. The final `Eof`/`Error` token is never consumed.
    fn bump(&mut self) -> Token {
        if self.next + 1 >= self.tokens.len() {
            return self.tokens[self.next].clone();
        }
        let placeholder = Token {
            kind: Tok::Eof,
            start: 0,
            end: 0,
        };
        self.next += 1;
        std::mem::replace(&mut self.tokens[self.next - 1], placeholder)
    }

    fn text(&self, token: &Token) -> &'a str {
        &self.src[token.start..token.end]
    }

    /// Whether the next token is the identifier `word` (ASCII case-insensitive).
    fn at_word(&self, word: &str) -> bool {
        let t = &self.tokens[self.next];
        t.kind == Tok::Ident && self.text(t).eq_ignore_ascii_case(word)
    }

    fn eat(&mut self, kind: &Tok) -> bool {
        let yes = self.peek() == kind;
        if yes {
            self.bump();
        }
        yes
    }

    fn expect(&mut self, kind: &Tok, expected: &[&'static str]) -> Result<Token> {
        if self.peek() == kind {
            Ok(self.bump())
        } else {
            Err(self.unexpected(expected))
        }
    }

    fn ident(&mut self) -> Result<String> {
        let token = self.expect(&Tok::Ident, &["IDENTIFIER"])?;
        Ok(self.text(&token).to_owned())
    }

    fn string(&mut self) -> Result<String> {
        match self.peek() {
            Tok::Str(_) => match self.bump().kind {
                Tok::Str(s) => Ok(s),
                _ => Err(self.unexpected(&["STRING"])),
            },
            _ => Err(self.unexpected(&["STRING"])),
        }
    }

    /// `( STRING )`, as in `ip("...")`.
    fn paren_string(&mut self) -> Result<String> {
        self.expect(&Tok::LParen, &["("])?;
        let s = self.string()?;
        self.expect(&Tok::RParen, &[")"])?;
        Ok(s)
    }

    /// A syntax error at the next token (or the lexical error that stopped the lexer).
    fn unexpected(&self, expected: &[&'static str]) -> Box<ParseError> {
        let token = &self.tokens[self.next];
        let pos = self.position(token.start);
        Box::new(match &token.kind {
            Tok::Error(reason) => ParseError::Lexical {
                pos,
                reason: reason.clone(),
            },
            kind => ParseError::Syntax {
                pos,
                found: kind.describe(),
                expected: expected.to_vec(),
            },
        })
    }

    fn invalid(&self, offset: usize, reason: impl Into<String>) -> Box<ParseError> {
        Box::new(ParseError::Invalid {
            pos: self.position(offset),
            reason: reason.into(),
        })
    }

    fn position(&self, offset: usize) -> Position {
        Position::locate(self.src, offset)
    }

    /// Runs `f` one level deeper, failing past [`MAX_DEPTH`].
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.depth >= MAX_DEPTH {
            return Err(self.too_deep(self.start()));
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    /// Fails when a tree of `depth` levels would be too deep.
    fn check_depth(&self, depth: usize, at: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            Err(self.too_deep(at))
        } else {
            Ok(())
        }
    }

    fn too_deep(&self, at: usize) -> Box<ParseError> {
        Box::new(ParseError::TooDeep {
            pos: self.position(at),
            limit: MAX_DEPTH,
        })
    }
}
