//! Kubernetes label selectors (`-l`, `labelSelector`) with apimachinery's grammar and
//! semantics (`k8s.io/apimachinery/pkg/labels/selector.go`): requirements joined by
//! commas (all must hold), each `key`, `!key`, `key=v`, `key==v`, `key!=v`,
//! `key in (a,b)`, `key notin (a,b)`, `key>n` or `key<n`; whitespace between tokens is
//! ignored. `!=` and `notin` hold for objects without the key; `>`/`<` need the key
//! with an integer value. Keys must be qualified names (an optional DNS subdomain
//! prefix and `/`, then at most 63 characters of `[A-Za-z0-9._-]` starting and ending
//! alphanumeric), values empty or such a name; `in`/`notin` need at least one value.

use std::collections::BTreeMap;

/// One requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Req {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
    Gt(String, i64),
    Lt(String, i64),
}

/// A parsed selector; the empty selector selects everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector(Vec<Req>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Not,
    NotEq,
    Eq,
    DoubleEq,
    In,
    NotIn,
    Open,
    Close,
    Comma,
    Gt,
    Lt,
    End,
}

impl Tok {
    fn show(&self) -> String {
        match self {
            Tok::Ident(s) => s.clone(),
            Tok::Not => "!".into(),
            Tok::NotEq => "!=".into(),
            Tok::Eq => "=".into(),
            Tok::DoubleEq => "==".into(),
            Tok::In => "in".into(),
            Tok::NotIn => "notin".into(),
            Tok::Open => "(".into(),
            Tok::Close => ")".into(),
            Tok::Comma => ",".into(),
            Tok::Gt => ">".into(),
            Tok::Lt => "<".into(),
            Tok::End => "end of string".into(),
        }
    }
}

fn lex(text: &str) -> Vec<Tok> {
    let special = |c: char| matches!(c, '!' | '=' | '>' | '<' | '(' | ')' | ',');
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if special(c) {
            chars.next();
            let next_eq = chars.peek() == Some(&'=');
            out.push(match c {
                '!' if next_eq => {
                    chars.next();
                    Tok::NotEq
                }
                '!' => Tok::Not,
                '=' if next_eq => {
                    chars.next();
                    Tok::DoubleEq
                }
                '=' => Tok::Eq,
                '>' => Tok::Gt,
                '<' => Tok::Lt,
                '(' => Tok::Open,
                ')' => Tok::Close,
                _ => Tok::Comma,
            });
            continue;
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || special(c) {
                break;
            }
            word.push(c);
            chars.next();
        }
        out.push(match word.as_str() {
            "in" => Tok::In,
            "notin" => Tok::NotIn,
            _ => Tok::Ident(word),
        });
    }
    out.push(Tok::End);
    out
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.toks.get(self.pos).unwrap_or(&Tok::End)
    }

    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        self.pos += 1;
        t
    }

    fn unexpected(found: &Tok, expected: &str) -> String {
        format!("found '{}', expected: {expected}", found.show())
    }

    fn key(&mut self) -> Result<String, String> {
        match self.next() {
            Tok::Ident(k) => {
                valid_key(&k)?;
                Ok(k)
            }
            t => Err(Self::unexpected(&t, "identifier")),
        }
    }

    fn requirement(&mut self) -> Result<Req, String> {
        if *self.peek() == Tok::Not {
            self.next();
            return Ok(Req::NotExists(self.key()?));
        }
        let key = self.key()?;
        match self.peek().clone() {
            Tok::Comma | Tok::End => Ok(Req::Exists(key)),
            Tok::Eq | Tok::DoubleEq | Tok::NotEq => {
                let op = self.next();
                let value = match self.peek().clone() {
                    // `key=` selects the empty value.
                    Tok::Comma | Tok::End => String::new(),
                    Tok::Ident(v) => {
                        self.next();
                        v
                    }
                    t => return Err(Self::unexpected(&t, "identifier")),
                };
                valid_value(&value)?;
                Ok(if op == Tok::NotEq {
                    Req::NotIn(key, vec![value])
                } else {
                    Req::In(key, vec![value])
                })
            }
            Tok::In | Tok::NotIn => {
                let op = self.next();
                let values = self.values()?;
                if values.is_empty() {
                    return Err("for 'in', 'notin' operators, values set can't be empty".to_owned());
                }
                Ok(if op == Tok::In {
                    Req::In(key, values)
                } else {
                    Req::NotIn(key, values)
                })
            }
            Tok::Gt | Tok::Lt => {
                let op = self.next();
                let n = match self.next() {
                    Tok::Ident(v) => v.parse::<i64>().map_err(|_| {
                        format!("for 'Gt', 'Lt' operators, the value must be an integer: {v:?}")
                    })?,
                    t => return Err(Self::unexpected(&t, "identifier")),
                };
                Ok(if op == Tok::Gt {
                    Req::Gt(key, n)
                } else {
                    Req::Lt(key, n)
                })
            }
            t => Err(Self::unexpected(
                &t,
                "'=', '!=', '==', 'in', 'notin', '>', '<', ',' or end of string",
            )),
        }
    }

    /// `( v, v, ... )`; an empty place between commas is the empty value.
    fn values(&mut self) -> Result<Vec<String>, String> {
        match self.next() {
            Tok::Open => {}
            t => return Err(Self::unexpected(&t, "'('")),
        }
        let mut out = Vec::new();
        if *self.peek() == Tok::Close {
            self.next();
            return Ok(out);
        }
        loop {
            let v = match self.peek().clone() {
                Tok::Ident(v) => {
                    self.next();
                    v
                }
                Tok::Comma | Tok::Close => String::new(),
                t => return Err(Self::unexpected(&t, "identifier")),
            };
            valid_value(&v)?;
            out.push(v);
            match self.next() {
                Tok::Comma => {}
                Tok::Close => return Ok(out),
                t => return Err(Self::unexpected(&t, "',' or ')'")),
            }
        }
    }
}

impl Selector {
    /// Parses `text`.
    ///
    /// # Errors
    ///
    /// A message saying what was found where and what was expected, or which key or
    /// value is invalid.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut p = Parser {
            toks: lex(text),
            pos: 0,
        };
        let mut reqs = Vec::new();
        if *p.peek() == Tok::End {
            return Ok(Self(reqs));
        }
        loop {
            let r = p
                .requirement()
                .map_err(|why| format!("unable to parse requirement: {why}"))?;
            reqs.push(r);
            match p.next() {
                Tok::Comma => {}
                Tok::End => return Ok(Self(reqs)),
                t => {
                    return Err(format!(
                        "unable to parse requirement: {}",
                        Parser::unexpected(&t, "',' or end of string")
                    ))
                }
            }
        }
    }

    /// Whether the selector has no requirement (it selects everything).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let int = |k: &str| labels.get(k).and_then(|v| v.parse::<i64>().ok());
        self.0.iter().all(|r| match r {
            Req::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Req::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Req::Exists(k) => labels.contains_key(k),
            Req::NotExists(k) => !labels.contains_key(k),
            Req::Gt(k, n) => int(k).is_some_and(|v| v > *n),
            Req::Lt(k, n) => int(k).is_some_and(|v| v < *n),
        })
    }
}

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, at most 63 characters.
fn is_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A DNS-1123 subdomain: at most 253 characters, dot-separated lowercase labels.
fn is_subdomain(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase() || *c == b'-')
        })
}

fn valid_key(k: &str) -> Result<(), String> {
    let ok = match k.split_once('/') {
        Some((prefix, name)) => is_subdomain(prefix) && is_name(name),
        None => is_name(k),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid label key {k:?}: a qualified name is at most 63 alphanumeric characters, '-', '_' or '.', starting and ending alphanumeric, with an optional DNS subdomain prefix and '/'"
        ))
    }
}

fn valid_value(v: &str) -> Result<(), String> {
    if v.is_empty() || is_name(v) {
        Ok(())
    } else {
        Err(format!(
            "invalid label value {v:?}: at most 63 alphanumeric characters, '-', '_' or '.', starting and ending alphanumeric"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// The cases of apimachinery's `TestSelectorMatches`, `TestLexerSequence` and
    /// `TestParse` that Kelp's pods meet, against Kubernetes' answers.
    #[test]
    fn selectors_match_as_kubernetes_does() {
        let l = labels(&[
            ("app", "web"),
            ("tier", "front"),
            ("app.kubernetes.io/name", "shop"),
            ("replicas", "3"),
            ("empty", ""),
        ]);
        for (sel, want) in [
            ("", true),
            ("   ", true),
            ("app=web", true),
            ("app = web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app=api", false),
            ("app in (api, web)", true),
            ("app in(web)", true),
            ("app notin (api,web)", false),
            ("app notin (api)", true),
            ("tier", true),
            ("!tier", false),
            ("! tier", false),
            ("!missing", true),
            ("app=web,tier=front", true),
            ("app=web, tier=back", false),
            ("missing!=x", true),
            ("missing notin (x)", true),
            ("missing in (x)", false),
            ("missing=x", false),
            ("app.kubernetes.io/name=shop", true),
            ("app.kubernetes.io/name in (shop,db)", true),
            ("empty=", true),
            ("empty in (,x)", true),
            ("app=", false),
            ("replicas>2", true),
            ("replicas<3", false),
            ("app>1", false),
            ("missing<5", false),
        ] {
            assert_eq!(Selector::parse(sel).unwrap().matches(&l), want, "{sel}");
        }
        for bad in [
            "app=we b",
            "app in web",
            "app ~ x",
            "a=(b",
            "app in ()",
            "!app=web",
            "x=y=z",
            ",",
            "app,",
            "-app=x",
            "app=-x",
            "Bad_Prefix/app=x",
            "replicas>x",
            "a/b/c=d",
        ] {
            assert!(Selector::parse(bad).is_err(), "{bad}");
        }
        let e = Selector::parse("app=we b").unwrap_err();
        assert_eq!(
            e,
            "unable to parse requirement: found 'b', expected: ',' or end of string"
        );
        let long = format!("app={}", "a".repeat(64));
        assert!(Selector::parse(&long).is_err());
        assert!(Selector::parse(&format!("app={}", "a".repeat(63))).is_ok());
    }
}
