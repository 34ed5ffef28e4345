//! The Go `text/template` subset of `line_format` and `label_format`: `{{.label}}`,
//! pipelines, `if`/`else if`/`else`/`with`, comments, trim markers, `__line__`,
//! `__timestamp__`, and the functions Loki documents (see [`funcs`]).
//!
//! Data is the row's labels, read with `missingkey=zero` (a missing label is `""`).

mod funcs;
mod parse;
mod text;
mod value;

use parse::{Arg, Node, Pipeline};
pub(crate) use value::Value;

use crate::error::Result;
use crate::pipeline::Row;

/// A parsed template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    nodes: Vec<Node>,
    /// The whole template is plain text.
    literal: Option<String>,
}

impl Template {
    /// Parses a template; an invalid one is a query error.
    pub fn parse(src: &str) -> Result<Self> {
        let nodes = parse::parse(src)?;
        let literal = match nodes.as_slice() {
            [] => Some(String::new()),
            [Node::Text(t)] => Some(t.clone()),
            _ => None,
        };
        Ok(Self { nodes, literal })
    }

    /// Renders the template for a row; `Err` carries the message for
    /// `__error_details__`.
    pub fn render(&self, row: &Row<'_>) -> Result<String, String> {
        if let Some(l) = &self.literal {
            return Ok(l.clone());
        }
        let mut out = String::new();
        render_nodes(&self.nodes, row, &Value::Nil, &mut out)?;
        Ok(out)
    }
}

fn render_nodes(
    nodes: &[Node],
    row: &Row<'_>,
    dot: &Value,
    out: &mut String,
) -> Result<(), String> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&eval_pipeline(p, row, dot)?.to_text()),
            Node::If(branches, els) => {
                let mut done = false;
                for (cond, body) in branches {
                    if eval_pipeline(cond, row, dot)?.truthy() {
                        render_nodes(body, row, dot, out)?;
                        done = true;
                        break;
                    }
                }
                if !done {
                    render_nodes(els, row, dot, out)?;
                }
            }
            Node::With(p, body, els) => {
                let v = eval_pipeline(p, row, dot)?;
                if v.truthy() {
                    render_nodes(body, row, &v, out)?;
                } else {
                    render_nodes(els, row, dot, out)?;
                }
            }
        }
    }
    Ok(())
}

fn eval_pipeline(p: &Pipeline, row: &Row<'_>, dot: &Value) -> Result<Value, String> {
    let mut piped: Option<Value> = None;
    for cmd in p {
        let mut args = Vec::with_capacity(cmd.args.len() + 1);
        for a in &cmd.args[1..] {
            args.push(eval_arg(a, row, dot)?);
        }
        args.extend(piped.take());
        let v = match &cmd.args[0] {
            Arg::Ident(name) => funcs::call(name, args, row)?,
            first if args.is_empty() => eval_arg(first, row, dot)?,
            _ => return Err("can't give argument to non-function".into()),
        };
        piped = Some(v);
    }
    Ok(piped.unwrap_or(Value::Nil))
}

fn eval_arg(a: &Arg, row: &Row<'_>, dot: &Value) -> Result<Value, String> {
    Ok(match a {
        Arg::Field(f) if f.is_empty() => match dot {
            Value::Nil => Value::Str(row.line_str().into_owned()),
            v => v.clone(),
        },
        Arg::Field(f) => Value::Str(row.get(f).to_owned()),
        Arg::Str(s) => Value::Str(s.clone()),
        Arg::Num(n) => Value::Num(*n),
        Arg::Bool(b) => Value::Bool(*b),
        Arg::Ident(name) => funcs::call(name, Vec::new(), row)?,
        Arg::Sub(p) => eval_pipeline(p, row, dot)?,
    })
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
    fn parse_errors_are_query_errors() {
        assert!(Template::parse("{{ .a ").is_err());
        assert!(Template::parse("{{ if .a }}x").is_err());
    }
}
