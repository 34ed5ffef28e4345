//! Parsing the Go `text/template` subset: text, `{{ pipeline }}` actions with trim
//! markers, comments, and `if`/`else if`/`else`/`with`/`end`.

use crate::error::{QueryError, Result};

/// A template node.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    Action(Pipeline),
    If(Vec<(Pipeline, Vec<Node>)>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
}

/// `cmd | cmd | ...`: each command's result is the last argument of the next.
pub(crate) type Pipeline = Vec<Command>;

/// A function call or a single operand.
#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub args: Vec<Arg>,
}

/// An operand.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// `.name` (empty name: `.`).
    Field(String),
    Str(String),
    Num(f64),
    Bool(bool),
    /// A function name.
    Ident(String),
    Sub(Pipeline),
}

fn err(msg: impl std::fmt::Display) -> QueryError {
    QueryError::Invalid(format!("invalid template: {msg}"))
}

/// Parses the whole template.
pub(crate) fn parse(src: &str) -> Result<Vec<Node>> {
    let mut actions = Vec::new();
    let mut rest = src;
    let mut text = String::new();
    while let Some(open) = rest.find("{{") {
        text.push_str(&rest[..open]);
        let mut body = &rest[open + 2..];
        if let Some(b) = body.strip_prefix("- ") {
            text.truncate(text.trim_end().len());
            body = b;
        }
        let close = find_close(body).ok_or_else(|| err("unclosed action"))?;
        let mut inner = &body[..close];
        let mut after = &body[close + 2..];
        if let Some(i) = inner.strip_suffix(" -") {
            inner = i;
            after = after.trim_start();
        }
        actions.push(Tok::Text(std::mem::take(&mut text)));
        let inner = inner.trim();
        if !(inner.starts_with("/*") && inner.ends_with("*/")) {
            actions.push(Tok::Action(inner.to_owned()));
        }
        rest = after;
    }
    text.push_str(rest);
    actions.push(Tok::Text(text));
    let mut it = actions.into_iter().peekable();
    let (nodes, end) = block(&mut it)?;
    if end.is_some() {
        return Err(err("unexpected {{end}} or {{else}}"));
    }
    Ok(nodes)
}

/// Finds `}}` outside string literals.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'}' if b[i + 1] == b'}' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

enum Tok {
    Text(String),
    Action(String),
}

type Toks = std::iter::Peekable<std::vec::IntoIter<Tok>>;

/// Parses nodes up to `{{end}}`/`{{else ...}}` (returned) or the end.
fn block(it: &mut Toks) -> Result<(Vec<Node>, Option<String>)> {
    let mut out = Vec::new();
    while let Some(t) = it.next() {
        match t {
            Tok::Text(s) if !s.is_empty() => out.push(Node::Text(s)),
            Tok::Text(_) => {}
            Tok::Action(a) => {
                let word = a.split_whitespace().next().unwrap_or("");
                match word {
                    "end" | "else" => return Ok((out, Some(a))),
                    "if" => out.push(if_node(&a[2..], it)?),
                    "with" => {
                        let p = pipeline(&a[4..])?;
                        let (body, end) = block(it)?;
                        let els = match end.as_deref().map(str::trim) {
                            Some("else") => expect_end(it)?,
                            Some("end") => Vec::new(),
                            _ => return Err(err("unclosed with")),
                        };
                        out.push(Node::With(p, body, els));
                    }
                    "range" | "define" | "template" | "block" => {
                        return Err(err(format!("{word} is not supported")))
                    }
                    _ => out.push(Node::Action(pipeline(&a)?)),
                }
            }
        }
    }
    Ok((out, None))
}

fn expect_end(it: &mut Toks) -> Result<Vec<Node>> {
    let (nodes, end) = block(it)?;
    match end.as_deref().map(str::trim) {
        Some("end") => Ok(nodes),
        _ => Err(err("missing {{end}}")),
    }
}

fn if_node(cond: &str, it: &mut Toks) -> Result<Node> {
    let mut branches = vec![];
    let mut cond = pipeline(cond)?;
    loop {
        let (body, end) = block(it)?;
        branches.push((cond, body));
        let end = end.ok_or_else(|| err("unclosed if"))?;
        let end = end.trim();
        if end == "end" {
            return Ok(Node::If(branches, Vec::new()));
        }
        let rest = end.strip_prefix("else").unwrap_or("").trim();
        if rest.is_empty() {
            return Ok(Node::If(branches, expect_end(it)?));
        }
        let c = rest.strip_prefix("if").ok_or_else(|| err("bad else"))?;
        cond = pipeline(c)?;
    }
}

/// Parses `a | b c | d`.
pub(crate) fn pipeline(src: &str) -> Result<Pipeline> {
    let toks = lex(src)?;
    let mut pos = 0;
    let p = pipe(&toks, &mut pos)?;
    if pos != toks.len() {
        return Err(err(format!("unexpected {:?} in {src:?}", toks[pos])));
    }
    Ok(p)
}

#[derive(Debug, Clone, PartialEq)]
enum Lx {
    Field(String),
    Str(String),
    Num(f64),
    Ident(String),
    Pipe,
    Open,
    Close,
}

fn lex(s: &str) -> Result<Vec<Lx>> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '|' | '(' | ')' => {
                chars.next();
                out.push(match c {
                    '|' => Lx::Pipe,
                    '(' => Lx::Open,
                    _ => Lx::Close,
                });
            }
            '"' => {
                let end = find_quote(&s[i + 1..]).ok_or_else(|| err("unterminated string"))?;
                let lit = &s[i..i + end + 2];
                out.push(Lx::Str(unquote(lit)?));
                while chars.peek().is_some_and(|(j, _)| *j < i + end + 2) {
                    chars.next();
                }
            }
            '`' => {
                let end = s[i + 1..]
                    .find('`')
                    .ok_or_else(|| err("unterminated raw string"))?;
                out.push(Lx::Str(s[i + 1..i + 1 + end].to_owned()));
                while chars.peek().is_some_and(|(j, _)| *j < i + end + 2) {
                    chars.next();
                }
            }
            _ => {
                let end = s[i..]
                    .find(|c: char| c.is_whitespace() || matches!(c, '|' | '(' | ')'))
                    .map_or(s.len(), |e| e + i);
                let word = &s[i..end];
                while chars.peek().is_some_and(|(j, _)| *j < end) {
                    chars.next();
                }
                out.push(if let Some(f) = word.strip_prefix('.') {
                    Lx::Field(f.to_owned())
                } else if let Ok(n) = word.parse::<f64>() {
                    Lx::Num(n)
                } else if word.starts_with(|c: char| c.is_alphabetic() || c == '_') {
                    Lx::Ident(word.to_owned())
                } else {
                    return Err(err(format!("unexpected {word:?}")));
                });
            }
        }
    }
    Ok(out)
}

fn find_quote(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn unquote(lit: &str) -> Result<String> {
    let inner = &lit[1..lit.len() - 1];
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(c @ ('\\' | '"' | '\'')) => out.push(c),
            _ => return Err(err(format!("bad escape in {lit}"))),
        }
    }
    Ok(out)
}

fn pipe(t: &[Lx], pos: &mut usize) -> Result<Pipeline> {
    let mut cmds = Vec::new();
    loop {
        let mut args = Vec::new();
        while let Some(tok) = t.get(*pos) {
            *pos += 1;
            args.push(match tok {
                Lx::Pipe | Lx::Close => {
                    *pos -= 1;
                    break;
                }
                Lx::Field(f) => Arg::Field(f.clone()),
                Lx::Str(s) => Arg::Str(s.clone()),
                Lx::Num(n) => Arg::Num(*n),
                Lx::Ident(i) if i == "true" || i == "false" => Arg::Bool(i == "true"),
                Lx::Ident(i) => Arg::Ident(i.clone()),
                Lx::Open => {
                    let p = pipe(t, pos)?;
                    if t.get(*pos) != Some(&Lx::Close) {
                        return Err(err("missing )"));
                    }
                    *pos += 1;
                    Arg::Sub(p)
                }
            });
        }
        if args.is_empty() {
            return Err(err("empty command"));
        }
        cmds.push(Command { args });
        if t.get(*pos) == Some(&Lx::Pipe) {
            *pos += 1;
        } else {
            return Ok(cmds);
        }
    }
}
