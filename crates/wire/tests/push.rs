//! Loki push: every rule of spec §2.1–§2.4, round trips and property tests.

use kelp_model::{Entry, LabelPair, Labels, StreamEntries, Timestamp};
use kelp_wire::compress;
use kelp_wire::{decode_push, decode_push_encoded, encode_push_json, encode_push_protobuf};
use proptest::prelude::*;

const JSON: Option<&str> = Some("application/json");
const PROTO: Option<&str> = Some("application/x-protobuf");

fn json(body: &str) -> Result<Vec<StreamEntries>, String> {
    decode_push(JSON, body.as_bytes()).map_err(|e| e.to_string())
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).unwrap()
}

#[test]
fn spec_example_decodes() {
    let body = r#"{
      "streams": [
        {
          "stream": { "app": "checkout", "env": "prod" },
          "values": [
            [ "1714557600000000000", "order 42 created" ],
            [ "1714557600500000000", "order 42 paid", { "trace_id": "a1b2c3", "user": "u-9" } ]
          ]
        }
      ]
    }"#;
    let got = json(body).unwrap();
    let mut paid = Entry::new(
        Timestamp::from_unix_nanos(1714557600500000000),
        "order 42 paid",
    );
    paid.metadata = vec![
        LabelPair {
            name: "trace_id".into(),
            value: "a1b2c3".into(),
        },
        LabelPair {
            name: "user".into(),
            value: "u-9".into(),
        },
    ];
    let want = vec![StreamEntries {
        labels: labels(&[("app", "checkout"), ("env", "prod")]),
        entries: vec![
            Entry::new(
                Timestamp::from_unix_nanos(1714557600000000000),
                "order 42 created",
            ),
            paid,
        ],
    }];
    assert_eq!(got, want);
}

#[test]
fn json_accepts_what_loki_accepts() {
    let table: &[(&str, &str, usize)] = &[
        (
            "values null",
            r#"{"streams":[{"stream":{"a":"b"},"values":null}]}"#,
            0,
        ),
        ("no values key", r#"{"streams":[{"stream":{"a":"b"}}]}"#, 0),
        (
            "unknown keys",
            r#"{"x":1,"streams":[{"y":[1],"stream":{"a":"b"},"values":[["1","l"]]}],"z":{}}"#,
            1,
        ),
        (
            "number label value",
            r#"{"streams":[{"stream":{"a":1,"b":2.5},"values":[["1","l"]]}]}"#,
            1,
        ),
        (
            "negative ts",
            r#"{"streams":[{"stream":{"a":"b"},"values":[["-5","l"]]}]}"#,
            1,
        ),
        (
            "escaped line",
            r#"{"streams":[{"stream":{"a":"b"},"values":[["1","x\ny\u00e9"]]}]}"#,
            1,
        ),
        (
            "empty metadata",
            r#"{"streams":[{"stream":{"a":"b"},"values":[["1","l",{}]]}]}"#,
            1,
        ),
        ("no streams", r#"{}"#, 0),
        ("streams null", r#"{"streams":null}"#, 0),
        (
            "values before stream",
            r#"{"streams":[{"values":[["1","l"]],"stream":{"a":"b"}}]}"#,
            1,
        ),
    ];
    for (name, body, n) in table {
        let got = json(body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            got.iter().map(|s| s.entries.len()).sum::<usize>(),
            *n,
            "{name}"
        );
    }
    let got =
        json(r#"{"streams":[{"stream":{"a":1,"b":2.5,"c":""},"values":[["1","x\ny"]]}]}"#).unwrap();
    assert_eq!(got[0].labels, labels(&[("a", "1"), ("b", "2.5")]));
    assert_eq!(&got[0].entries[0].line[..], b"x\ny");
}

#[test]
fn json_rejects_what_loki_rejects() {
    let s =
        |values: &str| format!(r#"{{"streams":[{{"stream":{{"a":"b"}},"values":[{values}]}}]}}"#);
    let table: Vec<(&str, String, &str)> = vec![
        ("ts as number", s(r#"[1714557600000000000,"l"]"#), "stream 0, entry 0: timestamp must be a JSON string, got a number"),
        ("ts not integer", s(r#"["1.5","l"]"#), "stream 0, entry 0: timestamp \"1.5\" is not an integer number of nanoseconds"),
        ("ts empty", s(r#"["","l"]"#), "stream 0, entry 0: timestamp \"\" is not an integer number of nanoseconds"),
        ("ts overflow", s(r#"["99999999999999999999","l"]"#), "stream 0, entry 0: timestamp \"99999999999999999999\" is not an integer number of nanoseconds"),
        ("ts rfc3339", s(r#"["2024-05-01T12:00:00Z","l"]"#), "stream 0, entry 0: timestamp \"2024-05-01T12:00:00Z\" is not an integer number of nanoseconds"),
        ("ts null", s(r#"[null,"l"]"#), "stream 0, entry 0: timestamp must be a JSON string, got null"),
        ("line number", s(r#"["1",5]"#), "stream 0, entry 0: log line must be a JSON string, got a number"),
        ("line object", s(r#"["1",{}]"#), "stream 0, entry 0: log line must be a JSON string, got an object"),
        ("one element", s(r#"["1"]"#), "stream 0, entry 0: an entry must be an array of 2 or 3 elements, got 1"),
        ("empty entry", s(r#"[]"#), "stream 0, entry 0: an entry must be an array of 2 or 3 elements, got 0"),
        ("four elements", s(r#"["1","l",{},"x"]"#), "stream 0, entry 0: an entry must be an array of 2 or 3 elements, got 4"),
        ("entry object", s(r#"{"ts":"1"}"#), "stream 0, entry 0: an entry must be an array, got an object"),
        ("metadata nested", s(r#"["1","l",{"a":{"b":"c"}}]"#), "stream 0, entry 0: structured metadata value for \"a\" must be a string, got an object"),
        ("metadata number", s(r#"["1","l",{"a":1}]"#), "stream 0, entry 0: structured metadata value for \"a\" must be a string, got a number"),
        ("metadata array", s(r#"["1","l",["a"]]"#), "stream 0, entry 0: structured metadata must be a JSON object of string values, got an array"),
        ("metadata string", s(r#"["1","l","a"]"#), "stream 0, entry 0: structured metadata must be a JSON object of string values, got a string"),
        ("second entry", s(r#"["1","l"],["x","l"]"#), "stream 0, entry 1: timestamp \"x\" is not an integer number of nanoseconds"),
        ("no labels", r#"{"streams":[{"stream":{},"values":[["1","l"]]}]}"#.into(), "error at least one label pair is required per stream"),
        ("no stream key", r#"{"streams":[{"values":[["1","l"]]}]}"#.into(), "error at least one label pair is required per stream"),
        ("only empty values", r#"{"streams":[{"stream":{"a":""}}]}"#.into(), "error at least one label pair is required per stream"),
        ("bad label name", r#"{"streams":[{"stream":{"a.b":"c"}}]}"#.into(), "stream 0: invalid label name \"a.b\": only letters, digits and '_' are allowed"),
        ("label value bool", r#"{"streams":[{"stream":{"a":true}}]}"#.into(), "stream 0: label \"a\" must have a string value, got a boolean"),
        ("label value object", r#"{"streams":[{"stream":{"a":{}}}]}"#.into(), "stream 0: label \"a\" must have a string value, got an object"),
    ];
    for (name, body, want) in &table {
        assert_eq!(json(body).unwrap_err(), *want, "{name}");
    }
    // Malformed JSON: serde's message with its position.
    for (name, body) in [
        ("empty body", ""),
        ("not an object", "[]"),
        (
            "truncated",
            r#"{"streams":[{"stream":{"a":"b"},"values":[["1","l"]"#,
        ),
        ("trailing garbage", r#"{"streams":[]} x"#),
        ("streams not array", r#"{"streams":{}}"#),
        (
            "values not array",
            r#"{"streams":[{"stream":{"a":"b"},"values":"x"}]}"#,
        ),
        ("stream not object", r#"{"streams":[{"stream":"a"}]}"#),
    ] {
        let err = json(body).unwrap_err();
        assert!(err.starts_with("push request: "), "{name}: {err}");
    }
}

#[test]
fn content_negotiation_follows_loki() {
    let batch = sample_batch();
    let j = encode_push_json(&batch);
    let p = encode_push_protobuf(&batch);
    let raw = kelp_wire::push::proto::encode_protobuf(&batch);
    let max = 1 << 20;
    let ok: Vec<(Option<&str>, Option<&str>, Vec<u8>)> = vec![
        (JSON, None, j.clone()),
        (Some("Application/JSON; charset=utf-8"), None, j.clone()),
        (JSON, Some("gzip"), compress::gzip(&j)),
        (JSON, Some("deflate"), deflate(&j)),
        (JSON, Some("zstd"), compress::zstd(&j, 3)),
        (PROTO, None, p.clone()),
        (PROTO, Some("snappy"), p.clone()),
        (PROTO, Some("gzip"), compress::gzip(&p)),
        (PROTO, Some("deflate"), deflate(&p)),
        (PROTO, Some("zstd"), compress::zstd(&raw, 3)),
        (Some("text/plain"), None, p.clone()),
        (Some("foo"), None, p.clone()),
    ];
    for (ct, ce, body) in ok {
        let got = decode_push_encoded(ct, ce, &body, max)
            .unwrap_or_else(|e| panic!("{ct:?} {ce:?}: {e}"));
        assert_eq!(got, batch, "{ct:?} {ce:?}");
    }
    type Case<'a> = (Option<&'a str>, Option<&'a str>, Vec<u8>, &'a str);
    let bad: Vec<Case> = vec![
        (None, None, j.clone(), "mime: no media type"),
        (Some(""), None, j.clone(), "mime: no media type"),
        (
            Some("  ; charset=x"),
            None,
            j.clone(),
            "mime: no media type",
        ),
        (
            Some("application/"),
            None,
            j.clone(),
            "mime: expected token after slash",
        ),
        (
            Some("a b/c"),
            None,
            j.clone(),
            "mime: expected slash after first token",
        ),
        (
            JSON,
            Some("snappy"),
            compress::snappy(&j),
            "Content-Encoding \"snappy\" not supported",
        ),
        (
            JSON,
            Some("br"),
            j.clone(),
            "Content-Encoding \"br\" not supported",
        ),
        (
            PROTO,
            Some("br"),
            p.clone(),
            "Content-Encoding \"br\" not supported",
        ),
    ];
    for (ct, ce, body, want) in bad {
        let err = decode_push_encoded(ct, ce, &body, max).unwrap_err();
        assert_eq!(err.to_string(), want, "{ct:?} {ce:?}");
    }
    // A typo in application/json falls into the protobuf branch and fails.
    assert!(decode_push(Some("application/jsonn"), &j).is_err());
    // Limits apply before and after decompression.
    let err = decode_push_encoded(JSON, None, &j, 10).unwrap_err();
    assert!(err.is_too_large());
    let err = decode_push_encoded(JSON, Some("gzip"), &compress::gzip(&j), 10).unwrap_err();
    assert!(err.is_too_large());
    let err = decode_push_encoded(PROTO, None, &p, 10).unwrap_err();
    assert!(err.is_too_large());
}

#[test]
fn protobuf_rules() {
    use kelp_wire::push::proto::{EntryAdapter, LabelPairAdapter, PushRequest, StreamAdapter};
    use prost::Message;
    let req = |labels: &str, meta: Vec<(&str, &str)>| {
        let r = PushRequest {
            streams: vec![StreamAdapter {
                labels: labels.into(),
                entries: vec![EntryAdapter {
                    timestamp: None,
                    line: "l".into(),
                    structured_metadata: meta
                        .into_iter()
                        .map(|(n, v)| LabelPairAdapter {
                            name: n.into(),
                            value: v.into(),
                        })
                        .collect(),
                    parsed: vec![LabelPairAdapter {
                        name: "ignored".into(),
                        value: "x".into(),
                    }],
                }],
                hash: 42,
            }],
            format: String::new(),
        };
        decode_push(PROTO, &compress::snappy(&r.encode_to_vec())).map_err(|e| e.to_string())
    };
    let got = req(
        r#"{app="x", empty=""}"#,
        vec![("trace.id", "t"), ("gone", "")],
    )
    .unwrap();
    assert_eq!(got[0].labels, labels(&[("app", "x")]));
    assert_eq!(got[0].entries[0].timestamp, Timestamp::from_unix_nanos(0));
    assert_eq!(
        got[0].entries[0].metadata,
        vec![LabelPair {
            name: "trace_id".into(),
            value: "t".into()
        }]
    );
    assert_eq!(
        req("{}", vec![]).unwrap_err(),
        "error at least one label pair is required per stream"
    );
    assert_eq!(
        req(r#"{a=""}"#, vec![]).unwrap_err(),
        "error at least one label pair is required per stream"
    );
    assert_eq!(
        req("app=x", vec![]).unwrap_err(),
        "stream 0: invalid label set \"app=x\" at byte 0: expected '{'"
    );
    let err = decode_push(PROTO, b"\x05garbage").unwrap_err().to_string();
    assert!(err.starts_with("snappy decompression failed"), "{err}");
    let err = decode_push(PROTO, &compress::snappy(b"\x0a\xff"))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("logproto.PushRequest: "), "{err}");
}

fn deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn sample_batch() -> Vec<StreamEntries> {
    let mut e = Entry::new(
        Timestamp::from_unix_nanos(-1_500_000_001),
        "with \"quotes\" and é",
    );
    e.metadata = vec![LabelPair {
        name: "trace_id".into(),
        value: "abc".into(),
    }];
    vec![
        StreamEntries {
            labels: labels(&[("app", "a\"b\\c\n"), ("env", "prod")]),
            entries: vec![
                Entry::new(Timestamp::from_unix_nanos(1714557600000000000), "one"),
                e,
            ],
        },
        StreamEntries {
            labels: labels(&[("app", "other")]),
            entries: vec![],
        },
    ]
}

fn arb_batch() -> impl Strategy<Value = Vec<StreamEntries>> {
    let labels = proptest::collection::btree_map("[a-zA-Z_][a-zA-Z0-9_]{0,6}", "\\PC{1,8}", 1..4)
        .prop_map(|m| Labels::from_pairs(m).unwrap());
    let meta =
        proptest::collection::btree_map("[a-z_][a-z0-9_]{0,6}", "\\PC{1,8}", 0..3).prop_map(|m| {
            m.into_iter()
                .map(|(name, value)| LabelPair { name, value })
                .collect::<Vec<_>>()
        });
    let entry = (any::<i64>(), "\\PC{0,40}", meta).prop_map(|(t, line, metadata)| Entry {
        timestamp: Timestamp::from_unix_nanos(t),
        line: line.into(),
        metadata,
    });
    let stream = (labels, proptest::collection::vec(entry, 0..5))
        .prop_map(|(labels, entries)| StreamEntries { labels, entries });
    proptest::collection::vec(stream, 0..4)
}

proptest! {
    #[test]
    fn the_direct_encoder_writes_what_prost_writes(batch in arb_batch()) {
        use prost::Message;
        let prost_bytes = kelp_wire::push::proto::to_proto(&batch).encode_to_vec();
        prop_assert_eq!(kelp_wire::push::proto::encode_protobuf(&batch), prost_bytes);
    }

    #[test]
    fn json_and_protobuf_round_trip(batch in arb_batch()) {
        prop_assert_eq!(&decode_push(JSON, &encode_push_json(&batch)).unwrap(), &batch);
        prop_assert_eq!(&decode_push(PROTO, &encode_push_protobuf(&batch)).unwrap(), &batch);
    }

    #[test]
    fn decoders_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512), ce in 0usize..5) {
        let ce = [None, Some("gzip"), Some("deflate"), Some("zstd"), Some("snappy")][ce];
        let _ = decode_push_encoded(JSON, ce, &body, 1 << 16);
        let _ = decode_push_encoded(PROTO, ce, &body, 1 << 16);
        let _ = kelp_wire::push::proto::decode_protobuf(body.clone().into());
        if let Ok(s) = std::str::from_utf8(&body) {
            let _ = kelp_wire::parse_labels(s);
        }
    }

    #[test]
    fn json_mutations_never_panic(batch in arb_batch(), cut in any::<prop::sample::Index>(), b in any::<u8>()) {
        let mut body = encode_push_json(&batch);
        if !body.is_empty() {
            let i = cut.index(body.len());
            body[i] = b;
            let _ = decode_push(JSON, &body);
            let _ = decode_push(JSON, &body[..i]);
        }
    }
}

#[test]
fn native_round_trips_and_is_bounded() {
    let batch = sample_batch();
    let body = kelp_wire::native::encode(&batch, kelp_wire::native::DEFAULT_LEVEL);
    assert_eq!(kelp_wire::native::decode(&body, 1 << 20).unwrap(), batch);
    let same = decode_push_encoded(
        Some(kelp_wire::native::CONTENT_TYPE),
        Some(kelp_wire::native::CONTENT_ENCODING),
        &body,
        1 << 20,
    );
    assert_eq!(same.unwrap(), batch);
    assert!(kelp_wire::native::decode(&body, 10)
        .unwrap_err()
        .is_too_large());
    assert!(kelp_wire::native::decode(b"nope", 1 << 20).is_err());
}

proptest! {
    #[test]
    fn native_round_trip(batch in arb_batch()) {
        let body = kelp_wire::native::encode(&batch, 1);
        prop_assert_eq!(kelp_wire::native::decode(&body, 1 << 24).unwrap(), batch);
    }

    #[test]
    fn native_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = kelp_wire::native::decode(&body, 1 << 16);
    }
}

/// Writes `s` as a JSON string, each character either as itself (when JSON allows) or
/// escaped, as `pick` says: short escapes, `\uXXXX`, surrogate pairs, `\/`.
fn write_str(out: &mut String, s: &str, pick: &mut impl FnMut() -> u8) {
    out.push('"');
    for c in s.chars() {
        let how = pick();
        match c {
            '"' => out.push_str(if how % 2 == 0 { "\\\"" } else { "\\u0022" }),
            '\\' => out.push_str("\\\\"),
            '/' if how % 3 == 0 => out.push_str("\\/"),
            '\n' if how % 2 == 0 => out.push_str("\\n"),
            '\t' if how % 2 == 0 => out.push_str("\\t"),
            c if (c as u32) < 0x20 || how % 5 == 0 => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{:04x}", u));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A push body for `batch` with JSON whitespace and escapes chosen by `seed`, and the
/// two keys of each stream in either order.
fn spelled(batch: &[StreamEntries], seed: u64) -> String {
    let mut x = seed | 1;
    let mut pick = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 32) as u8
    };
    let mut o = String::new();
    let ws =
        |o: &mut String, p: u8| o.push_str(["", " ", "\n  ", "\t", "\r\n"][usize::from(p % 5)]);
    o.push('{');
    ws(&mut o, pick());
    o.push_str("\"streams\":");
    ws(&mut o, pick());
    o.push('[');
    for (i, s) in batch.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        ws(&mut o, pick());
        o.push('{');
        let mut labels = String::from("\"stream\":{");
        for (j, l) in s.labels.iter().enumerate() {
            if j > 0 {
                labels.push(',');
            }
            write_str(&mut labels, &l.name, &mut || 1);
            labels.push(':');
            write_str(&mut labels, &l.value, &mut pick);
        }
        labels.push('}');
        let mut values = String::from("\"values\":[");
        for (j, e) in s.entries.iter().enumerate() {
            if j > 0 {
                values.push(',');
            }
            ws(&mut values, pick());
            values.push_str(&format!("[\"{}\",", e.timestamp.as_unix_nanos()));
            ws(&mut values, pick());
            write_str(
                &mut values,
                std::str::from_utf8(&e.line).unwrap(),
                &mut pick,
            );
            if !e.metadata.is_empty() || pick() % 4 == 0 {
                values.push_str(", {");
                for (k, m) in e.metadata.iter().enumerate() {
                    if k > 0 {
                        values.push(',');
                    }
                    write_str(&mut values, &m.name, &mut || 1);
                    values.push(':');
                    write_str(&mut values, &m.value, &mut pick);
                }
                values.push('}');
            }
            values.push(']');
        }
        values.push(']');
        if pick() % 2 == 0 {
            o.push_str(&labels);
            o.push(',');
            o.push_str(&values);
        } else {
            o.push_str(&values);
            o.push(',');
            ws(&mut o, pick());
            o.push_str(&labels);
        }
        o.push('}');
    }
    ws(&mut o, pick());
    o.push_str("]}");
    ws(&mut o, pick());
    o
}

/// Whatever the common shape's scanner answers, the serde decoder answers the same.
fn same_as_serde(body: &[u8]) -> Result<(), TestCaseError> {
    let body = bytes::Bytes::copy_from_slice(body);
    if let Some(fast) = kelp_wire::push::json::decode_json_fast(&body) {
        let slow = kelp_wire::push::json::decode_json_serde(body.clone());
        prop_assert_eq!(Ok(fast), slow.map_err(|e| e.to_string()), "{:?}", body);
    }
    Ok(())
}

proptest! {
    #[test]
    fn the_json_scanner_takes_every_spelling_of_the_common_shape(batch in arb_batch(), seed in any::<u64>()) {
        let body = spelled(&batch, seed);
        let fast = kelp_wire::push::json::decode_json_fast(&bytes::Bytes::from(body.clone()));
        prop_assert_eq!(fast.as_ref(), Some(&batch), "{}", body);
        same_as_serde(body.as_bytes())?;
        same_as_serde(&encode_push_json(&batch))?;
    }

    #[test]
    fn the_json_scanner_agrees_with_serde_on_damaged_bodies(
        batch in arb_batch(),
        seed in any::<u64>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut body = spelled(&batch, seed).into_bytes();
        for (at, b) in &edits {
            let i = at.index(body.len());
            // Mostly bytes JSON cares about.
            body[i] = b"\"\\{}[],:nu0 \x01\xff"[usize::from(*b) % 14];
        }
        same_as_serde(&body)?;
        same_as_serde(&body[..cut.index(body.len() + 1)])?;
    }
}

#[test]
fn the_json_scanner_leaves_the_uncommon_to_serde() {
    for body in [
        r#"{"streams":[{"stream":{"a":"1"},"values":[["1","x"]],"extra":1}]}"#,
        r#"{"streams":[{"stream":{"a":1},"values":[["1","x"]]}]}"#,
        r#"{"streams":[{"stream":{"a":"1"},"values":[["1","x"]]}],"other":true}"#,
        r#"{"streams":null}"#,
        r#"{"streams":[{"stream":{"a":"1"},"stream":{"b":"2"},"values":[]}]}"#,
        r#"{"streams":[{"stream":{"a":"1"},"values":[["\u0031","x"]]}]}"#,
        r#"{"streams":[{"stream":{"a":"1"},"values":[["1","\ud800"]]}]}"#,
        r#"{"streams":[{"stream":{},"values":[["1","x"]]}]}"#,
    ] {
        let b = bytes::Bytes::from(body);
        assert_eq!(kelp_wire::push::json::decode_json_fast(&b), None, "{body}");
    }
    // And serde's answers to them stand: the extra key ignored, the number label kept.
    assert_eq!(
        json(r#"{"streams":[{"stream":{"a":1},"values":[["1","x"]]}]}"#).unwrap()[0].labels,
        labels(&[("a", "1")])
    );
    assert!(json(r#"{"streams":[{"stream":{"a":"1"},"values":[["1","\ud800"]]}]}"#).is_err());
}
