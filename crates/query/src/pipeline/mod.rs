//! Compiled log pipelines: the stages of a log query, run on one entry at a time.
//!
//! A [`Row`] is the entry being processed: its line and its current label set (stream
//! labels, structured metadata, then whatever parsers and formatters add). Stages run
//! left to right; a stage that filters the line out ends processing.

pub(crate) mod filter;
mod format;
mod json;
mod label_filter;
mod parser_json;
mod parser_logfmt;
mod parser_regexp;

use std::collections::BTreeMap;

use kelp_logql::ast::Stage;
use kelp_model::{LabelPair, Labels, Timestamp};

pub(crate) use filter::LineFilterC;
pub(crate) use json::{parse as json_parse, Json};
pub(crate) use label_filter::{parse_bytes, parse_go_duration_secs, LabelFilterC};

use crate::error::Result;
use crate::Limits;

/// Loki's error label.
pub(crate) const ERROR: &str = "__error__";
/// Loki's error details label.
pub(crate) const ERROR_DETAILS: &str = "__error_details__";

/// The entry being processed.
#[derive(Debug, Clone)]
pub(crate) struct Row<'a> {
    /// The entry's time.
    pub ts: Timestamp,
    /// The current line.
    pub line: Vec<u8>,
    /// The current labels (empty values mean absent).
    pub labels: BTreeMap<String, String>,
    /// The stream's labels.
    pub stream: &'a Labels,
    /// The entry's structured metadata.
    pub metadata: &'a [LabelPair],
}

impl<'a> Row<'a> {
    /// A row for an entry: its line, and stream labels plus structured metadata.
    pub fn new(ts: Timestamp, line: &[u8], stream: &'a Labels, metadata: &'a [LabelPair]) -> Self {
        let mut labels: BTreeMap<String, String> = stream
            .iter()
            .map(|p| (p.name.clone(), p.value.clone()))
            .collect();
        for p in metadata {
            labels
                .entry(p.name.clone())
                .or_insert_with(|| p.value.clone());
        }
        Self {
            ts,
            line: line.to_vec(),
            labels,
            stream,
            metadata,
        }
    }

    /// A label's value, `""` when absent.
    pub fn get(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }

    /// Whether `name` is a stream label or structured metadata.
    pub fn is_base(&self, name: &str) -> bool {
        self.stream.get(name).is_some() || self.metadata.iter().any(|p| p.name == name)
    }

    /// Sets a label an extraction produced: sanitized, with `_extracted` when it collides
    /// with a stream label or metadata.
    pub fn set_extracted(&mut self, key: &str, value: String) {
        let mut k = sanitize_key(key);
        if k.is_empty() {
            return;
        }
        if self.is_base(&k) {
            k.push_str("_extracted");
        }
        self.labels.insert(k, value);
    }

    /// Marks the row with an error, unless it already has one.
    pub fn set_error(&mut self, kind: &str, details: impl Into<String>) {
        if self.get(ERROR).is_empty() {
            self.labels.insert(ERROR.into(), kind.into());
            self.labels.insert(ERROR_DETAILS.into(), details.into());
        }
    }

    /// The line as text (invalid UTF-8 replaced).
    pub fn line_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.line)
    }

    /// The current labels as a [`Labels`] (empty values dropped).
    pub fn to_labels(&self) -> Labels {
        labels_of(self.labels.iter())
    }
}

/// Builds a [`Labels`] from pairs the pipeline holds; invalid names (which sanitizing
/// prevents) and empty values are skipped.
pub(crate) fn labels_of<'a>(pairs: impl Iterator<Item = (&'a String, &'a String)>) -> Labels {
    let valid: Vec<(&String, &String)> = pairs
        .filter(|(n, v)| !v.is_empty() && kelp_model::is_valid_label_name(n))
        .collect();
    // Names are valid and unique (they come from a map), so this cannot fail.
    Labels::from_pairs(valid).unwrap_or_default()
}

/// Loki's label-key sanitizing: every character outside `[A-Za-z0-9_]` becomes `_`, and a
/// leading digit gets a `_` prefix.
pub(crate) fn sanitize_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 1);
    if key.starts_with(|c: char| c.is_ascii_digit()) {
        out.push('_');
    }
    out.extend(key.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    out
}

/// One compiled stage.
#[derive(Debug)]
enum Step {
    Line(LineFilterC),
    Json(parser_json::JsonParser),
    Logfmt(parser_logfmt::LogfmtParser),
    Regexp(parser_regexp::RegexpParser),
    Pattern(parser_regexp::PatternParser),
    Unpack,
    Labels(LabelFilterC),
    LineFormat(crate::template::Template),
    LabelFormat(format::LabelFormatC),
    Drop(format::DropKeep),
    Keep(format::DropKeep),
    Decolorize,
}

/// A compiled pipeline.
#[derive(Debug, Default)]
pub(crate) struct Pipeline {
    steps: Vec<Step>,
}

impl Pipeline {
    /// Compiles stages, checking what the parser leaves to query time (line-filter regexes
    /// and patterns, templates, `json` paths).
    pub fn compile(stages: &[Stage], limits: &Limits) -> Result<Self> {
        let mut steps = Vec::with_capacity(stages.len());
        for s in stages {
            steps.push(match s {
                Stage::LineFilter(f) => Step::Line(LineFilterC::compile(f, limits)?),
                Stage::Json(params) => Step::Json(parser_json::JsonParser::new(params)?),
                Stage::Logfmt(l) => Step::Logfmt(parser_logfmt::LogfmtParser::new(l)),
                Stage::Regexp(re) => Step::Regexp(parser_regexp::RegexpParser::new(re, limits)?),
                Stage::Pattern(p) => Step::Pattern(parser_regexp::PatternParser::new(p)?),
                Stage::Unpack => Step::Unpack,
                Stage::LabelFilter(f) => Step::Labels(LabelFilterC::compile(f, limits)?),
                Stage::LineFormat(t) => Step::LineFormat(crate::template::Template::parse(t)?),
                Stage::LabelFormat(items) => Step::LabelFormat(format::LabelFormatC::new(items)?),
                Stage::Drop(m) => Step::Drop(format::DropKeep::new(m, limits)?),
                Stage::Keep(m) => Step::Keep(format::DropKeep::new(m, limits)?),
                Stage::Decolorize => Step::Decolorize,
            });
        }
        Ok(Self { steps })
    }

    /// Whether the pipeline has no stage.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Runs the stages on a row; `false` when the line is filtered out.
    pub fn run(&self, row: &mut Row<'_>) -> bool {
        for s in &self.steps {
            let keep = match s {
                Step::Line(f) => f.matches(&row.line),
                Step::Json(p) => {
                    p.run(row);
                    true
                }
                Step::Logfmt(p) => {
                    p.run(row);
                    true
                }
                Step::Regexp(p) => {
                    p.run(row);
                    true
                }
                Step::Pattern(p) => {
                    p.run(row);
                    true
                }
                Step::Unpack => {
                    parser_json::unpack(row);
                    true
                }
                Step::Labels(f) => f.run(row),
                Step::LineFormat(t) => {
                    match t.render(row) {
                        Ok(s) => row.line = s.into_bytes(),
                        Err(e) => row.set_error("TemplateFormatErr", e),
                    }
                    true
                }
                Step::LabelFormat(f) => {
                    f.run(row);
                    true
                }
                Step::Drop(d) => {
                    d.drop(row);
                    true
                }
                Step::Keep(k) => {
                    k.keep(row);
                    true
                }
                Step::Decolorize => {
                    row.line = format::decolorize(&row.line);
                    true
                }
            };
            if !keep {
                return false;
            }
        }
        true
    }
}
