//! OTLP/HTTP logs: mapping, protobuf and JSON round trips, responses.

use kelp_model::{LabelPair, Timestamp};
use kelp_wire::otlp::proto::*;
use kelp_wire::otlp::{self, json};
use proptest::prelude::*;
use prost::Message;

const NOW: Timestamp = Timestamp::from_unix_nanos(42);

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

fn sample() -> ExportLogsServiceRequest {
    let record = |t: u64, body: Option<Value>| LogRecord {
        time_unix_nano: t,
        observed_time_unix_nano: 7,
        severity_number: 9,
        severity_text: "INFO".into(),
        body: body.map(|value| AnyValue { value: Some(value) }),
        attributes: vec![
            kv("http.method", s("GET")),
            kv("retries", Value::IntValue(3)),
        ],
        dropped_attributes_count: 0,
        flags: 0,
        trace_id: vec![0xab; 16],
        span_id: vec![0x01; 8],
        event_name: String::new(),
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![
                    kv("k8s.namespace.name", s("shop")),
                    kv("k8s.pod.name", s("api-0")),
                    kv("k8s.container.name", s("api")),
                    kv("k8s.node.name", s("node-1")),
                    kv("service.name", s("checkout")),
                    kv("k8s.pod.uid", s("uid-1")),
                ],
                dropped_attributes_count: 0,
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "lib".into(),
                    version: "1.0".into(),
                    attributes: vec![],
                    dropped_attributes_count: 0,
                }),
                log_records: vec![
                    record(1714557600000000000, Some(s("hello"))),
                    record(
                        0,
                        Some(Value::KvlistValue(KeyValueList {
                            values: vec![
                                kv("a", Value::IntValue(1)),
                                kv(
                                    "b",
                                    Value::ArrayValue(ArrayValue {
                                        values: vec![AnyValue {
                                            value: Some(Value::BoolValue(true)),
                                        }],
                                    }),
                                ),
                            ],
                        })),
                    ),
                ],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

#[test]
fn mapping_follows_the_spec() {
    let streams = otlp::to_streams(&sample(), NOW).unwrap();
    assert_eq!(streams.len(), 1);
    assert_eq!(
        streams[0].labels.to_string(),
        r#"{container="api", namespace="shop", node="node-1", pod="api-0", service_name="checkout"}"#
    );
    let e = &streams[0].entries;
    assert_eq!(
        e[0].timestamp,
        Timestamp::from_unix_nanos(1714557600000000000)
    );
    assert_eq!(&e[0].line[..], b"hello");
    let pair = |n: &str, v: &str| LabelPair {
        name: n.into(),
        value: v.into(),
    };
    assert_eq!(
        e[0].metadata,
        vec![
            pair("k8s_pod_uid", "uid-1"),
            pair("scope_name", "lib"),
            pair("scope_version", "1.0"),
            pair("http_method", "GET"),
            pair("retries", "3"),
            pair("severity_text", "INFO"),
            pair("severity_number", "9"),
            pair("trace_id", "abababababababababababababababab"),
            pair("span_id", "0101010101010101"),
        ]
    );
    // No time: the observed time; non-string body: plain JSON.
    assert_eq!(e[1].timestamp, Timestamp::from_unix_nanos(7));
    assert_eq!(&e[1].line[..], br#"{"a":1,"b":[true]}"#);
    // Nothing at all: receive time, empty line, no labels.
    let bare = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: None,
            scope_logs: vec![ScopeLogs {
                scope: None,
                log_records: vec![LogRecord::default()],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    };
    let streams = otlp::to_streams(&bare, NOW).unwrap();
    assert!(streams[0].labels.is_empty());
    assert_eq!(streams[0].entries[0].timestamp, NOW);
    assert!(streams[0].entries[0].line.is_empty());
    assert!(streams[0].entries[0].metadata.is_empty());
}

#[test]
fn protobuf_and_json_round_trip() {
    let req = sample();
    let proto = req.encode_to_vec();
    assert_eq!(otlp::decode_request_protobuf(&proto).unwrap(), req);
    let j = json::encode_request_json(&req);
    let back = json::decode_request_json(&j).unwrap();
    assert_eq!(
        otlp::to_streams(&back, NOW).unwrap(),
        otlp::to_streams(&req, NOW).unwrap()
    );
    assert_eq!(
        otlp::decode_logs(Some("application/json; charset=utf-8"), &j, NOW).unwrap(),
        otlp::decode_logs(Some("application/x-protobuf"), &proto, NOW).unwrap()
    );
}

#[test]
fn json_encoding_details() {
    // Numbers or strings for 64-bit integers, snake_case accepted, hex ids, base64 bytes.
    let body = br#"{"resource_logs":[{"scopeLogs":[{"logRecords":[
        {"timeUnixNano":1714557600000000000,"severityNumber":"17","traceId":"0102","span_id":"",
         "body":{"bytesValue":"aGk="},"attributes":[{"key":"n","value":{"intValue":5}},{"key":"d","value":{"doubleValue":1.5}},{"key":"x"}]}]}]}]}"#;
    let streams = otlp::decode_logs(Some("application/json"), body, NOW).unwrap();
    let e = &streams[0].entries[0];
    assert_eq!(e.timestamp, Timestamp::from_unix_nanos(1714557600000000000));
    assert_eq!(&e.line[..], br#""aGk=""#);
    let names: Vec<_> = e
        .metadata
        .iter()
        .map(|p| format!("{}={}", p.name, p.value))
        .collect();
    assert_eq!(
        names,
        ["n=5", "d=1.5", "severity_number=17", "trace_id=0102"]
    );
    for bad in [
        &br#"[]"#[..],
        br#"{"resourceLogs":{}}"#,
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zz"}]}]}]}"#,
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"-1"}]}]}]}"#,
        br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":1}}]}]}]}"#,
    ] {
        assert!(
            otlp::decode_logs(Some("application/json"), bad, NOW).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn responses() {
    assert!(otlp::export_response_protobuf(0, "").is_empty());
    let partial =
        ExportLogsServiceResponse::decode(&otlp::export_response_protobuf(3, "too old")[..])
            .unwrap();
    assert_eq!(partial.partial_success.unwrap().rejected_log_records, 3);
    assert_eq!(otlp::export_response_json(0, ""), b"{}");
    assert_eq!(
        String::from_utf8(otlp::export_response_json(3, "too old")).unwrap(),
        r#"{"partialSuccess":{"errorMessage":"too old","rejectedLogRecords":"3"}}"#
    );
}

proptest! {
    #[test]
    fn otlp_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = otlp::decode_logs(None, &body, NOW);
        let _ = otlp::decode_logs(Some("application/json"), &body, NOW);
    }
}
