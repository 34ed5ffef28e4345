//! The Go `text/template` subset of `line_format` and `label_format`: `{{.label}}`,
//! pipelines, variables (`$x := ...`, `$x = ...`, `$`), `if`/`else if`/`else`/`with`/
//! `range` (maps, lists, integers; `break`/`continue`/`else`), `define`/`template`/`block`,
//! comments, trim markers, `__line__`, `__timestamp__`, and the functions Loki documents
//! (see [`funcs`]).
//!
//! Data is the row's labels, read with `missingkey=zero` (a missing label is `""`).
//! Rendering is bounded: a template runs at most [`MAX_STEPS`] range iterations and
//! template calls per line, nested at most [`MAX_CALL_DEPTH`] deep; past that the line
//! gets a `TemplateFormatErr`, never a hang.

mod funcs;
mod parse;
mod text;
mod value;

use std::collections::HashMap;

use parse::{Arg, Node, Pipeline};
pub(crate) use value::Value;

use crate::error::Result;
use crate::pipeline::Row;

/// Range iterations and template calls allowed in one rendering.
pub(crate) const MAX_STEPS: u32 = 100_000;
/// `{{template}}` calls nested deeper than this are an error (recursion).
pub(crate) const MAX_CALL_DEPTH: u32 = 64;

/// A parsed template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    nodes: Vec<Node>,
    defs: HashMap<String, Vec<Node>>,
    /// The whole template is plain text.
    literal: Option<String>,
}

impl Template {
    /// Parses a template; an invalid one is a query error.
    pub fn parse(src: &str) -> Result<Self> {
        let parsed = parse::parse(src)?;
        let literal = match parsed.nodes.as_slice() {
            [] => Some(String::new()),
            [Node::Text(t)] => Some(t.clone()),
            _ => None,
        };
        Ok(Self {
            nodes: parsed.nodes,
            defs: parsed.defs,
            literal,
        })
    }

    /// Renders the template for a row; `Err` carries the message for
    /// `__error_details__`.
    pub fn render(&self, row: &Row<'_>) -> Result<String, String> {
        if let Some(l) = &self.literal {
            return Ok(l.clone());
        }
        let mut out = String::new();
        let mut x = Exec {
            row,
            defs: &self.defs,
            vars: vec![(String::new(), Value::Nil)],
            steps: 0,
            depth: 0,
        };
        x.nodes(&self.nodes, &Value::Nil, &mut out)?;
        Ok(out)
    }
}

/// What a node tells the enclosing `range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Next,
    Break,
    Continue,
}

/// One rendering: the row, the defined templates, the variables in scope (innermost
/// last; `$` first) and the step budget. A dot of `Nil` is the row's labels.
struct Exec<'r, 'a> {
    row: &'r Row<'a>,
    defs: &'r HashMap<String, Vec<Node>>,
    vars: Vec<(String, Value)>,
    steps: u32,
    depth: u32,
}

impl Exec<'_, '_> {
    fn step(&mut self) -> Result<(), String> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(format!(
                "template ran more than {MAX_STEPS} range iterations and template calls"
            ));
        }
        Ok(())
    }

    /// Renders `nodes` in a scope of their own (variables declared inside end with it).
    fn nodes(&mut self, nodes: &[Node], dot: &Value, out: &mut String) -> Result<Flow, String> {
        let mark = self.vars.len();
        let r = self.nodes_in_scope(nodes, dot, out);
        self.vars.truncate(mark);
        r
    }

    fn nodes_in_scope(
        &mut self,
        nodes: &[Node],
        dot: &Value,
        out: &mut String,
    ) -> Result<Flow, String> {
        for n in nodes {
            let flow = match n {
                Node::Text(t) => {
                    out.push_str(t);
                    Flow::Next
                }
                Node::Action(p) => {
                    let v = self.pipeline(p, dot)?;
                    if p.vars.is_empty() {
                        out.push_str(&v.to_text());
                    } else {
                        self.bind(p, v)?;
                    }
                    Flow::Next
                }
                Node::If(branches, els) => self.if_node(branches, els, dot, out)?,
                Node::With(p, body, els) => {
                    let mark = self.vars.len();
                    let v = self.pipeline(p, dot)?;
                    let flow = if v.truthy() {
                        self.bind(p, v.clone())?;
                        self.nodes(body, &v, out)
                    } else {
                        self.nodes(els, dot, out)
                    };
                    self.vars.truncate(mark);
                    flow?
                }
                Node::Range(p, body, els) => {
                    let mark = self.vars.len();
                    let flow = self.range(p, body, els, dot, out);
                    self.vars.truncate(mark);
                    flow?
                }
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
                Node::Template(name, p) => {
                    self.call(name, p.as_ref(), dot, out)?;
                    Flow::Next
                }
            };
            if flow != Flow::Next {
                return Ok(flow);
            }
        }
        Ok(Flow::Next)
    }

    fn if_node(
        &mut self,
        branches: &[(Pipeline, Vec<Node>)],
        els: &[Node],
        dot: &Value,
        out: &mut String,
    ) -> Result<Flow, String> {
        let mark = self.vars.len();
        let r = (|| {
            for (cond, body) in branches {
                let v = self.pipeline(cond, dot)?;
                let truthy = v.truthy();
                if !cond.vars.is_empty() {
                    self.bind(cond, v)?;
                }
                if truthy {
                    return self.nodes(body, dot, out);
                }
            }
            self.nodes(els, dot, out)
        })();
        self.vars.truncate(mark);
        r
    }

    fn range(
        &mut self,
        p: &Pipeline,
        body: &[Node],
        els: &[Node],
        dot: &Value,
        out: &mut String,
    ) -> Result<Flow, String> {
        let v = if p.cmds.len() == 1 && is_root(&p.cmds[0].args, dot) {
            self.root()
        } else {
            self.pipeline(p, dot)?
        };
        let items: Vec<(Value, Value)> = match v {
            Value::Map(m) => m.into_iter().map(|(k, v)| (Value::Str(k), v)).collect(),
            Value::List(l) => l
                .into_iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v))
                .collect(),
            Value::Int(_) | Value::Num(_) => {
                let n = v.to_i64().max(0);
                if n > i64::from(MAX_STEPS) {
                    return Err(format!("range over {n}: too many iterations"));
                }
                (0..n).map(|i| (Value::Int(i), Value::Int(i))).collect()
            }
            Value::Nil => Vec::new(),
            other => return Err(format!("range can't iterate over {}", funcs::kind(&other))),
        };
        if items.is_empty() {
            return self.nodes(els, dot, out);
        }
        let mark = self.vars.len();
        for (k, v) in items {
            self.step()?;
            self.vars.truncate(mark);
            match p.vars.as_slice() {
                [e] => self.vars.push((e.clone(), v.clone())),
                [i, e] => {
                    self.vars.push((i.clone(), k));
                    self.vars.push((e.clone(), v.clone()));
                }
                _ => {}
            }
            if self.nodes(body, &v, out)? == Flow::Break {
                break;
            }
        }
        Ok(Flow::Next)
    }

    /// `{{template "name" pipeline}}`: runs the definition with the value as dot and as `$`.
    fn call(
        &mut self,
        name: &str,
        p: Option<&Pipeline>,
        dot: &Value,
        out: &mut String,
    ) -> Result<(), String> {
        let body = self
            .defs
            .get(name)
            .ok_or_else(|| format!("no such template {name:?}"))?;
        self.step()?;
        if self.depth >= MAX_CALL_DEPTH {
            return Err(format!(
                "template {name:?} calls nested more than {MAX_CALL_DEPTH} deep"
            ));
        }
        let arg = match p {
            Some(p) => self.pipeline(p, dot)?,
            None => Value::Nil,
        };
        let saved = std::mem::replace(&mut self.vars, vec![(String::new(), arg.clone())]);
        self.depth += 1;
        let r = self.nodes(body, &arg, out);
        self.depth -= 1;
        self.vars = saved;
        r.map(|_| ())
    }

    /// Declares (`:=`) or assigns (`=`) the pipeline's variable.
    fn bind(&mut self, p: &Pipeline, v: Value) -> Result<(), String> {
        let Some(name) = p.vars.first() else {
            return Ok(());
        };
        if p.assign {
            let slot = self
                .vars
                .iter_mut()
                .rev()
                .find(|(n, _)| n == name)
                .ok_or_else(|| format!("undefined variable ${name}"))?;
            slot.1 = v;
        } else {
            self.vars.push((name.clone(), v));
        }
        Ok(())
    }

    /// The row's labels as a map (what `.` and `$` are at the top).
    fn root(&self) -> Value {
        Value::Map(
            self.row
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), Value::Str(v.clone())))
                .collect(),
        )
    }

    fn pipeline(&mut self, p: &Pipeline, dot: &Value) -> Result<Value, String> {
        let mut piped: Option<Value> = None;
        for cmd in &p.cmds {
            let mut args = Vec::with_capacity(cmd.args.len() + 1);
            for a in &cmd.args[1..] {
                args.push(self.arg(a, dot)?);
            }
            args.extend(piped.take());
            let v = match &cmd.args[0] {
                Arg::Ident(name) => funcs::call(name, args, self.row)?,
                first if args.is_empty() => self.arg(first, dot)?,
                _ => return Err("can't give argument to non-function".into()),
            };
            piped = Some(v);
        }
        Ok(piped.unwrap_or(Value::Nil))
    }

    fn arg(&mut self, a: &Arg, dot: &Value) -> Result<Value, String> {
        Ok(match a {
            Arg::Field(f) if f.is_empty() => match dot {
                Value::Nil => Value::Str(self.row.line_str().into_owned()),
                v => v.clone(),
            },
            Arg::Field(f) => self.field(dot, f),
            Arg::Var(name, f) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| format!("undefined variable ${name}"))?;
                if f.is_empty() {
                    match v {
                        Value::Nil if name.is_empty() => self.root(),
                        v => v,
                    }
                } else {
                    self.field(&v, f)
                }
            }
            Arg::Str(s) => Value::Str(s.clone()),
            Arg::Num(n) => Value::Num(*n),
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Ident(name) => funcs::call(name, Vec::new(), self.row)?,
            Arg::Sub(p) => self.pipeline(p, dot)?,
        })
    }

    /// `.a.b` on `base`: a map's keys, else (the top, or a non-map dot) the row's labels.
    fn field(&self, base: &Value, path: &[String]) -> Value {
        let mut v = match base {
            Value::Map(_) => base.get(&path[0]),
            _ => Value::Str(self.row.get(&path[0]).to_owned()),
        };
        for f in &path[1..] {
            v = v.get(f);
        }
        v
    }
}

/// Whether a range's operand is the top-level data (`.` with a `Nil` dot, or `$`).
fn is_root(args: &[Arg], dot: &Value) -> bool {
    match args {
        [Arg::Field(f)] => f.is_empty() && *dot == Value::Nil,
        [Arg::Var(n, f)] => n.is_empty() && f.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kelp_model::{Labels, Timestamp};

    fn render(t: &str) -> String {
        let labels =
            Labels::from_pairs([("app", "api"), ("n", "7"), ("msg", "  Hi There ")]).unwrap();
        let row = Row::new(Timestamp::from_unix_secs(1), b"the line", &labels, &[]);
        Template::parse(t).unwrap().render(&row).unwrap()
    }

    #[test]
    fn renders_the_documented_subset() {
        assert_eq!(render("{{.app}}-{{ .missing }}!"), "api-!");
        assert_eq!(render("{{ .app | ToUpper }}"), "API");
        assert_eq!(render("{{ __line__ }}"), "the line");
        assert_eq!(
            render("{{ if .message }}{{ .message }}{{ else }}{{ __line__ }}{{ end }}"),
            "the line"
        );
        assert_eq!(
            render("{{ if eq .app \"api\" }}yes{{ else if .n }}n{{ end }}"),
            "yes"
        );
        assert_eq!(render("{{ .msg | TrimSpace | lower }}"), "hi there");
        assert_eq!(
            render("{{ printf \"%s=%05.1f\" .app 3.14159 }}"),
            "api=003.1"
        );
        assert_eq!(
            render("{{ add .n 3 }} {{ div 7 2 }} {{ divf 7 2 }} {{ mul 2 .n }}"),
            "10 3 3.5 14"
        );
        assert_eq!(
            render("{{ regexReplaceAll \"(a)(p)\" .app \"${2}$1\" }}"),
            "pai"
        );
        assert_eq!(render("{{ .nope | default \"dflt\" }}"), "dflt");
        assert_eq!(
            render("{{ replace \"a\" \"A\" .app }} {{ Replace .app \"p\" \"P\" -1 }}"),
            "Api aPi"
        );
        assert_eq!(render("{{- \"  x\" -}}   y"), "  xy");
        assert_eq!(render("{{/* c */}}z"), "z");
        assert_eq!(render("{{ __timestamp__ | unixEpoch }}"), "1");
        assert_eq!(
            render("{{ __timestamp__ | date \"2006-01-02T15:04:05Z07:00\" }}"),
            "1970-01-01T00:00:01Z"
        );
        assert_eq!(render("{{ trunc 2 .app }}{{ substr 1 3 .app }}"), "appi");
        assert_eq!(render("{{ with .app }}<{{ . }}>{{ end }}"), "<api>");
    }

    #[test]
    fn variables_range_and_defined_templates() {
        // Variables: declared, assigned, scoped to their block; `$` is the top data.
        assert_eq!(
            render("{{ $a := .app }}{{ $a }}-{{ $a = \"x\" }}{{ $a }}"),
            "api-x"
        );
        assert_eq!(
            render("{{ $.app }}{{ with .n }}{{ $.app }}{{ . }}{{ end }}"),
            "apiapi7"
        );
        assert_eq!(
            render("{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}"),
            "21"
        );
        assert_eq!(
            render("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}"),
            "2"
        );
        // Range over the labels (sorted by name), with key and value.
        assert_eq!(
            render("{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}"),
            "app=api;msg=  Hi There ;n=7;"
        );
        assert_eq!(
            render("{{ range $ }}<{{ . }}>{{ end }}"),
            "<api><  Hi There ><7>"
        );
        // Lists and maps from JSON, integers, else, break and continue.
        assert_eq!(
            render("{{ range $i, $e := fromJson \"[10,20,30]\" }}{{ $i }}:{{ $e }} {{ end }}"),
            "0:10 1:20 2:30 "
        );
        assert_eq!(
            render("{{ range fromJson `{\"b\":{\"c\":1},\"a\":2}` }}{{ . }}|{{ end }}"),
            "2|map[c:1]|"
        );
        assert_eq!(
            render("{{ $j := fromJson `{\"u\":{\"id\":42}}` }}{{ $j.u.id }} {{ index $j \"u\" \"id\" }}"),
            "42 42"
        );
        assert_eq!(
            render("{{ range 5 }}{{ if eq . 3 }}{{ break }}{{ end }}{{ . }}{{ end }}"),
            "012"
        );
        assert_eq!(
            render("{{ range 4 }}{{ if eq . 1 }}{{ continue }}{{ end }}{{ . }}{{ end }}"),
            "023"
        );
        assert_eq!(
            render("{{ range fromJson \"[]\" }}x{{ else }}empty{{ end }}"),
            "empty"
        );
        assert_eq!(render("{{ len (fromJson \"[1,2]\") }}"), "2");
        // define / template / block.
        assert_eq!(
            render("{{ define \"kv\" }}[{{ . }}]{{ end }}{{ template \"kv\" .app }}{{ template \"kv\" \"z\" }}"),
            "[api][z]"
        );
        assert_eq!(render("{{ block \"b\" .n }}<{{ . }}>{{ end }}"), "<7>");
    }

    #[test]
    fn hostile_templates_end_with_an_error_not_a_hang() {
        let labels = Labels::from_pairs([("app", "api")]).unwrap();
        let row = Row::new(Timestamp::from_unix_secs(1), b"l", &labels, &[]);
        let run = |t: &str| Template::parse(t).unwrap().render(&row);
        assert!(run("{{ range 1000000000 }}x{{ end }}").is_err());
        assert!(run("{{ range 1000 }}{{ range 1000 }}x{{ end }}{{ end }}").is_err());
        assert!(
            run("{{ define \"r\" }}{{ template \"r\" }}{{ end }}{{ template \"r\" }}").is_err()
        );
        assert!(run("{{ template \"nope\" }}").is_err());
        assert!(run("{{ range .app }}x{{ end }}").is_err());
        assert!(run("{{ $nope }}").is_err());
        let deep = "{{ if true }}".repeat(200) + &"{{ end }}".repeat(200);
        assert!(Template::parse(&deep).is_err());
        for bad in [
            "{{ break }}",
            "{{ range 3 }}{{ define \"x\" }}{{ end }}{{ end }}",
            "{{ $ := 1 }}",
            "{{ $a, $b = 1 }}",
            "{{ range $a, $b, $c := 1 }}{{ end }}",
            "{{ template x }}",
            "{{ range 3 }}",
            "{{ $a : 1 }}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn parse_errors_are_query_errors() {
        assert!(Template::parse("{{ .a ").is_err());
        assert!(Template::parse("{{ if .a }}x").is_err());
    }
}
