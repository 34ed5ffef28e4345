//! OTLP/HTTP logs (`POST /otlp/v1/logs`, spec §2.7), protobuf or JSON, into
//! [`StreamEntries`].
//!
//! Mapping (see `docs/wire.md`):
//! - resource attributes `k8s.namespace.name`, `k8s.pod.name`, `k8s.container.name`,
//!   `k8s.node.name`, `service.name` become the labels `namespace`, `pod`, `container`,
//!   `node`, `service_name`; every other resource attribute, the scope's name, version and
//!   attributes, and the record's attributes become structured metadata, their names made
//!   valid label names (`http.method` → `http_method`);
//! - `severity_text`, `severity_number` (when set), `trace_id` and `span_id` (hex) are
//!   structured metadata too, as Loki stores them;
//! - the time is `time_unix_nano`, else `observed_time_unix_nano`, else the receive time;
//! - a string body is the line; any other body is written as ordinary JSON (not
//!   OTLP/JSON): `{"a":1}`, `[1,"x"]`, `42`; no body is an empty line.
//!
//! Streams may come out without labels (no Kubernetes or service attributes); the server
//! then applies Loki's `service_name` discovery as for every protocol.

pub mod json;
pub mod proto;

use std::collections::HashMap;

use kelp_model::{Entry, LabelPair, Labels, StreamEntries, Timestamp};
use prost::Message;

use crate::error::WireError;
use crate::names::sanitize_label_name;
use crate::push::metadata_pair;
use proto::{
    AnyValue, ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
    KeyValue, Value,
};

/// Resource attributes that become stream labels, and their label names.
pub const RESOURCE_LABELS: [(&str, &str); 5] = [
    ("k8s.namespace.name", "namespace"),
    ("k8s.pod.name", "pod"),
    ("k8s.container.name", "container"),
    ("k8s.node.name", "node"),
    ("service.name", "service_name"),
];

/// Whether an OTLP body is JSON (`application/json`) or protobuf (anything else).
pub fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|c| c.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// Decodes an OTLP logs body (without its `Content-Encoding`) into streams; `now` is the
/// receive time for records without one.
///
/// ```
/// let body = br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"k8s.pod.name","value":{"stringValue":"api-0"}}]},
///   "scopeLogs":[{"logRecords":[{"timeUnixNano":"1714557600000000000","body":{"stringValue":"hello"},
///   "attributes":[{"key":"http.method","value":{"stringValue":"GET"}}]}]}]}]}"#;
/// let streams = kelp_wire::otlp::decode_logs(Some("application/json"), body, kelp_model::Timestamp::from_unix_nanos(0)).unwrap();
/// assert_eq!(streams[0].labels.get("pod"), Some("api-0"));
/// assert_eq!(&streams[0].entries[0].line[..], b"hello");
/// assert_eq!(streams[0].entries[0].metadata[0].name, "http_method");
/// ```
pub fn decode_logs(
    content_type: Option<&str>,
    body: &[u8],
    now: Timestamp,
) -> Result<Vec<StreamEntries>, WireError> {
    let req = if is_json(content_type) {
        json::decode_request_json(body)?
    } else {
        decode_request_protobuf(body)?
    };
    to_streams(&req, now)
}

/// Decodes a protobuf `ExportLogsServiceRequest`.
pub fn decode_request_protobuf(body: &[u8]) -> Result<ExportLogsServiceRequest, WireError> {
    ExportLogsServiceRequest::decode(body).map_err(|e| WireError::Protobuf {
        message: "ExportLogsServiceRequest",
        reason: e.to_string(),
    })
}

/// Maps a request to streams, as the module documentation describes.
pub fn to_streams(
    req: &ExportLogsServiceRequest,
    now: Timestamp,
) -> Result<Vec<StreamEntries>, WireError> {
    let mut streams: Vec<StreamEntries> = Vec::new();
    let mut by_labels: HashMap<Labels, usize> = HashMap::new();
    for (i, rl) in req.resource_logs.iter().enumerate() {
        let mut labels = Vec::new();
        let mut resource_meta = Vec::new();
        for kv in rl.resource.iter().flat_map(|r| &r.attributes) {
            match RESOURCE_LABELS.iter().find(|(attr, _)| *attr == kv.key) {
                Some((_, label)) => labels.push((*label, text(kv.value.as_ref()))),
                None => push_attr(&mut resource_meta, kv),
            }
        }
        let labels =
            Labels::from_pairs(labels).map_err(|source| WireError::Labels { stream: i, source })?;
        let index = *by_labels.entry(labels.clone()).or_insert_with(|| {
            streams.push(StreamEntries {
                labels,
                entries: Vec::new(),
            });
            streams.len() - 1
        });
        for sl in &rl.scope_logs {
            let mut scope_meta = resource_meta.clone();
            if let Some(scope) = &sl.scope {
                push(&mut scope_meta, "scope_name", scope.name.clone());
                push(&mut scope_meta, "scope_version", scope.version.clone());
                for kv in &scope.attributes {
                    push_attr(&mut scope_meta, kv);
                }
            }
            let entries = &mut streams[index].entries;
            entries.extend(sl.log_records.iter().map(|r| entry(r, &scope_meta, now)));
        }
    }
    Ok(streams)
}

fn entry(r: &proto::LogRecord, inherited: &[LabelPair], now: Timestamp) -> Entry {
    let ns = |n: u64| Timestamp::from_unix_nanos(i64::try_from(n).unwrap_or(i64::MAX));
    let timestamp = match (r.time_unix_nano, r.observed_time_unix_nano) {
        (0, 0) => now,
        (0, observed) => ns(observed),
        (t, _) => ns(t),
    };
    let line = match r.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone().into(),
        None => bytes::Bytes::new(),
        Some(other) => plain_json(other).to_string().into(),
    };
    let mut metadata = inherited.to_vec();
    for kv in &r.attributes {
        push_attr(&mut metadata, kv);
    }
    push(&mut metadata, "severity_text", r.severity_text.clone());
    if r.severity_number != 0 {
        push(
            &mut metadata,
            "severity_number",
            r.severity_number.to_string(),
        );
    }
    push(&mut metadata, "trace_id", hex::encode(&r.trace_id));
    push(&mut metadata, "span_id", hex::encode(&r.span_id));
    Entry {
        timestamp,
        line,
        metadata,
    }
}

fn push(out: &mut Vec<LabelPair>, name: &str, value: String) {
    out.extend(metadata_pair(name.to_owned(), value));
}

fn push_attr(out: &mut Vec<LabelPair>, kv: &KeyValue) {
    out.extend(metadata_pair(
        sanitize_label_name(&kv.key).into_owned(),
        text(kv.value.as_ref()),
    ));
}

/// An attribute value as text: strings as they are, everything else as plain JSON.
fn text(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(other) => plain_json(other).to_string(),
    }
}

/// A value as ordinary JSON (not OTLP/JSON): `{"a":1}`, `[1,"x"]`; bytes as base64.
fn plain_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    let any = |a: &AnyValue| a.value.as_ref().map_or(J::Null, plain_json);
    match v {
        Value::StringValue(s) => J::String(s.clone()),
        Value::BoolValue(b) => J::Bool(*b),
        Value::IntValue(i) => J::from(*i),
        Value::DoubleValue(d) => {
            serde_json::Number::from_f64(*d).map_or_else(|| J::String(d.to_string()), J::Number)
        }
        Value::ArrayValue(a) => J::Array(a.values.iter().map(any).collect()),
        Value::KvlistValue(kv) => J::Object(
            kv.values
                .iter()
                .map(|k| (k.key.clone(), k.value.as_ref().map_or(J::Null, any)))
                .collect(),
        ),
        Value::BytesValue(b) => J::String(json::base64_encode(b)),
    }
}

/// The success answer as protobuf: an empty `ExportLogsServiceResponse`, or one with
/// `partial_success` when `rejected` records were dropped.
pub fn export_response_protobuf(rejected: i64, error_message: &str) -> Vec<u8> {
    let partial_success =
        (rejected != 0 || !error_message.is_empty()).then(|| ExportLogsPartialSuccess {
            rejected_log_records: rejected,
            error_message: error_message.to_owned(),
        });
    ExportLogsServiceResponse { partial_success }.encode_to_vec()
}

/// The success answer as OTLP/JSON: `{}`, or
/// `{"partialSuccess":{"rejectedLogRecords":"3","errorMessage":"..."}}`.
pub fn export_response_json(rejected: i64, error_message: &str) -> Vec<u8> {
    if rejected == 0 && error_message.is_empty() {
        return b"{}".to_vec();
    }
    let v = serde_json::json!({"partialSuccess": {
        "rejectedLogRecords": rejected.to_string(),
        "errorMessage": error_message,
    }});
    serde_json::to_vec(&v).unwrap_or_default()
}
