//! Elasticsearch `_bulk`: spec §10.2–§10.6.

use kelp_model::{LabelPair, Timestamp};
use kelp_wire::bulk::*;
use proptest::prelude::*;

const NOW: Timestamp = Timestamp::from_unix_nanos(1_700_000_000_000_000_000);

fn parse(body: &str) -> BulkRequest {
    parse_bulk(
        body.as_bytes(),
        Some("url-index"),
        &BulkMapping::default(),
        NOW,
    )
    .unwrap()
}

fn response(req: &BulkRequest) -> serde_json::Value {
    serde_json::from_slice(&bulk_response(3, &req.items)).unwrap()
}

#[test]
fn fluent_bit_default_request() {
    let body = concat!(
        r#"{"create":{"_index":"fluent-bit","_type":"_doc"}}"#,
        "\n",
        r#"{"@timestamp":"2024-05-01T12:00:00.123Z","log":"GET /health 200\n","stream":"stdout","kubernetes":{"pod_name":"api-0","namespace_name":"shop","container_name":"api","host":"node-1","labels":{"app":"api"},"pod_id":"uid-1"}}"#,
        "\n",
    );
    let req = parse(body);
    assert_eq!(req.streams.len(), 1);
    let s = &req.streams[0];
    assert_eq!(
        s.labels.to_string(),
        r#"{container="api", index="fluent-bit", namespace="shop", node="node-1", pod="api-0", stream="stdout"}"#
    );
    let e = &s.entries[0];
    assert_eq!(&e.line[..], b"GET /health 200");
    assert_eq!(
        e.timestamp,
        Timestamp::parse_rfc3339(b"2024-05-01T12:00:00.123Z").unwrap()
    );
    let pair = |n: &str, v: &str| LabelPair {
        name: n.into(),
        value: v.into(),
    };
    assert_eq!(
        e.metadata,
        vec![
            pair("kubernetes_labels_app", "api"),
            pair("kubernetes_pod_id", "uid-1")
        ]
    );
    let text = String::from_utf8(bulk_response(3, &req.items)).unwrap();
    assert!(
        text.starts_with(
            r#"{"took":3,"errors":false,"items":[{"create":{"_index":"fluent-bit","_id":""#
        ),
        "{text}"
    );
    assert!(text.contains(r#""_version":1,"result":"created","_shards":{"total":1,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}}]}"#), "{text}");
}

#[test]
fn filebeat_and_vector_requests() {
    let body = concat!(
        r#"{"create":{"_index":"filebeat-8.17.0"}}"#,
        "\r\n",
        r#"{"@timestamp":"2024-05-01T12:00:00Z","message":"hello","kubernetes":{"namespace":"shop","pod":{"name":"api-0"},"container":{"name":"api"},"node":{"name":"n1"}},"stream":"stderr","host":{"name":"n1"}}"#,
        "\r\n",
        r#"{"index":{"_index":"vector-2024.05.01","_id":"doc-7"}}"#,
        "\n",
        r#"{"timestamp":1714564800123,"message":"from vector","service.name":"checkout"}"#,
    );
    let req = parse(body);
    assert_eq!(req.streams.len(), 2);
    assert_eq!(
        req.streams[0].labels.to_string(),
        r#"{container="api", index="filebeat-8.17.0", namespace="shop", node="n1", pod="api-0", stream="stderr"}"#
    );
    assert_eq!(
        req.streams[0].entries[0].metadata,
        vec![LabelPair {
            name: "host_name".into(),
            value: "n1".into()
        }]
    );
    assert_eq!(
        req.streams[1].labels.to_string(),
        r#"{index="vector-2024.05.01", service_name="checkout"}"#
    );
    assert_eq!(
        req.streams[1].entries[0].timestamp,
        Timestamp::from_unix_nanos(1714564800123000000)
    );
    let v = response(&req);
    assert_eq!(v["errors"], false);
    assert_eq!(v["items"][1]["index"]["_id"], "doc-7");
    assert_eq!(v["items"][1]["index"]["status"], 201);
}

#[test]
fn per_item_outcomes() {
    type Case<'a> = (&'a str, &'a str, Option<(u16, &'a str)>);
    let table: &[Case] = &[
        ("document", "{\"index\":{}}\n{\"message\":\"x\"}\n", None),
        ("url index", "{\"create\":{}}\n{\"message\":\"x\"}\n", None),
        (
            "update",
            "{\"update\":{\"_id\":\"1\"}}\n{\"doc\":{\"a\":1}}\n",
            Some((400, "illegal_argument_exception")),
        ),
        (
            "delete",
            "{\"delete\":{\"_id\":\"1\"}}\n",
            Some((400, "illegal_argument_exception")),
        ),
        (
            "malformed doc",
            "{\"index\":{}}\n{\"message\":\n",
            Some((400, "mapper_parsing_exception")),
        ),
        (
            "array doc",
            "{\"index\":{}}\n[1,2]\n",
            Some((400, "mapper_parsing_exception")),
        ),
        (
            "string doc",
            "{\"index\":{}}\n\"x\"\n",
            Some((400, "mapper_parsing_exception")),
        ),
        (
            "empty doc line",
            "{\"index\":{}}\n\n",
            Some((400, "mapper_parsing_exception")),
        ),
        (
            "missing source",
            "{\"index\":{}}\n",
            Some((400, "action_request_validation_exception")),
        ),
        ("bad label value name", "{\"index\":{}}\n{}\n", None),
    ];
    for (name, body, want) in table {
        let req = parse(body);
        assert_eq!(req.items.len(), 1, "{name}");
        let v = response(&req);
        let item = v["items"][0]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .clone();
        match want {
            None => {
                assert_eq!(item["status"], 201, "{name}: {item}");
                assert_eq!(v["errors"], false, "{name}");
            }
            Some((status, ty)) => {
                assert_eq!(item["status"], *status, "{name}: {item}");
                assert_eq!(item["error"]["type"], *ty, "{name}: {item}");
                assert!(
                    item["error"]["reason"]
                        .as_str()
                        .is_some_and(|r| !r.is_empty()),
                    "{name}"
                );
                assert_eq!(v["errors"], true, "{name}");
            }
        }
    }
    // A failed item does not fail its neighbours, and the order is kept.
    let req = parse("{\"delete\":{\"_id\":\"1\"}}\n{\"index\":{}}\n{oops\n{\"create\":{}}\n{\"message\":\"ok\"}");
    let v = response(&req);
    let statuses: Vec<_> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_object().unwrap().values().next().unwrap()["status"].clone())
        .collect();
    assert_eq!(statuses, [400, 400, 201]);
    assert!(String::from_utf8(bulk_response(0, &req.items))
        .unwrap()
        .contains(r#""errors":true,"items":["#));
    // Missing index with no URL index fails the item.
    let req = parse_bulk(b"{\"index\":{}}\n{}\n", None, &BulkMapping::default(), NOW).unwrap();
    assert!(
        matches!(&req.items[0].outcome, ItemOutcome::Failed(e) if e.reason.contains("index is missing"))
    );
}

#[test]
fn whole_request_errors() {
    let table: &[(&str, &str)] = &[
        ("not json", "nope\n{}\n"),
        ("not an object", "[1]\n{}\n"),
        ("unknown action", "{\"upsert\":{}}\n{}\n"),
        ("two actions", "{\"index\":{},\"create\":{}}\n{}\n"),
        ("no action", "{}\n{}\n"),
        ("meta not object", "{\"index\":\"x\"}\n{}\n"),
    ];
    for (name, body) in table {
        let err = parse_bulk(body.as_bytes(), Some("i"), &BulkMapping::default(), NOW).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Malformed action/metadata line [1]"),
            "{name}: {err}"
        );
    }
    let err = parse_bulk(
        b"{\"index\":{}}\n{}\n{\"upsert\":{}}\n",
        None,
        &BulkMapping::default(),
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Malformed action/metadata line [3], expected field [create], [delete], [index] or [update] but found [upsert]"
    );
    let body = error_response(400, "illegal_argument_exception", "bad");
    assert_eq!(
        String::from_utf8(body).unwrap(),
        r#"{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"bad"}],"type":"illegal_argument_exception","reason":"bad"},"status":400}"#
    );
}

#[test]
fn newline_rules_and_empty_body() {
    assert!(parse("").items.is_empty());
    assert!(parse("\n\n").items.is_empty());
    // Blank lines between actions, CRLF, and no final newline.
    let req =
        parse("\n{\"index\":{}}\r\n{\"message\":\"a\"}\r\n\r\n{\"index\":{}}\n{\"message\":\"b\"}");
    assert_eq!(req.items.len(), 2);
    assert_eq!(req.streams[0].entries.len(), 2);
    assert_eq!(&req.streams[0].entries[1].line[..], b"b");
}

#[test]
fn mapping_choices() {
    // No line field: the whole document, as sent, is the line and nothing goes to metadata.
    let req = parse("{\"index\":{}}\n {\"z\":1, \"a\":{\"b\":true}} \n");
    let e = &req.streams[0].entries[0];
    assert_eq!(&e.line[..], br#"{"z":1, "a":{"b":true}}"#);
    assert!(e.metadata.is_empty());
    assert_eq!(e.timestamp, NOW);
    // Timestamps: RFC 3339 with offset, without zone, epoch millis as string, garbage.
    for (ts, want) in [
        (r#""2024-05-01T14:00:00+02:00""#, Some(1714564800000000000)),
        (r#""2024-05-01T12:00:00.5""#, Some(1714564800500000000)),
        (r#""1714564800123""#, Some(1714564800123000000)),
        ("1714564800123.5", Some(1714564800123500000)),
        (r#""yesterday""#, None),
        ("true", None),
    ] {
        let req = parse(&format!(
            "{{\"index\":{{}}}}\n{{\"@timestamp\":{ts},\"message\":\"m\"}}\n"
        ));
        let got = req.streams[0].entries[0].timestamp;
        assert_eq!(
            got,
            want.map(Timestamp::from_unix_nanos).unwrap_or(NOW),
            "{ts}"
        );
    }
    // Non-string line fields and labels become JSON text; nested metadata is flattened.
    let req = parse("{\"index\":{}}\n{\"message\":{\"k\":1},\"stream\":7,\"a\":{\"b\":{\"c\":\"d\"}},\"n\":null,\"arr\":[1,\"x\"]}\n");
    let s = &req.streams[0];
    assert_eq!(s.labels.get("stream"), Some("7"));
    assert_eq!(&s.entries[0].line[..], br#"{"k":1}"#);
    let names: Vec<_> = s.entries[0]
        .metadata
        .iter()
        .map(|p| (p.name.as_str(), p.value.as_str()))
        .collect();
    assert_eq!(names, [("a_b_c", "d"), ("arr", r#"[1,"x"]"#)]);
    // A custom mapping from configuration.
    let m: BulkMapping = serde_json::from_str(
        r#"{"labels":[{"label":"app","fields":["app"]}],"index_label":null,"line_fields":["msg"],"other_fields_to_metadata":false}"#,
    )
    .unwrap();
    let req = parse_bulk(
        b"{\"index\":{}}\n{\"app\":\"x\",\"msg\":\"hi\",\"other\":1}\n",
        Some("i"),
        &m,
        NOW,
    )
    .unwrap();
    assert_eq!(req.streams[0].labels.to_string(), r#"{app="x"}"#);
    assert!(req.streams[0].entries[0].metadata.is_empty());
    assert!(serde_json::from_str::<BulkMapping>(r#"{"bogus":1}"#).is_err());
}

#[test]
fn server_can_fail_accepted_items() {
    let mut req = parse("{\"index\":{}}\n{\"message\":\"x\"}\n");
    req.items[0].fail(429, "es_rejected_execution_exception", "rate limited");
    let v = response(&req);
    assert_eq!(v["errors"], true);
    assert_eq!(v["items"][0]["index"]["status"], 429);
}

#[test]
fn stub_responses() {
    let info: serde_json::Value = serde_json::from_slice(&root_info(&EsInfo::default())).unwrap();
    assert_eq!(info["version"]["number"], "8.17.0");
    assert_eq!(info["version"]["build_flavor"], "default");
    assert_eq!(info["tagline"], "You Know, for Search");
    let health: serde_json::Value = serde_json::from_slice(&cluster_health("kelp")).unwrap();
    assert_eq!(health["status"], "green");
    let lic: serde_json::Value = serde_json::from_slice(&license()).unwrap();
    assert_eq!(lic["license"]["status"], "active");
    assert_eq!(empty_object(), b"{}");
    assert_eq!(acknowledged(), br#"{"acknowledged":true}"#);
    assert_eq!(PRODUCT_HEADER, ("X-Elastic-Product", "Elasticsearch"));
}

proptest! {
    #[test]
    fn bulk_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(req) = parse_bulk(&body, Some("i"), &BulkMapping::default(), NOW) {
            let _ = bulk_response(0, &req.items);
        }
    }

    #[test]
    fn bulk_lines_never_panic(lines in proptest::collection::vec("\\{\"(index|create|delete|update)\":\\{\\}\\}|\\{\"message\":\"[a-z]{0,5}\"\\}|\\{|\\[\\]|", 0..8)) {
        let body = lines.join("\n");
        if let Ok(req) = parse_bulk(body.as_bytes(), Some("i"), &BulkMapping::default(), NOW) {
            let _ = bulk_response(0, &req.items);
        }
    }
}
