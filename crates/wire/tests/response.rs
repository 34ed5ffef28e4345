//! Golden tests: the response shapes of spec §3.3–§3.5, §4, §5, §6, byte for byte.

use kelp_model::{LabelPair, Labels, Timestamp};
use kelp_wire::response::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).unwrap()
}

fn text(body: Vec<u8>) -> String {
    let s = String::from_utf8(body).unwrap();
    assert!(s.ends_with('\n'), "Loki ends JSON bodies with a newline");
    s.trim_end().to_owned()
}

fn without_stats(mut r: QueryResponse) -> QueryResponse {
    r.stats = None;
    r
}

fn value(ns: i64, line: &str) -> LogValue {
    LogValue {
        timestamp: Timestamp::from_unix_nanos(ns),
        line: line.to_owned().into(),
        ..LogValue::default()
    }
}

#[test]
fn streams_match_the_spec_example() {
    let r = without_stats(QueryResponse::new(QueryResult::Streams(vec![LogStream {
        labels: labels(&[("app", "checkout"), ("env", "prod")]),
        values: vec![
            value(1714557600500000000, "order 42 paid"),
            value(1714557600000000000, "order 42 created"),
        ],
    }])));
    assert_eq!(
        text(r.to_json()),
        r#"{"status":"success","data":{"resultType":"streams","result":[{"stream":{"app":"checkout","env":"prod"},"values":[["1714557600500000000","order 42 paid"],["1714557600000000000","order 42 created"]]}]}}"#
    );
}

#[test]
fn categorize_labels_adds_flags_and_third_element() {
    let mut paid = value(1714557600500000000, "order 42 paid");
    paid.structured_metadata = vec![LabelPair {
        name: "trace_id".into(),
        value: "a1b2c3".into(),
    }];
    paid.parsed = vec![LabelPair {
        name: "status".into(),
        value: "200".into(),
    }];
    let mut r = without_stats(QueryResponse::new(QueryResult::Streams(vec![LogStream {
        labels: labels(&[("app", "checkout")]),
        values: vec![paid, value(1, "plain")],
    }])));
    r.categorize_labels = true;
    r.warnings = vec!["w".into()];
    assert_eq!(
        text(r.to_json()),
        r#"{"status":"success","warnings":["w"],"data":{"resultType":"streams","encodingFlags":["categorize-labels"],"result":[{"stream":{"app":"checkout"},"values":[["1714557600500000000","order 42 paid",{"structuredMetadata":{"trace_id":"a1b2c3"},"parsed":{"status":"200"}}],["1","plain",{}]]}]}}"#
    );
}

#[test]
fn matrix_vector_scalar_match_the_spec() {
    let m = without_stats(QueryResponse::new(QueryResult::Matrix(vec![Series {
        metric: labels(&[("level", "error")]),
        values: vec![
            Point::new(1714557600000, 3.0),
            Point::new(1714557660500, 4.25),
        ],
    }])));
    assert_eq!(
        text(m.to_json()),
        r#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"level":"error"},"values":[[1714557600,"3"],[1714557660.5,"4.25"]]}]}}"#
    );
    let v = without_stats(QueryResponse::new(QueryResult::Vector(vec![
        InstantSample {
            metric: Labels::empty(),
            value: Point::new(4000, 2.0),
        },
    ])));
    assert_eq!(
        text(v.to_json()),
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[4,"2"]}]}}"#
    );
    let s = without_stats(QueryResponse::new(QueryResult::Scalar(Point::new(
        1714557600000,
        2.0,
    ))));
    assert_eq!(
        text(s.to_json()),
        r#"{"status":"success","data":{"resultType":"scalar","result":[1714557600,"2"]}}"#
    );
}

#[test]
fn stats_have_lokis_names() {
    let body = text(QueryResponse::new(QueryResult::Vector(vec![])).to_json());
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let stats = &v["data"]["stats"];
    // Field names from spec §3.4.
    let want = serde_json::json!({"summary":{"bytesProcessedPerSecond":0,"linesProcessedPerSecond":0,"totalBytesProcessed":0,
            "totalLinesProcessed":0,"execTime":0.0,"queueTime":0.0,"subqueries":0,
            "totalEntriesReturned":0,"splits":0,"shards":0,"totalPostFilterLines":0,
            "totalStructuredMetadataBytesProcessed":0},
        "querier":{"store":{"totalChunksRef":0,"totalChunksDownloaded":0,"chunksDownloadTime":0,
            "queryReferencedStructuredMetadata":false,
            "chunk":{"headChunkBytes":0,"headChunkLines":0,"decompressedBytes":0,
                     "decompressedLines":0,"compressedBytes":0,"totalDuplicates":0,
                     "postFilterLines":0,"headChunkStructuredMetadataBytes":0,
                     "decompressedStructuredMetadataBytes":0}}}});
    assert_eq!(stats["summary"], want["summary"]);
    assert_eq!(stats["querier"], want["querier"]);
    assert_eq!(stats["ingester"]["store"], want["querier"]["store"]);
    assert_eq!(stats["ingester"]["totalReached"], 0);
    assert_eq!(stats["cache"]["chunk"]["queryLengthServed"], 0);
    assert_eq!(stats["index"]["usedBloomFilters"], false);
    assert!(body.contains(r#""execTime":0.0"#));
    // Keys in Loki's order: resultType, result, stats.
    let data = body.find("\"data\"").unwrap();
    assert!(body[data..].find("resultType") < body[data..].find("\"result\""));
    assert!(body[data..].find("\"result\"") < body[data..].find("\"stats\""));
    // Clients can read it back.
    let back: Stats = serde_json::from_value(stats.clone()).unwrap();
    assert_eq!(back, Stats::default());
}

#[test]
fn metadata_shapes() {
    assert_eq!(
        text(success(&["app", "env", "level"])),
        r#"{"status":"success","data":["app","env","level"]}"#
    );
    assert_eq!(
        text(success::<[&str]>(&[])),
        r#"{"status":"success","data":[]}"#
    );
    assert_eq!(
        text(series_response(&[
            labels(&[("app", "checkout"), ("env", "prod")]),
            labels(&[("app", "api"), ("env", "prod")])
        ])),
        r#"{"status":"success","data":[{"app":"checkout","env":"prod"},{"app":"api","env":"prod"}]}"#
    );
    let stats = IndexStats {
        streams: 12,
        chunks: 40,
        bytes: 1048576,
        entries: 5000,
    };
    assert_eq!(
        text(stats.to_json()),
        r#"{"streams":12,"chunks":40,"bytes":1048576,"entries":5000}"#
    );
    let volume = without_stats(QueryResponse::new(QueryResult::Vector(vec![
        InstantSample {
            metric: labels(&[("service_name", "api")]),
            value: Point::new(1714557600000, 73400320.0),
        },
    ])));
    assert_eq!(
        text(volume.to_json()),
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"service_name":"api"},"value":[1714557600,"73400320"]}]}}"#
    );
    let info = BuildInfo {
        version: "3.5.0".into(),
        revision: "abc".into(),
        branch: "main".into(),
        build_user: "kelp".into(),
        build_date: "2024-01-01".into(),
        go_version: "rustc 1.85".into(),
    };
    assert_eq!(
        text(info.to_json()),
        r#"{"version":"3.5.0","revision":"abc","branch":"main","buildUser":"kelp","buildDate":"2024-01-01","goVersion":"rustc 1.85"}"#
    );
    assert_eq!(
        text(success("{app=\"x\"}")),
        r#"{"status":"success","data":"{app=\"x\"}"}"#
    );
}

#[test]
fn tail_message_matches_the_spec() {
    let mut m = TailMessage {
        streams: vec![LogStream {
            labels: labels(&[("app", "checkout")]),
            values: vec![value(1714557601000000000, "order 43 created")],
        }],
        dropped_entries: vec![DroppedEntry {
            labels: labels(&[("app", "checkout")]),
            timestamp: Timestamp::from_unix_nanos(1714557600900000000),
        }],
        categorize_labels: false,
    };
    assert_eq!(
        m.to_json(),
        r#"{"streams":[{"stream":{"app":"checkout"},"values":[["1714557601000000000","order 43 created"]]}],"dropped_entries":[{"labels":{"app":"checkout"},"timestamp":"1714557600900000000"}]}"#
    );
    m.dropped_entries.clear();
    m.categorize_labels = true;
    assert_eq!(
        m.to_json(),
        r#"{"streams":[{"stream":{"app":"checkout"},"values":[["1714557601000000000","order 43 created",{}]]}],"encodingFlags":["categorize-labels"]}"#
    );
    assert_eq!(TailMessage::default().to_json(), r#"{"streams":[]}"#);
}

#[test]
fn lines_are_escaped_and_non_utf8_replaced() {
    let r = without_stats(QueryResponse::new(QueryResult::Streams(vec![LogStream {
        labels: labels(&[("a", "b")]),
        values: vec![LogValue {
            timestamp: Timestamp::from_unix_nanos(1),
            line: bytes::Bytes::from_static(b"q\"\n\xff<"),
            ..LogValue::default()
        }],
    }])));
    let body = text(r.to_json());
    assert!(
        body.contains(r#"["1","q\"\n\u{fffd}<"]"#.replace("\\u{fffd}", "\u{fffd}").as_str()),
        "{body}"
    );
}
