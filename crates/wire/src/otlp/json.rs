//! OTLP/JSON: the protobuf messages in JSON form (lowerCamelCase keys, the original
//! snake_case names also accepted; 64-bit integers as strings or numbers; `traceId` and
//! `spanId` as hex; other bytes as base64; enums as numbers).

use serde_json::{json, Map, Value as Json};

use crate::error::WireError;
use crate::otlp::proto::*;

type R<T> = Result<T, WireError>;

fn bad(context: &str, reason: impl Into<String>) -> WireError {
    WireError::json(format!("OTLP {context}"), reason)
}

/// Decodes an OTLP/JSON `ExportLogsServiceRequest`.
pub fn decode_request_json(body: &[u8]) -> R<ExportLogsServiceRequest> {
    let v: Json = serde_json::from_slice(body).map_err(|e| bad("request", e.to_string()))?;
    let obj = object(&v, "request")?;
    Ok(ExportLogsServiceRequest {
        resource_logs: list(obj, "resourceLogs", "resource_logs", resource_logs)?,
    })
}

fn object<'a>(v: &'a Json, what: &str) -> R<&'a Map<String, Json>> {
    v.as_object()
        .ok_or_else(|| bad(what, "expected a JSON object"))
}

fn field<'a>(obj: &'a Map<String, Json>, camel: &str, snake: &str) -> Option<&'a Json> {
    obj.get(camel)
        .or_else(|| obj.get(snake))
        .filter(|v| !v.is_null())
}

fn list<T>(
    obj: &Map<String, Json>,
    camel: &str,
    snake: &str,
    each: impl Fn(&Json) -> R<T>,
) -> R<Vec<T>> {
    match field(obj, camel, snake) {
        None => Ok(Vec::new()),
        Some(Json::Array(a)) => a.iter().map(each).collect(),
        Some(_) => Err(bad(camel, "expected an array")),
    }
}

fn string(obj: &Map<String, Json>, camel: &str, snake: &str) -> R<String> {
    match field(obj, camel, snake) {
        None => Ok(String::new()),
        Some(Json::String(s)) => Ok(s.clone()),
        Some(_) => Err(bad(camel, "expected a string")),
    }
}

/// A 64-bit integer: a JSON number or a decimal string.
fn int(obj: &Map<String, Json>, camel: &str, snake: &str) -> R<i128> {
    match field(obj, camel, snake) {
        None => Ok(0),
        Some(Json::Number(n)) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .ok_or_else(|| bad(camel, "expected an integer")),
        Some(Json::String(s)) if s.is_empty() => Ok(0),
        Some(Json::String(s)) => s
            .parse::<i128>()
            .map_err(|_| bad(camel, format!("{s:?} is not an integer"))),
        Some(_) => Err(bad(camel, "expected an integer")),
    }
}

fn u64_field(obj: &Map<String, Json>, camel: &str, snake: &str) -> R<u64> {
    u64::try_from(int(obj, camel, snake)?).map_err(|_| bad(camel, "out of range"))
}

fn resource_logs(v: &Json) -> R<ResourceLogs> {
    let o = object(v, "resourceLogs")?;
    let resource = match field(o, "resource", "resource") {
        None => None,
        Some(r) => {
            let r = object(r, "resource")?;
            Some(Resource {
                attributes: list(r, "attributes", "attributes", key_value)?,
                dropped_attributes_count: 0,
            })
        }
    };
    Ok(ResourceLogs {
        resource,
        scope_logs: list(o, "scopeLogs", "scope_logs", scope_logs)?,
        schema_url: string(o, "schemaUrl", "schema_url")?,
    })
}

fn scope_logs(v: &Json) -> R<ScopeLogs> {
    let o = object(v, "scopeLogs")?;
    let scope = match field(o, "scope", "scope") {
        None => None,
        Some(s) => {
            let s = object(s, "scope")?;
            Some(InstrumentationScope {
                name: string(s, "name", "name")?,
                version: string(s, "version", "version")?,
                attributes: list(s, "attributes", "attributes", key_value)?,
                dropped_attributes_count: 0,
            })
        }
    };
    Ok(ScopeLogs {
        scope,
        log_records: list(o, "logRecords", "log_records", log_record)?,
        schema_url: string(o, "schemaUrl", "schema_url")?,
    })
}

fn log_record(v: &Json) -> R<LogRecord> {
    let o = object(v, "logRecords")?;
    let hex_id = |camel, snake| -> R<Vec<u8>> {
        let s = string(o, camel, snake)?;
        hex::decode(&s).map_err(|e| bad(camel, format!("not hex: {e}")))
    };
    Ok(LogRecord {
        time_unix_nano: u64_field(o, "timeUnixNano", "time_unix_nano")?,
        observed_time_unix_nano: u64_field(o, "observedTimeUnixNano", "observed_time_unix_nano")?,
        severity_number: i32::try_from(int(o, "severityNumber", "severity_number")?)
            .map_err(|_| bad("severityNumber", "out of range"))?,
        severity_text: string(o, "severityText", "severity_text")?,
        body: field(o, "body", "body").map(any_value).transpose()?,
        attributes: list(o, "attributes", "attributes", key_value)?,
        dropped_attributes_count: 0,
        flags: u32::try_from(int(o, "flags", "flags")?)
            .map_err(|_| bad("flags", "out of range"))?,
        trace_id: hex_id("traceId", "trace_id")?,
        span_id: hex_id("spanId", "span_id")?,
        event_name: string(o, "eventName", "event_name")?,
    })
}

fn key_value(v: &Json) -> R<KeyValue> {
    let o = object(v, "attribute")?;
    Ok(KeyValue {
        key: string(o, "key", "key")?,
        value: field(o, "value", "value").map(any_value).transpose()?,
    })
}

fn any_value(v: &Json) -> R<AnyValue> {
    let o = object(v, "AnyValue")?;
    let value = if let Some(s) = field(o, "stringValue", "string_value") {
        Some(Value::StringValue(
            s.as_str()
                .ok_or_else(|| bad("stringValue", "expected a string"))?
                .to_owned(),
        ))
    } else if let Some(b) = field(o, "boolValue", "bool_value") {
        Some(Value::BoolValue(
            b.as_bool()
                .ok_or_else(|| bad("boolValue", "expected a boolean"))?,
        ))
    } else if field(o, "intValue", "int_value").is_some() {
        let n = int(o, "intValue", "int_value")?;
        Some(Value::IntValue(
            i64::try_from(n).map_err(|_| bad("intValue", "out of range"))?,
        ))
    } else if let Some(d) = field(o, "doubleValue", "double_value") {
        let d = match d {
            Json::String(s) => s.parse::<f64>().ok(),
            other => other.as_f64(),
        };
        Some(Value::DoubleValue(
            d.ok_or_else(|| bad("doubleValue", "expected a number"))?,
        ))
    } else if let Some(a) = field(o, "arrayValue", "array_value") {
        let a = object(a, "arrayValue")?;
        Some(Value::ArrayValue(ArrayValue {
            values: list(a, "values", "values", any_value)?,
        }))
    } else if let Some(kv) = field(o, "kvlistValue", "kvlist_value") {
        let kv = object(kv, "kvlistValue")?;
        Some(Value::KvlistValue(KeyValueList {
            values: list(kv, "values", "values", key_value)?,
        }))
    } else if let Some(b) = field(o, "bytesValue", "bytes_value") {
        let s = b
            .as_str()
            .ok_or_else(|| bad("bytesValue", "expected a string"))?;
        Some(Value::BytesValue(
            base64_decode(s).ok_or_else(|| bad("bytesValue", "not base64"))?,
        ))
    } else {
        None
    };
    Ok(AnyValue { value })
}

/// Encodes a request as OTLP/JSON (for tests and senders).
pub fn encode_request_json(req: &ExportLogsServiceRequest) -> Vec<u8> {
    let rl: Vec<Json> = req
        .resource_logs
        .iter()
        .map(|r| {
            json!({
                "resource": {"attributes": r.resource.as_ref().map(|x| kvs(&x.attributes)).unwrap_or_default()},
                "scopeLogs": r.scope_logs.iter().map(|s| json!({
                    "scope": s.scope.as_ref().map(|x| json!({"name": x.name, "version": x.version})),
                    "logRecords": s.log_records.iter().map(record_json).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::to_vec(&json!({ "resourceLogs": rl })).unwrap_or_default()
}

fn record_json(r: &LogRecord) -> Json {
    let mut o = json!({
        "timeUnixNano": r.time_unix_nano.to_string(),
        "observedTimeUnixNano": r.observed_time_unix_nano.to_string(),
        "severityNumber": r.severity_number,
        "severityText": r.severity_text,
        "attributes": kvs(&r.attributes),
        "traceId": hex::encode(&r.trace_id),
        "spanId": hex::encode(&r.span_id),
    });
    if let (Some(body), Some(map)) = (&r.body, o.as_object_mut()) {
        map.insert("body".into(), any_json(body));
    }
    o
}

fn kvs(kv: &[KeyValue]) -> Vec<Json> {
    kv.iter()
        .map(|k| json!({"key": k.key, "value": k.value.as_ref().map(any_json)}))
        .collect()
}

fn any_json(v: &AnyValue) -> Json {
    match &v.value {
        None => json!({}),
        Some(Value::StringValue(s)) => json!({ "stringValue": s }),
        Some(Value::BoolValue(b)) => json!({ "boolValue": b }),
        Some(Value::IntValue(i)) => json!({ "intValue": i.to_string() }),
        Some(Value::DoubleValue(d)) => json!({ "doubleValue": d }),
        Some(Value::ArrayValue(a)) => {
            json!({"arrayValue": {"values": a.values.iter().map(any_json).collect::<Vec<_>>()}})
        }
        Some(Value::KvlistValue(kv)) => json!({"kvlistValue": {"values": kvs(&kv.values)}}),
        Some(Value::BytesValue(b)) => json!({ "bytesValue": base64_encode(b) }),
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(crate) fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard or URL-safe base64, padding optional.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for data in [&b""[..], b"f", b"fo", b"foo", b"foob", b"\xff\x00\x10"] {
            assert_eq!(base64_decode(&base64_encode(data)).unwrap(), data);
        }
        assert_eq!(base64_encode(b"foob"), "Zm9vYg==");
        assert!(base64_decode("a*b").is_none());
    }
}
