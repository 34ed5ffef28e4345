//! Push: encodings, errors, limits, durability across a restart.

use kelp_model::{Entry, Labels, StreamEntries, Timestamp};

use crate::support::{enc, now_ns, push_json, TestServer, JSON};

fn batch(app: &str, t: i64, line: &str) -> Vec<StreamEntries> {
    vec![StreamEntries {
        labels: Labels::from_pairs([("app", app)]).unwrap(),
        entries: vec![Entry::new(Timestamp::from_unix_nanos(t), line.to_owned())],
    }]
}

fn count(s: &TestServer, selector: &str) -> usize {
    let r = s.get(&format!(
        "/loki/api/v1/query_range?query={}&since=24h",
        enc(selector)
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["values"].as_array().unwrap().len())
        .sum()
}

#[test]
fn encodings_protobuf_gzip_native() {
    let s = TestServer::start("");
    let t = now_ns() - 1_000_000_000;
    let proto = kelp_wire::encode_push_protobuf(&batch("proto", t, "a"));
    let r = s.req(
        "POST",
        "/loki/api/v1/push",
        &[("Content-Type", "application/x-protobuf")],
        &proto,
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let gz = kelp_wire::compress::gzip(&kelp_wire::encode_push_json(&batch("gz", t, "b")));
    let r = s.req(
        "POST",
        "/loki/api/v1/push",
        &[JSON, ("Content-Encoding", "gzip")],
        &gz,
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let native = kelp_wire::native::encode(&batch("native", t, "c"), 3);
    let r = s.req(
        "POST",
        "/kelp/api/v1/push",
        &[
            ("Content-Type", "application/x-protobuf"),
            ("Content-Encoding", "zstd"),
        ],
        &native,
    );
    assert_eq!(r.status, 204, "{}", r.text());
    for app in ["proto", "gz", "native"] {
        assert_eq!(count(&s, &format!("{{app=\"{app}\"}}")), 1, "{app}");
    }
}

#[test]
fn push_errors_and_limits() {
    let s = TestServer::start(
        "max_body_bytes: 4096\nlimits: {max_line_bytes: 100, max_label_names_per_series: 3, ingestion_rate_bytes_per_sec: 1000, ingestion_burst_bytes: 2000}",
    );
    let t = now_ns() - 1_000_000_000;
    let ok = push_json(r#"{"app":"a"}"#, t, &["fine"]);
    let r = s.req("POST", "/loki/api/v1/push", &[], &ok);
    assert_eq!((r.status, r.text().as_str()), (400, "mime: no media type"));
    let r = s.req(
        "POST",
        "/loki/api/v1/push",
        &[JSON, ("Content-Encoding", "br")],
        &ok,
    );
    assert_eq!(r.status, 400);
    assert!(r.text().contains("not supported"));
    let r = s.req("POST", "/loki/api/v1/push", &[JSON], &vec![b' '; 5000]);
    assert_eq!(r.status, 413, "{}", r.text());
    let long = "y".repeat(200);
    let r = s.req(
        "POST",
        "/loki/api/v1/push",
        &[JSON],
        &push_json(r#"{"app":"a"}"#, t, &["short", &long]),
    );
    assert_eq!(r.status, 400, "partial acceptance answers 400");
    assert!(r.text().contains("lines too long"), "{}", r.text());
    assert_eq!(count(&s, r#"{app="a"}"#), 1, "the valid entry is stored");
    let r = s.req(
        "POST",
        "/loki/api/v1/push",
        &[JSON],
        &push_json(r#"{"a":"1","b":"2","c":"3","d":"4"}"#, t, &["x"]),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let big: Vec<String> = (0..30).map(|i| format!("{i:0>90}")).collect();
    let big: Vec<&str> = big.iter().map(String::as_str).collect();
    let r = s.req(
        "POST",
        "/loki/api/v1/push",
        &[JSON],
        &push_json(r#"{"app":"r"}"#, t, &big),
    );
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.header("retry-after").is_some());
    assert!(r
        .text()
        .starts_with("ingestion rate limit exceeded for user fake"));
}

#[test]
fn data_survives_a_restart() {
    let s = TestServer::start("");
    let r = s.req(
        "POST",
        "/loki/api/v1/push",
        &[JSON],
        &push_json(
            r#"{"app":"keep"}"#,
            now_ns() - 1_000_000_000,
            &["one", "two"],
        ),
    );
    assert_eq!(r.status, 204);
    let dir = s.stop();
    let segments = std::fs::read_dir(dir.path().join("tenants"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(segments > 0, "shutdown flushed the head to segments");
    let s2 = TestServer::start_in(dir, "");
    assert_eq!(count(&s2, r#"{app="keep"}"#), 2);
}
