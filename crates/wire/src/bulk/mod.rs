//! Elasticsearch `_bulk` ingestion (spec §10): the NDJSON request, the mapping of documents
//! to entries, the response Fluent Bit, Filebeat, Vector and Logstash expect, and the stub
//! answers for `GET /` and friends.
//!
//! [`parse_bulk`] turns a body into streams (for the store) and one [`BulkItem`] per action
//! (for the response). Problems with one document fail that item only, as Elasticsearch
//! does; a malformed action line fails the whole request.

mod mapping;
mod response;
mod stubs;

use std::collections::HashMap;

use kelp_model::{Entry, Labels, StreamEntries, Timestamp};
use serde_json::{Map, Value};

pub use mapping::{BulkMapping, LabelField};
pub use response::{bulk_response, error_response};
pub use stubs::{
    acknowledged, cluster_health, empty_object, license, root_info, EsInfo, PRODUCT_HEADER,
};

use crate::error::WireError;

/// A decoded `_bulk` request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BulkRequest {
    /// The accepted documents, grouped by stream.
    pub streams: Vec<StreamEntries>,
    /// One item per action, in request order.
    pub items: Vec<BulkItem>,
}

/// One action of the request and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkItem {
    /// The action.
    pub action: BulkAction,
    /// The target index (`_index`, or the one in the URL).
    pub index: String,
    /// The document id (`_id`, or a generated one).
    pub id: String,
    /// Accepted, with where the entry went, or failed.
    pub outcome: ItemOutcome,
}

/// The four bulk actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkAction {
    /// `index`: add or replace.
    Index,
    /// `create`: add.
    Create,
    /// `update`: not supported (logs are append-only); fails per item.
    Update,
    /// `delete`: not supported; fails per item.
    Delete,
}

impl BulkAction {
    /// The action's name in requests and responses.
    pub fn as_str(self) -> &'static str {
        match self {
            BulkAction::Index => "index",
            BulkAction::Create => "create",
            BulkAction::Update => "update",
            BulkAction::Delete => "delete",
        }
    }
}

/// What became of an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Decoded into `streams[stream].entries[entry]`; answered 201 `created` unless the
    /// server marks it failed with [`BulkItem::fail`].
    Accepted {
        /// Index into [`BulkRequest::streams`].
        stream: usize,
        /// Index into that stream's entries.
        entry: usize,
    },
    /// Failed; answered with this status and error object.
    Failed(ItemError),
}

/// A per-item error: `"status":<status>,"error":{"type":..,"reason":..}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// The HTTP status of the item (400 bad document, 429 retry later, 5xx retry).
    pub status: u16,
    /// Elasticsearch's exception type, such as `mapper_parsing_exception`.
    pub error_type: String,
    /// A human-readable reason.
    pub reason: String,
}

impl BulkItem {
    /// Marks the item failed (for example when the store rejected its entry).
    pub fn fail(&mut self, status: u16, error_type: &str, reason: impl Into<String>) {
        self.outcome = ItemOutcome::Failed(ItemError {
            status,
            error_type: error_type.into(),
            reason: reason.into(),
        });
    }
}

/// Parses a `_bulk` body (already without its `Content-Encoding`).
///
/// `default_index` is the index named in the URL (`/<index>/_bulk`); `now` is the receive
/// time, used for documents without a usable timestamp and to generate missing ids.
/// Blank lines between actions are skipped, `\r\n` is accepted, and the final newline
/// may be missing.
///
/// ```
/// use kelp_wire::bulk::{parse_bulk, bulk_response, BulkMapping};
/// use kelp_model::Timestamp;
///
/// let body = b"{\"create\":{\"_index\":\"fluent-bit\",\"_type\":\"_doc\"}}\n\
///              {\"@timestamp\":\"2024-05-01T12:00:00.5Z\",\"log\":\"hello\\n\",\"kubernetes\":{\"pod_name\":\"api-0\"}}\n";
/// let req = parse_bulk(body, None, &BulkMapping::default(), Timestamp::from_unix_nanos(0)).unwrap();
/// assert_eq!(req.streams[0].labels.get("pod"), Some("api-0"));
/// assert_eq!(&req.streams[0].entries[0].line[..], b"hello");
/// let answer = String::from_utf8(bulk_response(1, &req.items)).unwrap();
/// assert!(answer.contains(r#""errors":false,"items":[{"create":{"_index":"fluent-bit""#));
/// ```
pub fn parse_bulk(
    body: &[u8],
    default_index: Option<&str>,
    mapping: &BulkMapping,
    now: Timestamp,
) -> Result<BulkRequest, WireError> {
    let mut lines = Lines::new(body);
    let mut out = Builder::default();
    while let Some((n, line)) = lines.next_nonblank() {
        let action = parse_action(n, line)?;
        let index = action.index.or(default_index.map(str::to_owned));
        let id = action.id.unwrap_or_else(|| {
            format!(
                "{:016x}{:04x}",
                now.as_unix_nanos(),
                out.items.len() & 0xffff
            )
        });
        let mut item = BulkItem {
            action: action.kind,
            index: index.clone().unwrap_or_default(),
            id,
            outcome: ItemOutcome::Failed(ItemError {
                status: 400,
                error_type: String::new(),
                reason: String::new(),
            }),
        };
        let source = match action.kind {
            BulkAction::Delete => None,
            _ => lines.next(),
        };
        let failure = match (action.kind, source, index) {
            (BulkAction::Update | BulkAction::Delete, _, _) => Some(unsupported(action.kind)),
            (_, None, _) => Some(err(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: source is missing;",
            )),
            (_, Some(_), None) => Some(err(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: index is missing;",
            )),
            (_, Some((_, src)), Some(index)) => match parse_document(src) {
                Ok(doc) => {
                    let m = mapping.map(&doc, trim(src), &index, now);
                    item.outcome = out.add(m);
                    None
                }
                Err(e) => Some(e),
            },
        };
        if let Some(f) = failure {
            item.outcome = ItemOutcome::Failed(f);
        }
        out.items.push(item);
    }
    Ok(BulkRequest {
        streams: out.streams,
        items: out.items,
    })
}

#[derive(Default)]
struct Builder {
    streams: Vec<StreamEntries>,
    by_labels: HashMap<Labels, usize>,
    items: Vec<BulkItem>,
}

impl Builder {
    fn add(&mut self, m: mapping::Mapped) -> ItemOutcome {
        let labels = match Labels::from_pairs(m.labels) {
            Ok(l) => l,
            Err(e) => {
                return ItemOutcome::Failed(err(400, "illegal_argument_exception", &e.to_string()))
            }
        };
        let stream = *self.by_labels.entry(labels.clone()).or_insert_with(|| {
            self.streams.push(StreamEntries {
                labels,
                entries: Vec::new(),
            });
            self.streams.len() - 1
        });
        let entries = &mut self.streams[stream].entries;
        entries.push(Entry {
            timestamp: m.timestamp,
            line: m.line,
            metadata: m.metadata,
        });
        ItemOutcome::Accepted {
            stream,
            entry: entries.len() - 1,
        }
    }
}

struct Action {
    kind: BulkAction,
    index: Option<String>,
    id: Option<String>,
}

fn parse_action(n: usize, line: &[u8]) -> Result<Action, WireError> {
    let fail = |reason: String| WireError::Bulk { line: n, reason };
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        fail(format!(
            "Malformed action/metadata line [{n}], expected a JSON object: {e}"
        ))
    })?;
    let obj = match value {
        Value::Object(o) => o,
        other => {
            return Err(fail(format!(
                "Malformed action/metadata line [{n}], expected START_OBJECT but found [{}]",
                json_kind(&other)
            )))
        }
    };
    if obj.len() != 1 {
        return Err(fail(format!(
            "Malformed action/metadata line [{n}], expected exactly one action but found {}",
            obj.len()
        )));
    }
    let Some((name, meta)) = obj.into_iter().next() else {
        return Err(fail(format!(
            "Malformed action/metadata line [{n}], no action"
        )));
    };
    let kind = match name.as_str() {
        "index" => BulkAction::Index,
        "create" => BulkAction::Create,
        "update" => BulkAction::Update,
        "delete" => BulkAction::Delete,
        other => {
            return Err(fail(format!(
                "Malformed action/metadata line [{n}], expected field [create], [delete], [index] or [update] but found [{other}]"
            )))
        }
    };
    let Value::Object(meta) = meta else {
        return Err(fail(format!(
            "Malformed action/metadata line [{n}], expected START_OBJECT but found [{}]",
            json_kind(&meta)
        )));
    };
    let text = |k: &str| match meta.get(k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(x)) => Some(x.to_string()),
        _ => None,
    };
    Ok(Action {
        kind,
        index: text("_index"),
        id: text("_id"),
    })
}

fn parse_document(src: &[u8]) -> Result<Map<String, Value>, ItemError> {
    match serde_json::from_slice::<Value>(src) {
        Ok(Value::Object(doc)) => Ok(doc),
        Ok(other) => Err(err(
            400,
            "mapper_parsing_exception",
            &format!(
                "failed to parse, document is {} instead of an object",
                json_kind(&other)
            ),
        )),
        Err(e) => Err(err(
            400,
            "mapper_parsing_exception",
            &format!("failed to parse: {e}"),
        )),
    }
}

fn unsupported(action: BulkAction) -> ItemError {
    err(
        400,
        "illegal_argument_exception",
        &format!(
            "the [{}] operation is not supported: Kelp stores logs append-only",
            action.as_str()
        ),
    )
}

fn err(status: u16, error_type: &str, reason: &str) -> ItemError {
    ItemError {
        status,
        error_type: error_type.into(),
        reason: reason.into(),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "VALUE_NULL",
        Value::Bool(_) => "VALUE_BOOLEAN",
        Value::Number(_) => "VALUE_NUMBER",
        Value::String(_) => "VALUE_STRING",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
    }
}

fn trim(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &line[start..end]
}

/// The body's lines with their 1-based numbers, `\r\n` or `\n` terminated.
struct Lines<'a> {
    rest: &'a [u8],
    n: usize,
}

impl<'a> Lines<'a> {
    fn new(body: &'a [u8]) -> Self {
        Self { rest: body, n: 0 }
    }

    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        if self.rest.is_empty() {
            return None;
        }
        let (line, rest) = match memchr::memchr(b'\n', self.rest) {
            Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
            None => (self.rest, &[][..]),
        };
        self.rest = rest;
        self.n += 1;
        Some((self.n, line.strip_suffix(b"\r").unwrap_or(line)))
    }

    fn next_nonblank(&mut self) -> Option<(usize, &'a [u8])> {
        loop {
            let (n, line) = self.next()?;
            if !trim(line).is_empty() {
                return Some((n, line));
            }
        }
    }
}
