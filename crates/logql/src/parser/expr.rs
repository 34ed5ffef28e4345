//! Expressions: binary operators by precedence climbing, literals, parentheses and calls.

use super::{Node, NodeExpr, Parser, Result};
use crate::ast::{
    BinOp, BinOpModifier, BinaryOp, GroupModifier, Grouping, LabelReplace, LogRange, MetricExpr,
    RangeAggregation, RangeOp, VectorAggregation, VectorMatching, VectorOp,
};
use crate::lexer::{Keyword, Tok, Token};
use crate::validate::{self, Culprit};

const OPERAND: &[&str] = &["NUMBER", "(", "{", "function"];

fn binop(tok: &Tok) -> Option<BinOp> {
    Some(match tok {
        Tok::Keyword(Keyword::Or) => BinOp::Or,
        Tok::Keyword(Keyword::And) => BinOp::And,
        Tok::Keyword(Keyword::Unless) => BinOp::Unless,
        Tok::CmpEq => BinOp::Eq,
        Tok::Neq => BinOp::Neq,
        Tok::Gt => BinOp::Gt,
        Tok::Ge => BinOp::Ge,
        Tok::Lt => BinOp::Lt,
        Tok::Le => BinOp::Le,
        Tok::Add => BinOp::Add,
        Tok::Sub => BinOp::Sub,
        Tok::Mul => BinOp::Mul,
        Tok::Div => BinOp::Div,
        Tok::Mod => BinOp::Mod,
        Tok::Pow => BinOp::Pow,
        _ => return None,
    })
}

impl Parser<'_> {
    /// A whole expression.
    pub(super) fn expr(&mut self) -> Result<Node> {
        self.binary(1)
    }

    /// Operands joined by operators binding at least as tightly as `min_precedence`.
    fn binary(&mut self, min_precedence: u8) -> Result<Node> {
        let mut lhs = self.operand()?;
        while let Some(op) = binop(self.peek()) {
            let precedence = op.precedence();
            if precedence < min_precedence {
                break;
            }
            let at = self.bump().start;
            let modifier = self.bin_modifier()?;
            let next = precedence + u8::from(!op.is_right_associative());
            let rhs = self.nested(|p| p.binary(next))?;
            lhs = self.binary_node(op, at, modifier, lhs, rhs)?;
        }
        Ok(lhs)
    }

    fn binary_node(
        &self,
        op: BinOp,
        at: usize,
        modifier: BinOpModifier,
        lhs: Node,
        rhs: Node,
    ) -> Result<Node> {
        let (start, depth) = (lhs.start, 1 + lhs.depth.max(rhs.depth));
        let (lhs_at, rhs_at) = (lhs.start, rhs.start);
        let leg = |node: Node, side: &str| match *node.expr {
            NodeExpr::Metric(m) => Ok(m),
            NodeExpr::Log(_) => Err(self.invalid(
                node.start,
                format!(
                    "unexpected type for {side} leg of binary operation ({}): log query",
                    op.as_str()
                ),
            )),
        };
        let (lhs, rhs) = (leg(lhs, "left")?, leg(rhs, "right")?);
        validate::binary_op(op, &modifier, &lhs, &rhs).map_err(|(culprit, reason)| {
            let offset = match culprit {
                Culprit::Left => lhs_at,
                Culprit::Right => rhs_at,
                Culprit::Operator => at,
            };
            self.invalid(offset, reason)
        })?;
        self.check_depth(depth, at)?;
        let expr = MetricExpr::BinaryOp(BinaryOp {
            op,
            modifier,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        });
        Ok(Node::metric(expr, start, depth))
    }

    /// `[bool] [on|ignoring (labels) [group_left|group_right [(labels)]]]`.
    fn bin_modifier(&mut self) -> Result<BinOpModifier> {
        let return_bool = self.eat(&Tok::Keyword(Keyword::Bool));
        let on = match self.peek() {
            Tok::Keyword(Keyword::On) => true,
            Tok::Keyword(Keyword::Ignoring) => false,
            _ => {
                return Ok(BinOpModifier {
                    return_bool,
                    matching: None,
                })
            }
        };
        self.bump();
        let labels = self.label_list()?;
        let group = match self.peek() {
            Tok::Keyword(side @ (Keyword::GroupLeft | Keyword::GroupRight)) => {
                let left = *side == Keyword::GroupLeft;
                self.bump();
                let labels = match self.peek() {
                    Tok::LParen => self.label_list()?,
                    _ => Vec::new(),
                };
                Some(if left {
                    GroupModifier::Left(labels)
                } else {
                    GroupModifier::Right(labels)
                })
            }
            _ => None,
        };
        Ok(BinOpModifier {
            return_bool,
            matching: Some(VectorMatching { on, labels, group }),
        })
    }

    /// `( [IDENTIFIER {, IDENTIFIER}] )`.
    pub(super) fn label_list(&mut self) -> Result<Vec<String>> {
        self.expect(&Tok::LParen, &["("])?;
        let mut labels = Vec::new();
        if self.eat(&Tok::RParen) {
            return Ok(labels);
        }
        loop {
            labels.push(self.ident()?);
            if !self.eat(&Tok::Comma) {
                self.expect(&Tok::RParen, &[",", ")"])?;
                return Ok(labels);
            }
        }
    }

    /// `by (labels)` or `without (labels)`, if next.
    fn grouping(&mut self) -> Result<Option<Grouping>> {
        let by = match self.peek() {
            Tok::Keyword(Keyword::By) => true,
            Tok::Keyword(Keyword::Without) => false,
            _ => return Ok(None),
        };
        self.bump();
        let labels = self.label_list()?;
        Ok(Some(if by {
            Grouping::By(labels)
        } else {
            Grouping::Without(labels)
        }))
    }

    /// A literal, a parenthesized expression, a log query or a function call.
    fn operand(&mut self) -> Result<Node> {
        match self.peek() {
            Tok::Add | Tok::Sub if matches!(self.peek_nth(1), Tok::Number { .. }) => self.literal(),
            Tok::Number { .. } => self.literal(),
            Tok::LParen => {
                let start = self.bump().start;
                let mut inner = self.nested(|p| p.expr())?;
                self.expect(&Tok::RParen, &[")"])?;
                inner.start = start;
                Ok(inner)
            }
            Tok::LBrace => self.log_query(),
            Tok::Ident if self.at_call() => self.call(),
            _ => Err(self.unexpected(OPERAND)),
        }
    }

    /// A number, with an optional sign.
    fn literal(&mut self) -> Result<Node> {
        let start = self.start();
        let negative = match self.peek() {
            Tok::Add | Tok::Sub => self.bump().kind == Tok::Sub,
            _ => false,
        };
        let token = self.bump();
        let v = self.float(&token)?;
        let v = if negative { -v } else { v };
        Ok(Node::metric(MetricExpr::Literal(v), start, 1))
    }

    /// Whether the next token is a word used as a function: followed by `(`, or by
    /// `by`/`without` and `(` (Loki's lexer rule; otherwise `rate` is a label name).
    fn at_call(&self) -> bool {
        match self.peek_nth(1) {
            Tok::LParen => true,
            Tok::Keyword(Keyword::By | Keyword::Without) => self.peek_nth(2) == &Tok::LParen,
            _ => false,
        }
    }

    /// A function call: an aggregation, `vector(...)` or `label_replace(...)`.
    fn call(&mut self) -> Result<Node> {
        let start = self.start();
        let name = self.text(&self.tokens[self.next]).to_ascii_lowercase();
        if let Some(canonical) = VectorOp::canonical_name(&name) {
            self.bump();
            return self.vector_aggregation(start, canonical);
        }
        if let Some(op) = RangeOp::from_name(&name, 0.0) {
            self.bump();
            return self.range_aggregation(start, op);
        }
        match name.as_str() {
            "vector" => {
                self.bump();
                self.expect(&Tok::LParen, &["("])?;
                if !matches!(self.peek(), Tok::Number { .. }) {
                    return Err(self.unexpected(&["NUMBER"]));
                }
                let token = self.bump();
                let v = self.float(&token)?;
                self.expect(&Tok::RParen, &[")"])?;
                Ok(Node::metric(MetricExpr::Vector(v), start, 1))
            }
            "label_replace" => {
                self.bump();
                self.label_replace(start)
            }
            _ => Err(self.unexpected(OPERAND)),
        }
    }

    /// A NUMBER token as a float (Go's `ParseFloat`: no `0x10`, nothing infinite).
    pub(super) fn float(&self, token: &Token) -> Result<f64> {
        let text = self.text(token);
        let value = match token.kind {
            Tok::Number { decimal: true } => text.parse::<f64>().ok(),
            _ => None,
        };
        value
            .filter(|v| v.is_finite())
            .ok_or_else(|| self.invalid(token.start, "unable to parse literal as a float"))
    }

    /// `NUMBER ,` opening an argument list: the parameter of `topk(5, ...)`.
    fn parameter(&mut self) -> Option<Token> {
        let yes = matches!(self.peek(), Tok::Number { .. }) && self.peek_nth(1) == &Tok::Comma;
        yes.then(|| {
            let token = self.bump();
            self.bump();
            token
        })
    }

    /// The metric expression an aggregation or function applies to.
    fn metric_operand(&self, node: Node) -> Result<(MetricExpr, usize)> {
        match *node.expr {
            NodeExpr::Metric(m) => Ok((m, node.depth)),
            NodeExpr::Log(_) => Err(Box::new(crate::ParseError::Syntax {
                pos: self.position(node.start),
                found: "log query".into(),
                expected: vec!["metric expression"],
            })),
        }
    }

    /// `op [grouping] ([k,] expr) [grouping]`, after the name.
    fn vector_aggregation(&mut self, start: usize, name: &'static str) -> Result<Node> {
        let mut grouping = self.grouping()?;
        self.expect(&Tok::LParen, &["("])?;
        let parameter = self.parameter();
        let inner = self.nested(|p| p.expr())?;
        self.expect(&Tok::RParen, &[")"])?;
        if grouping.is_none() {
            grouping = self.grouping()?;
        }
        self.vector_node(start, name, grouping, parameter, inner)
    }

    /// Checks and builds a vector aggregation (apart from the parsing, to keep the recursive
    /// frame small).
    fn vector_node(
        &self,
        start: usize,
        name: &'static str,
        grouping: Option<Grouping>,
        parameter: Option<Token>,
        inner: Node,
    ) -> Result<Node> {
        let (inner, depth) = self.metric_operand(inner)?;
        let k = match (VectorOp::takes_k(name), parameter) {
            (true, Some(token)) => self.k(name, &token)?,
            (true, None) => {
                let reason = format!("parameter required for operation {name}");
                return Err(self.invalid(start, reason));
            }
            (false, Some(token)) => {
                let reason = format!(
                    "unsupported parameter for operation {name}({},",
                    self.text(&token)
                );
                return Err(self.invalid(token.start, reason));
            }
            (false, None) => 0,
        };
        let op = VectorOp::from_name(name, k)
            .ok_or_else(|| self.invalid(start, format!("unknown aggregation {name}")))?;
        validate::vector_aggregation(op, grouping.is_some())
            .map_err(|reason| self.invalid(start, reason))?;
        self.check_depth(depth + 1, start)?;
        let expr = MetricExpr::VectorAggregation(VectorAggregation {
            op,
            grouping,
            expr: Box::new(inner),
        });
        Ok(Node::metric(expr, start, depth + 1))
    }

    /// `k` of `topk(k, ...)`: an integer (Go's `Atoi`) greater than 0.
    fn k(&self, name: &str, token: &Token) -> Result<u64> {
        let text = self.text(token);
        let k: i64 = text
            .parse()
            .map_err(|_| self.invalid(token.start, format!("invalid parameter {name}({text},")))?;
        u64::try_from(k).ok().filter(|k| *k > 0).ok_or_else(|| {
            let reason = format!("invalid parameter (must be greater than 0) {name}({text}");
            self.invalid(token.start, reason)
        })
    }

    /// `op([param,] logRange) [grouping]`, after the name.
    fn range_aggregation(&mut self, start: usize, op: RangeOp) -> Result<Node> {
        self.expect(&Tok::LParen, &["("])?;
        let parameter = self.parameter();
        let range = self.nested(|p| p.log_range())?;
        self.expect(&Tok::RParen, &[")"])?;
        let grouping = self.grouping()?;
        self.range_node(start, op, parameter, range, grouping)
    }

    /// Checks and builds a range aggregation.
    fn range_node(
        &self,
        start: usize,
        op: RangeOp,
        parameter: Option<Token>,
        range: LogRange,
        grouping: Option<Grouping>,
    ) -> Result<Node> {
        let name = op.name();
        let op = match (op, parameter) {
            (RangeOp::QuantileOverTime(_), Some(token)) => {
                RangeOp::QuantileOverTime(self.float(&token)?)
            }
            (RangeOp::QuantileOverTime(_), None) => {
                let reason = format!("parameter required for operation {name}");
                return Err(self.invalid(start, reason));
            }
            (_, Some(token)) => {
                let text = self.text(&token);
                let reason = format!("parameter {text} not supported for operation {name}");
                return Err(self.invalid(token.start, reason));
            }
            (op, None) => op,
        };
        validate::range_aggregation(op, grouping.is_some(), range.unwrap.is_some())
            .map_err(|reason| self.invalid(start, reason))?;
        let expr = MetricExpr::RangeAggregation(RangeAggregation {
            op,
            range,
            grouping,
        });
        Ok(Node::metric(expr, start, 1))
    }

    /// `(expr, "dst", "replacement", "src", "regex")`, after `label_replace`.
    fn label_replace(&mut self, start: usize) -> Result<Node> {
        self.expect(&Tok::LParen, &["("])?;
        let inner = self.nested(|p| p.expr())?;
        let strings = [
            self.comma_string()?,
            self.comma_string()?,
            self.comma_string()?,
            self.comma_string()?,
        ];
        self.expect(&Tok::RParen, &[")"])?;
        self.label_replace_node(start, inner, strings)
    }

    /// Checks and builds a `label_replace`.
    fn label_replace_node(
        &self,
        start: usize,
        inner: Node,
        strings: [(usize, String); 4],
    ) -> Result<Node> {
        let (inner, depth) = self.metric_operand(inner)?;
        let [(_, dst), (_, replacement), (_, src), (regex_at, regex)] = strings;
        validate::label_replace_regex(&regex).map_err(|reason| self.invalid(regex_at, reason))?;
        self.check_depth(depth + 1, start)?;
        let expr = MetricExpr::LabelReplace(LabelReplace {
            expr: Box::new(inner),
            dst,
            replacement,
            src,
            regex,
        });
        Ok(Node::metric(expr, start, depth + 1))
    }

    /// `, STRING`, and where the string starts.
    fn comma_string(&mut self) -> Result<(usize, String)> {
        self.expect(&Tok::Comma, &[","])?;
        let at = self.start();
        Ok((at, self.string()?))
    }
}
