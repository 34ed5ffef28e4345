//! Log ranges (`{app="x"} | json [5m] offset 1h`), `unwrap` and `offset`.
//!
//! The range may follow the selector (`{..}[5m] | json`) or come last (`{..} | json [5m]`),
//! and the log part may be parenthesized (`({..} | json)[5m]`, `({..}[5m] | json)`).
//! `offset` always follows the range directly.

use kelp_model::GoDuration;

use super::{Parser, Result};
use crate::ast::{Conversion, LogExpr, LogRange, Matcher, Stage, Unwrap};
use crate::lexer::{Keyword, Tok};

impl Parser<'_> {
    /// The argument of a range aggregation.
    pub(super) fn log_range(&mut self) -> Result<LogRange> {
        match self.peek() {
            Tok::LParen => {
                self.bump();
                if self.peek() == &Tok::LParen {
                    let range = self.nested(|p| p.log_range())?;
                    self.expect(&Tok::RParen, &[")"])?;
                    return Ok(range);
                }
                let (selector, pipeline, unwrap) = self.range_body()?;
                if let Tok::Range(_) = self.peek() {
                    let range = self.range_tail(selector, pipeline, unwrap)?;
                    self.expect(&Tok::RParen, &[")"])?;
                    return Ok(range);
                }
                self.expect(&Tok::RParen, &[")", "RANGE"])?;
                let (interval, offset) = self.range_and_offset()?;
                Ok(LogRange {
                    log: LogExpr { selector, pipeline },
                    unwrap,
                    interval,
                    offset,
                })
            }
            Tok::LBrace => {
                let (selector, pipeline, unwrap) = self.range_body()?;
                self.range_tail(selector, pipeline, unwrap)
            }
            _ => Err(self.unexpected(&["{", "("])),
        }
    }

    fn range_body(&mut self) -> Result<(Vec<Matcher>, Vec<Stage>, Option<Unwrap>)> {
        let selector = self.selector()?;
        let pipeline = self.pipeline()?;
        let unwrap = self.unwrap()?;
        Ok((selector, pipeline, unwrap))
    }

    /// `RANGE [offset]`, then the pipeline and unwrap if none came before it.
    fn range_tail(
        &mut self,
        selector: Vec<Matcher>,
        mut pipeline: Vec<Stage>,
        mut unwrap: Option<Unwrap>,
    ) -> Result<LogRange> {
        let (interval, offset) = self.range_and_offset()?;
        if pipeline.is_empty() && unwrap.is_none() {
            pipeline = self.pipeline()?;
            unwrap = self.unwrap()?;
        }
        Ok(LogRange {
            log: LogExpr { selector, pipeline },
            unwrap,
            interval,
            offset,
        })
    }

    fn range_and_offset(&mut self) -> Result<(GoDuration, GoDuration)> {
        let &Tok::Range(interval) = self.peek() else {
            return Err(self.unexpected(&["RANGE"]));
        };
        self.bump();
        let offset = if self.eat(&Tok::Keyword(Keyword::Offset)) {
            self.duration()?
        } else {
            GoDuration(0)
        };
        Ok((interval, offset))
    }

    /// A duration literal, negative when `-` comes right before it.
    fn duration(&mut self) -> Result<GoDuration> {
        match (self.peek(), self.peek_nth(1)) {
            (&Tok::Duration(d), _) => {
                self.bump();
                Ok(d)
            }
            (Tok::Sub, &Tok::Duration(d)) if self.adjacent() => {
                self.bump();
                self.bump();
                Ok(GoDuration(d.as_nanos().saturating_neg()))
            }
            _ => Err(self.unexpected(&["DURATION"])),
        }
    }

    /// `| unwrap [conv(]label[)]` and the label filters after it, if next.
    fn unwrap(&mut self) -> Result<Option<Unwrap>> {
        if self.peek() != &Tok::Pipe || self.peek_nth(1) != &Tok::Keyword(Keyword::Unwrap) {
            return Ok(None);
        }
        self.bump();
        self.bump();
        let conversion = if self.peek() == &Tok::Ident && self.peek_nth(1) == &Tok::LParen {
            [
                Conversion::Bytes,
                Conversion::Duration,
                Conversion::DurationSeconds,
            ]
            .into_iter()
            .find(|c| self.at_word(c.name()))
        } else {
            None
        };
        let label = match conversion {
            Some(_) => {
                self.bump();
                self.expect(&Tok::LParen, &["("])?;
                let label = self.ident()?;
                self.expect(&Tok::RParen, &[")"])?;
                label
            }
            None => self.ident()?,
        };
        let mut post_filters = Vec::new();
        while self.peek() == &Tok::Pipe && matches!(self.peek_nth(1), Tok::Ident | Tok::LParen) {
            self.bump();
            post_filters.push(self.label_filter()?);
        }
        Ok(Some(Unwrap {
            label,
            conversion,
            post_filters,
        }))
    }
}
