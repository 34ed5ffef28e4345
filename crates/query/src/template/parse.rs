//! Parsing the Go `text/template` subset: text, `{{ pipeline }}` actions with trim
//! markers, comments, variables (`$x := ...`, `$x = ...`, `$`), `if`/`else if`/`else`/
//! `with`/`range`/`break`/`continue`/`end`, and `define`/`template`/`block`.

use std::collections::HashMap;

use crate::error::{QueryError, Result};

/// A template node.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    /// An action; one that declares or assigns variables prints nothing.
    Action(Pipeline),
    If(Vec<(Pipeline, Vec<Node>)>, Vec<Node>),
    With(Pipeline, Vec<Node>, Vec<Node>),
    /// `range [$k[, $v] :=] pipeline`, its body and its `else`.
    Range(Pipeline, Vec<Node>, Vec<Node>),
    Break,
    Continue,
    /// `template "name" [pipeline]`.
    Template(String, Option<Pipeline>),
}

/// `[$a[, $b] :=|=] cmd | cmd | ...`: each command's result is the last argument of the
/// next.
#[derive(Debug, Clone, Default)]
pub(crate) struct Pipeline {
    /// Variables declared (`:=`) or assigned (`=`), without the `$`.
    pub vars: Vec<String>,
    /// `=` rather than `:=`.
    pub assign: bool,
    pub cmds: Vec<Command>,
}

/// A function call or a single operand.
#[derive(Debug, Clone)]
pub(crate) struct Command {
    pub args: Vec<Arg>,
}

/// An operand.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// `.a.b` (empty path: `.`).
    Field(Vec<String>),
    /// `$x.a.b`; the name is empty for `$`.
    Var(String, Vec<String>),
    Str(String),
    Num(f64),
    Bool(bool),
    /// A function name.
    Ident(String),
    Sub(Pipeline),
}

/// A parsed template: its body and the templates it defines.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parsed {
    pub nodes: Vec<Node>,
    pub defs: HashMap<String, Vec<Node>>,
}

fn err(msg: impl std::fmt::Display) -> QueryError {
    QueryError::Invalid(format!("invalid template: {msg}"))
}

/// Parses the whole template.
pub(crate) fn parse(src: &str) -> Result<Parsed> {
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
    let mut p = Parser {
        it: actions.into_iter().peekable(),
        defs: HashMap::new(),
        loops: 0,
        depth: 0,
    };
    let (nodes, end) = p.block(true)?;
    if end.is_some() {
        return Err(err("unexpected {{end}} or {{else}}"));
    }
    Ok(Parsed {
        nodes,
        defs: p.defs,
    })
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

/// Control structures nest at most this deep (a bound for hostile queries).
const MAX_NESTING: u32 = 100;

struct Parser {
    it: Toks,
    defs: HashMap<String, Vec<Node>>,
    /// `range` bodies open around the current node (`break`/`continue` need one).
    loops: u32,
    depth: u32,
}

impl Parser {
    /// Parses nodes up to `{{end}}`/`{{else ...}}` (returned) or the end; `top` allows
    /// `define`.
    fn block(&mut self, top: bool) -> Result<(Vec<Node>, Option<String>)> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(err("control structures nested too deeply"));
        }
        let r = self.block_inner(top);
        self.depth -= 1;
        r
    }

    fn block_inner(&mut self, top: bool) -> Result<(Vec<Node>, Option<String>)> {
        let mut out = Vec::new();
        while let Some(t) = self.it.next() {
            match t {
                Tok::Text(s) if !s.is_empty() => out.push(Node::Text(s)),
                Tok::Text(_) => {}
                Tok::Action(a) => {
                    let word = a
                        .split(|c: char| c.is_whitespace() || c == '"' || c == '`')
                        .next()
                        .unwrap_or("");
                    let rest = &a[word.len()..];
                    match word {
                        "end" | "else" => return Ok((out, Some(a))),
                        "if" => out.push(self.if_node(rest)?),
                        "with" => {
                            let p = single(pipeline(rest)?)?;
                            let (body, els) = self.body_else("with")?;
                            out.push(Node::With(p, body, els));
                        }
                        "range" => {
                            let p = pipeline(rest)?;
                            if p.assign || p.vars.len() > 2 {
                                return Err(err("range can only declare one or two variables"));
                            }
                            self.loops += 1;
                            let (body, end) = self.block(false)?;
                            self.loops -= 1;
                            let els = self.finish_else("range", end)?;
                            out.push(Node::Range(p, body, els));
                        }
                        "break" | "continue" if rest.trim().is_empty() => {
                            if self.loops == 0 {
                                return Err(err(format!("{{{{{word}}}}} outside {{{{range}}}}")));
                            }
                            out.push(if word == "break" {
                                Node::Break
                            } else {
                                Node::Continue
                            });
                        }
                        "template" => {
                            let (name, p) = name_and_pipeline(rest, "template")?;
                            out.push(Node::Template(name, p));
                        }
                        "define" | "block" => {
                            if !top && word == "define" {
                                return Err(err("{{define}} is only allowed at the top level"));
                            }
                            let (name, p) = name_and_pipeline(rest, word)?;
                            if word == "define" && p.is_some() {
                                return Err(err("{{define}} takes only a name"));
                            }
                            let saved = std::mem::take(&mut self.loops);
                            let (body, end) = self.block(false)?;
                            self.loops = saved;
                            if end.as_deref().map(str::trim) != Some("end") {
                                return Err(err(format!("unclosed {word}")));
                            }
                            if word == "block" {
                                out.push(Node::Template(name.clone(), p));
                            }
                            self.defs.insert(name, body);
                        }
                        _ => out.push(Node::Action(single(pipeline(&a)?)?)),
                    }
                }
            }
        }
        Ok((out, None))
    }

    /// The body of `with`/`range` and its optional `else`, up to `{{end}}`.
    fn body_else(&mut self, what: &str) -> Result<(Vec<Node>, Vec<Node>)> {
        let (body, end) = self.block(false)?;
        Ok((body, self.finish_else(what, end)?))
    }

    fn finish_else(&mut self, what: &str, end: Option<String>) -> Result<Vec<Node>> {
        match end.as_deref().map(str::trim) {
            Some("else") => self.expect_end(),
            Some("end") => Ok(Vec::new()),
            _ => Err(err(format!("unclosed {what}"))),
        }
    }

    fn expect_end(&mut self) -> Result<Vec<Node>> {
        let (nodes, end) = self.block(false)?;
        match end.as_deref().map(str::trim) {
            Some("end") => Ok(nodes),
            _ => Err(err("missing {{end}}")),
        }
    }

    fn if_node(&mut self, cond: &str) -> Result<Node> {
        let mut branches = vec![];
        let mut cond = single(pipeline(cond)?)?;
        loop {
            let (body, end) = self.block(false)?;
            branches.push((cond, body));
            let end = end.ok_or_else(|| err("unclosed if"))?;
            let end = end.trim();
            if end == "end" {
                return Ok(Node::If(branches, Vec::new()));
            }
            let rest = end.strip_prefix("else").unwrap_or("").trim();
            if rest.is_empty() {
                return Ok(Node::If(branches, self.expect_end()?));
            }
            let c = rest.strip_prefix("if").ok_or_else(|| err("bad else"))?;
            cond = single(pipeline(c)?)?;
        }
    }
}

/// A pipeline outside `range` declares at most one variable.
fn single(p: Pipeline) -> Result<Pipeline> {
    if p.vars.len() > 1 {
        return Err(err("too many declarations in command"));
    }
    Ok(p)
}

/// `"name" [pipeline]` of `template`, `define` and `block`.
fn name_and_pipeline(src: &str, what: &str) -> Result<(String, Option<Pipeline>)> {
    let toks = lex(src)?;
    let Some(Lx::Str(name)) = toks.first() else {
        return Err(err(format!("{what} needs a quoted template name")));
    };
    if toks.len() == 1 {
        return Ok((name.clone(), None));
    }
    let mut pos = 1;
    let p = pipe(&toks, &mut pos)?;
    if pos != toks.len() {
        return Err(err(format!("unexpected {:?} in {src:?}", toks[pos])));
    }
    Ok((name.clone(), Some(p)))
}

/// Parses `a | b c | d`.
pub(crate) fn pipeline(src: &str) -> Result<Pipeline> {
    let toks = lex(src)?;
    let mut pos = 0;
    let mut vars = Vec::new();
    let mut assign = false;
    // `$a :=`, `$a, $b :=` or `$a =` before the commands.
    while let Some(Lx::Var(name, fields)) = toks.get(pos) {
        let next = toks.get(pos + 1);
        if !fields.is_empty() || !matches!(next, Some(Lx::Declare | Lx::Assign | Lx::Comma)) {
            break;
        }
        vars.push(name.clone());
        pos += 1;
        match toks.get(pos) {
            Some(Lx::Comma) => pos += 1,
            Some(t) => {
                assign = *t == Lx::Assign;
                pos += 1;
                break;
            }
            None => {}
        }
    }
    if !vars.is_empty() && !matches!(toks.get(pos - 1), Some(Lx::Declare | Lx::Assign)) {
        return Err(err(format!("bad variable declaration in {src:?}")));
    }
    if vars.iter().any(String::is_empty) {
        return Err(err("cannot assign to $"));
    }
    let mut p = pipe(&toks, &mut pos)?;
    if pos != toks.len() {
        return Err(err(format!("unexpected {:?} in {src:?}", toks[pos])));
    }
    p.vars = vars;
    p.assign = assign;
    Ok(p)
}

#[derive(Debug, Clone, PartialEq)]
enum Lx {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Declare,
    Assign,
    Comma,
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
            '|' | '(' | ')' | ',' | '=' => {
                chars.next();
                out.push(match c {
                    '|' => Lx::Pipe,
                    '(' => Lx::Open,
                    ',' => Lx::Comma,
                    '=' => Lx::Assign,
                    _ => Lx::Close,
                });
            }
            ':' => {
                chars.next();
                if chars.next_if(|&(_, c)| c == '=').is_none() {
                    return Err(err("unexpected \":\""));
                }
                out.push(Lx::Declare);
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
                    .find(|c: char| {
                        c.is_whitespace() || matches!(c, '|' | '(' | ')' | ',' | '=' | ':')
                    })
                    .map_or(s.len(), |e| e + i);
                let word = &s[i..end];
                while chars.peek().is_some_and(|(j, _)| *j < end) {
                    chars.next();
                }
                out.push(if let Some(f) = word.strip_prefix('.') {
                    Lx::Field(path(f)?)
                } else if let Some(v) = word.strip_prefix('$') {
                    let (name, rest) = v.split_at(v.find('.').unwrap_or(v.len()));
                    if !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                        return Err(err(format!("bad variable name {word:?}")));
                    }
                    let fields = match rest.strip_prefix('.') {
                        Some(f) => path(f)?,
                        None => Vec::new(),
                    };
                    Lx::Var(name.to_owned(), fields)
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

/// `a.b.c` (after the leading dot) as its fields; empty for `.`.
fn path(f: &str) -> Result<Vec<String>> {
    if f.is_empty() {
        return Ok(Vec::new());
    }
    let fields: Vec<String> = f.split('.').map(str::to_owned).collect();
    if fields.iter().any(String::is_empty) {
        return Err(err(format!("bad field name .{f}")));
    }
    Ok(fields)
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
                Lx::Declare | Lx::Assign | Lx::Comma => {
                    return Err(err("unexpected declaration or comma"))
                }
                Lx::Field(f) => Arg::Field(f.clone()),
                Lx::Var(n, f) => Arg::Var(n.clone(), f.clone()),
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
            return Ok(Pipeline {
                cmds,
                ..Pipeline::default()
            });
        }
    }
}
