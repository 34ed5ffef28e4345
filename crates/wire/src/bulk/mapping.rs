//! Turning an Elasticsearch document into a log entry (spec §10.6): which fields become
//! stream labels, the timestamp, the line, and structured metadata.

use bytes::Bytes;
use kelp_model::{LabelPair, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::names::sanitize_label_name;

/// How documents map to entries. The defaults understand what Fluent Bit's kubernetes
/// filter and Filebeat's `add_kubernetes_metadata` emit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BulkMapping {
    /// Stream labels and the document fields they come from; for each label the first
    /// field present wins. A field is a dotted path (`kubernetes.pod_name`), looked up as a
    /// flat key first, then through nested objects.
    pub labels: Vec<LabelField>,
    /// The label that receives the target index name (`_index`), if any. Default `index`,
    /// so that every stream has at least one label.
    pub index_label: Option<String>,
    /// Fields holding the entry's time, first present wins: RFC 3339 strings (a missing
    /// zone means UTC) or epoch milliseconds (number or digit string). Default
    /// `@timestamp`, `timestamp`; when none parses, the receive time is used.
    pub timestamp_fields: Vec<String>,
    /// Fields holding the line, first present wins. Default `log` (Fluent Bit), `message`
    /// (Filebeat, Vector, ECS). When none is present the whole document is the line.
    pub line_fields: Vec<String>,
    /// When the line comes from a line field, put every other leaf field (not used as a
    /// label, time or line) into structured metadata, named by its path with `_` for `.`
    /// (`kubernetes.labels.app` → `kubernetes_labels_app`). Default true. When the whole
    /// document is the line, nothing is copied to metadata.
    pub other_fields_to_metadata: bool,
    /// Strip one trailing `\n` (or `\r\n`) from the line, as Fluent Bit's `log` field carries
    /// the container's newline. Default true.
    pub trim_trailing_newline: bool,
}

/// One stream label and the fields it is read from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelField {
    /// The label name.
    pub label: String,
    /// Dotted document paths, first present wins.
    pub fields: Vec<String>,
}

impl Default for BulkMapping {
    fn default() -> Self {
        let l = |label: &str, fields: &[&str]| LabelField {
            label: label.into(),
            fields: fields.iter().map(|f| (*f).into()).collect(),
        };
        Self {
            labels: vec![
                l(
                    "namespace",
                    &["kubernetes.namespace_name", "kubernetes.namespace"],
                ),
                l("pod", &["kubernetes.pod_name", "kubernetes.pod.name"]),
                l(
                    "container",
                    &["kubernetes.container_name", "kubernetes.container.name"],
                ),
                l("node", &["kubernetes.host", "kubernetes.node.name"]),
                l("stream", &["stream"]),
                l("service_name", &["service.name"]),
            ],
            index_label: Some("index".into()),
            timestamp_fields: vec!["@timestamp".into(), "timestamp".into()],
            line_fields: vec!["log".into(), "message".into()],
            other_fields_to_metadata: true,
            trim_trailing_newline: true,
        }
    }
}

/// A document mapped to an entry, before grouping into streams.
pub(crate) struct Mapped {
    pub labels: Vec<(String, String)>,
    pub timestamp: Timestamp,
    pub line: Bytes,
    pub metadata: Vec<LabelPair>,
}

impl BulkMapping {
    /// Maps one parsed document; `raw` is its source line, `index` its target index.
    pub(crate) fn map(
        &self,
        doc: &Map<String, Value>,
        raw: &[u8],
        index: &str,
        now: Timestamp,
    ) -> Mapped {
        let mut used: Vec<&str> = Vec::new();
        let mut labels = Vec::with_capacity(self.labels.len() + 1);
        if let Some(name) = &self.index_label {
            labels.push((name.clone(), index.to_owned()));
        }
        for lf in &self.labels {
            if let Some((path, v)) = first(doc, &lf.fields) {
                used.push(path);
                labels.push((lf.label.clone(), scalar_text(v)));
            }
        }
        let timestamp = match first(doc, &self.timestamp_fields) {
            Some((path, v)) => {
                used.push(path);
                parse_time(v).unwrap_or(now)
            }
            None => now,
        };
        let (line, metadata) = match first(doc, &self.line_fields) {
            Some((path, v)) => {
                used.push(path);
                let mut text = scalar_text(v);
                if self.trim_trailing_newline && text.ends_with('\n') {
                    text.pop();
                    if text.ends_with('\r') {
                        text.pop();
                    }
                }
                let mut metadata = Vec::new();
                if self.other_fields_to_metadata {
                    flatten(doc, &mut String::new(), &used, &mut metadata);
                }
                (Bytes::from(text), metadata)
            }
            None => (Bytes::copy_from_slice(raw), Vec::new()),
        };
        Mapped {
            labels,
            timestamp,
            line,
            metadata,
        }
    }
}

/// The first of `paths` present (and not null) in `doc`.
fn first<'a, 'd>(doc: &'d Map<String, Value>, paths: &'a [String]) -> Option<(&'a str, &'d Value)> {
    paths
        .iter()
        .find_map(|p| lookup(doc, p).map(|v| (p.as_str(), v)))
}

fn lookup<'d>(doc: &'d Map<String, Value>, path: &str) -> Option<&'d Value> {
    if let Some(v) = doc.get(path) {
        return (!v.is_null()).then_some(v);
    }
    let mut parts = path.split('.');
    let mut cur = doc.get(parts.next()?)?;
    for part in parts {
        cur = cur.as_object()?.get(part)?;
    }
    (!cur.is_null()).then_some(cur)
}

/// A value as text: strings as they are, anything else as compact JSON.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn parse_time(v: &Value) -> Option<Timestamp> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(ms) => ms.checked_mul(1_000_000).map(Timestamp::from_unix_nanos),
            None => millis(n.as_f64()?),
        },
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s
            .parse::<i64>()
            .ok()?
            .checked_mul(1_000_000)
            .map(Timestamp::from_unix_nanos),
        Value::String(s) => Timestamp::parse_rfc3339(s.as_bytes())
            .or_else(|_| Timestamp::parse_rfc3339(format!("{s}Z").as_bytes()))
            .ok(),
        _ => None,
    }
}

/// Fractional epoch milliseconds, exact to the microsecond or so.
fn millis(ms: f64) -> Option<Timestamp> {
    // Outside i64 nanoseconds (about ±292 years) the value is not a plausible time.
    if !ms.is_finite() || ms.abs() >= 9.2e12 {
        return None;
    }
    let whole = ms.trunc();
    let frac_ns = ((ms - whole) * 1e6).round() as i64;
    Some(Timestamp::from_unix_nanos(
        whole as i64 * 1_000_000 + frac_ns,
    ))
}

/// Appends every leaf of `obj` not in `used` as a metadata pair named by its path.
fn flatten(obj: &Map<String, Value>, prefix: &mut String, used: &[&str], out: &mut Vec<LabelPair>) {
    for (k, v) in obj {
        let len = prefix.len();
        if !prefix.is_empty() {
            prefix.push('.');
        }
        prefix.push_str(k);
        if !used.contains(&prefix.as_str()) {
            match v {
                Value::Object(inner) => flatten(inner, prefix, used, out),
                Value::Null => {}
                leaf => {
                    let value = scalar_text(leaf);
                    if !value.is_empty() {
                        out.push(LabelPair {
                            name: sanitize_label_name(prefix).into_owned(),
                            value,
                        });
                    }
                }
            }
        }
        prefix.truncate(len);
    }
}
