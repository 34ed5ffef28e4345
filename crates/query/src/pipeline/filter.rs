//! Line filters: `|=`, `!=`, `|~`, `!~`, `|>`, `!>`, `or` chains and `ip()`.

use std::net::IpAddr;

use kelp_logql::ast::{LineFilter, LineFilterOp, LineFilterValue};
use memchr::memmem::Finder;

use crate::error::{QueryError, Result};
use crate::Limits;

/// A compiled line filter: the line passes when any alternative matches (for the
/// negative operators, when none does).
#[derive(Debug)]
pub(crate) struct LineFilterC {
    negative: bool,
    alts: Vec<Alt>,
}

#[derive(Debug)]
enum Alt {
    Text(Box<Finder<'static>>),
    Regex(regex::bytes::Regex),
    Pattern(LinePattern),
    Ip(IpMatcher),
}

impl LineFilterC {
    /// Compiles a filter.
    pub fn compile(f: &LineFilter, limits: &Limits) -> Result<Self> {
        let mut alts = Vec::with_capacity(f.values.len());
        for v in &f.values {
            alts.push(match (f.op, v) {
                (_, LineFilterValue::Ip(p)) => Alt::Ip(IpMatcher::parse(p)?),
                (LineFilterOp::Contains | LineFilterOp::NotContains, LineFilterValue::Text(t)) => {
                    Alt::Text(Box::new(Finder::new(t.as_bytes()).into_owned()))
                }
                (LineFilterOp::Match | LineFilterOp::NotMatch, LineFilterValue::Text(t)) => {
                    Alt::Regex(line_regex(t, limits)?)
                }
                (LineFilterOp::Pattern | LineFilterOp::NotPattern, LineFilterValue::Text(t)) => {
                    Alt::Pattern(LinePattern::parse(t)?)
                }
            });
        }
        Ok(Self {
            negative: f.op.is_negative(),
            alts,
        })
    }

    /// Whether the line passes.
    pub fn matches(&self, line: &[u8]) -> bool {
        let any = self.alts.iter().any(|a| match a {
            Alt::Text(f) => f.find(line).is_some(),
            Alt::Regex(r) => r.is_match(line),
            Alt::Pattern(p) => p.matches(line),
            Alt::Ip(m) => m.in_line(line),
        });
        any != self.negative
    }
}

/// Compiles a line-filter regex as Loki does: unanchored, `.` matching newlines.
pub(crate) fn line_regex(re: &str, limits: &Limits) -> Result<regex::bytes::Regex> {
    regex::bytes::RegexBuilder::new(&format!("(?s:{re})"))
        .size_limit(limits.max_regex_bytes)
        .build()
        .map_err(|e| QueryError::Invalid(format!("invalid line filter regex {re:?}: {e}")))
}

/// A `|>` pattern: literals and `<_>` wildcards.
#[derive(Debug)]
pub(crate) struct LinePattern {
    parts: Vec<Option<Vec<u8>>>,
}

impl LinePattern {
    fn parse(p: &str) -> Result<Self> {
        let mut parts: Vec<Option<Vec<u8>>> = Vec::new();
        for part in kelp_logql::pattern::parts(p) {
            match part {
                kelp_logql::pattern::Part::Literal(l) => parts.push(Some(l.as_bytes().to_vec())),
                kelp_logql::pattern::Part::Capture("_") => {
                    if matches!(parts.last(), Some(None)) {
                        return Err(QueryError::Invalid(format!(
                            "invalid pattern {p:?}: consecutive captures are not allowed"
                        )));
                    }
                    parts.push(None)
                }
                kelp_logql::pattern::Part::Capture(name) => {
                    return Err(QueryError::Invalid(format!(
                    "invalid pattern {p:?}: named capture <{name}> is not allowed in a line filter"
                )))
                }
            }
        }
        Ok(Self { parts })
    }

    fn matches(&self, line: &[u8]) -> bool {
        if line.is_empty() {
            return self.parts.is_empty();
        }
        let mut pos = 0;
        let mut wild = false;
        let n = self.parts.len();
        for (i, part) in self.parts.iter().enumerate() {
            match part {
                None => wild = true,
                Some(lit) => {
                    let from = pos + usize::from(wild);
                    if from > line.len() {
                        return false;
                    }
                    if i + 1 == n {
                        return line.ends_with(lit) && line.len() - lit.len() >= from;
                    }
                    match memchr::memmem::find(&line[from..], lit) {
                        Some(at) => pos = from + at + lit.len(),
                        None => return false,
                    }
                    wild = false;
                }
            }
        }
        !wild || pos < line.len()
    }
}

/// An `ip("...")` operand: an address, a range `a-b` or a CIDR.
#[derive(Debug, Clone)]
pub(crate) enum IpMatcher {
    Range(IpAddr, IpAddr),
    Cidr(IpAddr, u8),
}

impl IpMatcher {
    /// Parses the operand.
    pub fn parse(p: &str) -> Result<Self> {
        let bad = || QueryError::Invalid(format!("invalid ip matcher {p:?}"));
        let p = p.trim();
        if let Some((a, b)) = p.split_once('-') {
            let (a, b): (IpAddr, IpAddr) = (
                a.trim().parse().map_err(|_| bad())?,
                b.trim().parse().map_err(|_| bad())?,
            );
            if a.is_ipv4() != b.is_ipv4() {
                return Err(bad());
            }
            return Ok(Self::Range(a, b));
        }
        if let Some((a, bits)) = p.split_once('/') {
            let a: IpAddr = a.parse().map_err(|_| bad())?;
            let bits: u8 = bits.parse().map_err(|_| bad())?;
            let max = if a.is_ipv4() { 32 } else { 128 };
            if bits > max {
                return Err(bad());
            }
            return Ok(Self::Cidr(a, bits));
        }
        let a: IpAddr = p.parse().map_err(|_| bad())?;
        Ok(Self::Range(a, a))
    }

    /// Whether `ip` is in the set.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self, ip) {
            (Self::Range(a, b), ip) => a.is_ipv4() == ip.is_ipv4() && *a <= ip && ip <= *b,
            (Self::Cidr(IpAddr::V4(net), bits), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*bits)).unwrap_or(0);
                u32::from(*net) & mask == u32::from(ip) & mask
            }
            (Self::Cidr(IpAddr::V6(net), bits), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(*bits)).unwrap_or(0);
                u128::from(*net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// Whether the text is an address in the set.
    pub fn matches_str(&self, s: &str) -> bool {
        s.trim().parse().is_ok_and(|ip| self.contains(ip))
    }

    /// Whether the line contains an address in the set.
    fn in_line(&self, line: &[u8]) -> bool {
        let is_ip_char = |c: u8| c.is_ascii_hexdigit() || c == b'.' || c == b':';
        let mut i = 0;
        while i < line.len() {
            if !is_ip_char(line[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < line.len() && is_ip_char(line[i]) {
                i += 1;
            }
            let tok = std::str::from_utf8(&line[start..i]).unwrap_or("");
            let v4 = tok
                .contains('.')
                .then(|| tok.split(':').find(|p| p.contains('.')));
            if tok.len() >= 2
                && (self.matches_str(tok)
                    || self.matches_str(tok.trim_matches(':'))
                    || v4.flatten().is_some_and(|p| self.matches_str(p)))
            {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_loki_tests_show() {
        let p = |s: &str| LinePattern::parse(s).unwrap();
        assert!(!p("<_> bar").matches(b"foo bar baz"));
        assert!(p("<_> baz").matches(b"foo bar baz"));
        assert!(p("foo <_>").matches(b"foo bar baz"));
        assert!(!p("foo <_>").matches(b"foo "));
        assert!(p("").matches(b""));
        assert!(!p("x").matches(b""));
    }

    #[test]
    fn ip_ranges_and_cidrs() {
        let m = IpMatcher::parse("192.168.0.0/16").unwrap();
        assert!(m.in_line(b"from 192.168.4.5:80 ok"));
        assert!(!m.in_line(b"from 10.0.0.1 ok"));
        let r = IpMatcher::parse("10.0.0.1-10.0.0.5").unwrap();
        assert!(r.matches_str("10.0.0.3") && !r.matches_str("10.0.0.6"));
        assert!(IpMatcher::parse("::1").unwrap().in_line(b"addr ::1 here"));
    }
}
