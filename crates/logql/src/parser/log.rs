//! Stream selectors and pipeline stages.

use super::{Node, NodeExpr, Parser, Result};
use crate::ast::{
    LabelExtraction, LabelFormat, LineFilter, LineFilterOp, LineFilterValue, LogExpr, Logfmt,
    MatchOp, Matcher, NamedMatcher, Stage,
};
use crate::lexer::{Flag, Keyword, Tok};
use crate::{pattern, validate};

fn line_filter_op(tok: &Tok) -> Option<LineFilterOp> {
    Some(match tok {
        Tok::PipeExact => LineFilterOp::Contains,
        Tok::Neq => LineFilterOp::NotContains,
        Tok::PipeMatch => LineFilterOp::Match,
        Tok::Nre => LineFilterOp::NotMatch,
        Tok::PipePattern => LineFilterOp::Pattern,
        Tok::NotPattern => LineFilterOp::NotPattern,
        _ => return None,
    })
}

fn match_op(tok: &Tok) -> Option<MatchOp> {
    Some(match tok {
        Tok::Eq => MatchOp::Eq,
        Tok::Neq => MatchOp::Neq,
        Tok::Re => MatchOp::Re,
        Tok::Nre => MatchOp::Nre,
        _ => return None,
    })
}

const STAGE: &[&str] = &[
    "IDENTIFIER",
    "(",
    "json",
    "logfmt",
    "regexp",
    "pattern",
    "unpack",
    "line_format",
    "label_format",
    "drop",
    "keep",
    "decolorize",
];

impl Parser<'_> {
    /// `selector pipeline`: a log query, alone or as an operand.
    pub(super) fn log_query(&mut self) -> Result<Node> {
        let start = self.start();
        let selector = self.selector()?;
        let pipeline = self.pipeline()?;
        if self.peek() == &Tok::Pipe && self.peek_nth(1) == &Tok::Keyword(Keyword::Unwrap) {
            // `unwrap` belongs in a range aggregation; point at it.
            self.bump();
            return Err(self.unexpected(&[]));
        }
        Ok(Node {
            expr: Box::new(NodeExpr::Log(LogExpr { selector, pipeline })),
            start,
            depth: 1,
        })
    }

    /// `{ matcher, ... }`, which must select something (the empty-matcher rule).
    pub(super) fn selector(&mut self) -> Result<Vec<Matcher>> {
        let start = self.expect(&Tok::LBrace, &["{"])?.start;
        let mut matchers = Vec::new();
        let mut selective = false;
        if !self.eat(&Tok::RBrace) {
            loop {
                let at = self.start();
                let m = self.matcher()?;
                selective |= !validate::matcher(&m).map_err(|reason| self.invalid(at, reason))?;
                matchers.push(m);
                if !self.eat(&Tok::Comma) {
                    self.expect(&Tok::RBrace, &[",", "}"])?;
                    break;
                }
            }
        }
        if !selective {
            return Err(self.invalid(start, validate::EMPTY_SELECTOR));
        }
        Ok(matchers)
    }

    /// `name op "value"`.
    fn matcher(&mut self) -> Result<Matcher> {
        let name = self.ident()?;
        let op = match_op(self.peek()).ok_or_else(|| self.unexpected(&["=", "!=", "=~", "!~"]))?;
        self.bump();
        let value = self.string()?;
        Ok(Matcher { name, op, value })
    }

    /// Stages up to something that is not one (`| unwrap` included).
    pub(super) fn pipeline(&mut self) -> Result<Vec<Stage>> {
        let mut stages = Vec::new();
        loop {
            let stage = match self.peek() {
                tok if line_filter_op(tok).is_some() => self.line_filter()?,
                Tok::Pipe if self.peek_nth(1) != &Tok::Keyword(Keyword::Unwrap) => {
                    self.bump();
                    self.pipe_stage()?
                }
                _ => return Ok(stages),
            };
            stages.push(stage);
        }
    }

    /// `op value [or value]...`.
    fn line_filter(&mut self) -> Result<Stage> {
        let op = line_filter_op(self.peek()).ok_or_else(|| self.unexpected(&["|="]))?;
        self.bump();
        let mut values = vec![self.line_filter_value()?];
        while self.eat(&Tok::Keyword(Keyword::Or)) {
            values.push(self.line_filter_value()?);
        }
        Ok(Stage::LineFilter(LineFilter { op, values }))
    }

    fn line_filter_value(&mut self) -> Result<LineFilterValue> {
        match self.peek() {
            // Like Loki, regexes and patterns of line filters are checked when the pipeline
            // is built, not here.
            Tok::Str(_) => Ok(LineFilterValue::Text(self.string()?)),
            Tok::Ident if self.at_word("ip") && self.peek_nth(1) == &Tok::LParen => {
                self.bump();
                Ok(LineFilterValue::Ip(self.paren_string()?))
            }
            _ => Err(self.unexpected(&["STRING", "ip"])),
        }
    }

    /// What follows a `|`.
    fn pipe_stage(&mut self) -> Result<Stage> {
        let keyword = match self.peek() {
            Tok::Ident | Tok::LParen => return Ok(Stage::LabelFilter(self.label_filter()?)),
            Tok::Keyword(k) => *k,
            _ => return Err(self.unexpected(STAGE)),
        };
        let stage = match keyword {
            Keyword::Json => {
                self.bump();
                Stage::Json(self.extractions()?)
            }
            Keyword::Logfmt => {
                self.bump();
                let mut logfmt = Logfmt::default();
                while let Tok::Flag(flag) = self.peek() {
                    match flag {
                        Flag::Strict => logfmt.strict = true,
                        Flag::KeepEmpty => logfmt.keep_empty = true,
                    }
                    self.bump();
                }
                logfmt.params = self.extractions()?;
                Stage::Logfmt(logfmt)
            }
            Keyword::Regexp | Keyword::Pattern => {
                self.bump();
                let at = self.start();
                let text = self.string()?;
                let check = if keyword == Keyword::Regexp {
                    validate::regexp_parser(&text)
                } else {
                    pattern::check_parser(&text)
                };
                check.map_err(|reason| self.invalid(at, reason))?;
                if keyword == Keyword::Regexp {
                    Stage::Regexp(text)
                } else {
                    Stage::Pattern(text)
                }
            }
            Keyword::Unpack => {
                self.bump();
                Stage::Unpack
            }
            Keyword::Decolorize => {
                self.bump();
                Stage::Decolorize
            }
            Keyword::LineFormat => {
                self.bump();
                Stage::LineFormat(self.string()?)
            }
            Keyword::LabelFormat => {
                self.bump();
                Stage::LabelFormat(self.label_formats()?)
            }
            Keyword::Drop | Keyword::Keep => {
                self.bump();
                let items = self.named_matchers()?;
                if keyword == Keyword::Drop {
                    Stage::Drop(items)
                } else {
                    Stage::Keep(items)
                }
            }
            _ => return Err(self.unexpected(STAGE)),
        };
        Ok(stage)
    }

    /// Parser parameters, `label="expression"` or a bare `label`, comma-separated.
    fn extractions(&mut self) -> Result<Vec<LabelExtraction>> {
        let mut out = Vec::new();
        if self.peek() != &Tok::Ident {
            return Ok(out);
        }
        loop {
            let label = self.ident()?;
            let expression = if self.eat(&Tok::Eq) {
                self.string()?
            } else {
                label.clone()
            };
            out.push(LabelExtraction { label, expression });
            if !self.eat(&Tok::Comma) {
                return Ok(out);
            }
        }
    }

    /// `dst=src` or `dst="template"`, comma-separated.
    fn label_formats(&mut self) -> Result<Vec<LabelFormat>> {
        let mut out = Vec::new();
        loop {
            let dst = self.ident()?;
            self.expect(&Tok::Eq, &["="])?;
            let item = match self.peek() {
                Tok::Ident => LabelFormat::Rename {
                    dst,
                    src: self.ident()?,
                },
                Tok::Str(_) => LabelFormat::Template {
                    dst,
                    template: self.string()?,
                },
                _ => return Err(self.unexpected(&["IDENTIFIER", "STRING"])),
            };
            out.push(item);
            if !self.eat(&Tok::Comma) {
                return Ok(out);
            }
        }
    }

    /// `name` or `name op "value"`, comma-separated (`drop`, `keep`).
    fn named_matchers(&mut self) -> Result<Vec<NamedMatcher>> {
        let mut out = Vec::new();
        loop {
            let at = self.start();
            let name = self.ident()?;
            let item = match match_op(self.peek()) {
                Some(op) => {
                    self.bump();
                    let m = Matcher {
                        name,
                        op,
                        value: self.string()?,
                    };
                    validate::matcher(&m).map_err(|reason| self.invalid(at, reason))?;
                    NamedMatcher::Matcher(m)
                }
                None => NamedMatcher::Name(name),
            };
            out.push(item);
            if !self.eat(&Tok::Comma) {
                return Ok(out);
            }
        }
    }
}
