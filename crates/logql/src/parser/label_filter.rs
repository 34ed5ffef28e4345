//! Label filter expressions: `or` below `and`/`,`/juxtaposition, parentheses, predicates.

use kelp_model::{ByteSize, GoDuration};

use super::{Parser, Result};
use crate::ast::{CmpOp, LabelFilter, LabelPredicate, MatchOp, Matcher};
use crate::lexer::{Keyword, Tok};
use crate::validate;

const COMPARISON: &[&str] = &["=", "!=", "=~", "!~", "==", ">", ">=", "<", "<="];

/// Appends `f` to an `and` (or `or`) chain, splicing in its children when it is a chain of
/// the same kind, so that chains stay flat.
fn push_flat(items: &mut Vec<LabelFilter>, f: LabelFilter, and: bool) {
    match f {
        LabelFilter::And(children) if and => items.extend(children),
        LabelFilter::Or(children) if !and => items.extend(children),
        f => items.push(f),
    }
}

fn chain(mut items: Vec<LabelFilter>, and: bool) -> LabelFilter {
    match items.len() {
        1 => items.remove(0),
        _ if and => LabelFilter::And(items),
        _ => LabelFilter::Or(items),
    }
}

impl Parser<'_> {
    /// `a or b`, where each side is an `and` chain.
    pub(super) fn label_filter(&mut self) -> Result<LabelFilter> {
        let mut items = Vec::new();
        loop {
            let f = self.label_filter_and()?;
            push_flat(&mut items, f, false);
            if !self.eat(&Tok::Keyword(Keyword::Or)) {
                return Ok(chain(items, false));
            }
        }
    }

    /// `a and b`, `a, b` and `a b`.
    fn label_filter_and(&mut self) -> Result<LabelFilter> {
        let mut items = Vec::new();
        loop {
            let f = self.label_filter_primary()?;
            push_flat(&mut items, f, true);
            match self.peek() {
                Tok::Keyword(Keyword::And) | Tok::Comma => {
                    self.bump();
                }
                Tok::Ident | Tok::LParen => {}
                _ => return Ok(chain(items, true)),
            }
        }
    }

    fn label_filter_primary(&mut self) -> Result<LabelFilter> {
        if self.eat(&Tok::LParen) {
            let f = self.nested(|p| p.label_filter())?;
            self.expect(&Tok::RParen, &[")"])?;
            return Ok(f);
        }
        Ok(LabelFilter::Predicate(self.predicate()?))
    }

    /// `name op value`.
    fn predicate(&mut self) -> Result<LabelPredicate> {
        let at = self.start();
        let name = self.ident()?;
        // What the operator means with a string, and with a number.
        let (string_op, number_op) = match self.peek() {
            Tok::Eq => (Some(MatchOp::Eq), Some(CmpOp::Eq)),
            Tok::Neq => (Some(MatchOp::Neq), Some(CmpOp::Neq)),
            Tok::Re => (Some(MatchOp::Re), None),
            Tok::Nre => (Some(MatchOp::Nre), None),
            Tok::CmpEq => (None, Some(CmpOp::Eq)),
            Tok::Gt => (None, Some(CmpOp::Gt)),
            Tok::Ge => (None, Some(CmpOp::Ge)),
            Tok::Lt => (None, Some(CmpOp::Lt)),
            Tok::Le => (None, Some(CmpOp::Le)),
            _ => return Err(self.unexpected(COMPARISON)),
        };
        self.bump();
        match (string_op, number_op) {
            (Some(op), _) if matches!(self.peek(), Tok::Str(_)) => {
                let value = self.string()?;
                let m = Matcher { name, op, value };
                validate::matcher(&m).map_err(|reason| self.invalid(at, reason))?;
                Ok(LabelPredicate::Matcher(m))
            }
            (Some(op @ (MatchOp::Eq | MatchOp::Neq)), _)
                if self.at_word("ip") && self.peek_nth(1) == &Tok::LParen =>
            {
                self.bump();
                let pattern = self.paren_string()?;
                let negated = op == MatchOp::Neq;
                Ok(LabelPredicate::Ip {
                    name,
                    negated,
                    pattern,
                })
            }
            (_, Some(op)) => self.comparison(name, op),
            (_, None) => Err(self.unexpected(&["STRING"])),
        }
    }

    /// The right-hand side of a numeric comparison: a number (with an optional sign), a
    /// duration (`-` allowed right before it) or a byte size.
    fn comparison(&mut self, name: String, op: CmpOp) -> Result<LabelPredicate> {
        let adjacent = self.adjacent();
        match (self.peek().clone(), self.peek_nth(1)) {
            (Tok::Number { .. }, _) => {
                let token = self.bump();
                let value = self.float(&token)?;
                Ok(LabelPredicate::Number { name, op, value })
            }
            (sign @ (Tok::Add | Tok::Sub), Tok::Number { .. }) => {
                self.bump();
                let token = self.bump();
                let v = self.float(&token)?;
                let value = if sign == Tok::Sub { -v } else { v };
                Ok(LabelPredicate::Number { name, op, value })
            }
            (Tok::Duration(d), _) => {
                self.bump();
                Ok(LabelPredicate::Duration { name, op, value: d })
            }
            (Tok::Sub, &Tok::Duration(d)) if adjacent => {
                self.bump();
                self.bump();
                let value = GoDuration(d.as_nanos().saturating_neg());
                Ok(LabelPredicate::Duration { name, op, value })
            }
            (Tok::Bytes(b), _) => {
                self.bump();
                let value = ByteSize(b);
                Ok(LabelPredicate::Bytes { name, op, value })
            }
            _ => Err(self.unexpected(&["NUMBER", "DURATION", "BYTES"])),
        }
    }
}
