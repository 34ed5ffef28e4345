//! Docker json-file lines (spec §1.6), with serde_json as the oracle.

use std::borrow::Cow;

use kelp_k8s::docker::{self, DockerRecord};
use kelp_k8s::{DockerReason, K8sError, Stream};
use proptest::prelude::*;

use crate::ts;

fn ok(line: &[u8]) -> DockerRecord<'_> {
    docker::parse(line).unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(line)))
}

/// (line, log, partial, stream, time)
type Row = (&'static [u8], &'static [u8], bool, Stream, &'static str);

#[test]
fn docker_lines_as_written_and_as_fluent_bit_tests_them() {
    let table: &[Row] = &[
        (
            br#"{"log":"hello\n","stream":"stdout","time":"2024-06-01T12:00:00.123456789Z"}"#,
            b"hello",
            false,
            Stream::Stdout,
            "2024-06-01T12:00:00.123456789Z",
        ),
        // A piece of a line docker cut at 16 KiB: no trailing \n.
        (
            br#"{"log":"first 16 KiB","stream":"stderr","time":"2024-06-01T12:00:00.57606443Z"}"#,
            b"first 16 KiB",
            true,
            Stream::Stderr,
            "2024-06-01T12:00:00.57606443Z",
        ),
        // Any key order, whitespace, a trailing LF.
        (
            b" { \"time\" : \"2024-06-01T12:00:00Z\" ,\t\"stream\":\"stdout\" , \"log\" : \"x\\n\" } \n",
            b"x",
            false,
            Stream::Stdout,
            "2024-06-01T12:00:00Z",
        ),
        // Unknown keys of every type are skipped.
        (
            br#"{"a":{"b":[1,2.5e-3,{"c":null}],"d":true},"log":"x\n","e":false,"stream":"stdout","f":-0,"time":"2024-06-01T12:00:00Z","g":"\u0041"}"#,
            b"x",
            false,
            Stream::Stdout,
            "2024-06-01T12:00:00Z",
        ),
        // The empty line; CRLF keeps its CR.
        (br#"{"log":"\n","stream":"stdout","time":"2024-06-01T12:00:00Z"}"#, b"", false, Stream::Stdout, "2024-06-01T12:00:00Z"),
        (br#"{"log":"abc\r\n","stream":"stdout","time":"2024-06-01T12:00:00Z"}"#, b"abc\r", false, Stream::Stdout, "2024-06-01T12:00:00Z"),
        // Docker leaves out an empty log.
        (br#"{"stream":"stdout","time":"2024-06-01T12:00:00Z"}"#, b"", true, Stream::Stdout, "2024-06-01T12:00:00Z"),
        // Every escape; docker itself writes <, >, & as \u003c, \u003e, \u0026.
        (
            br#"{"log":"\"\\\/\b\f\n\r\t\u003ca\u0026b\u003e\u00e9\ud83d\ude00\n","stream":"stdout","time":"2024-06-01T12:00:00Z"}"#,
            "\"\\/\u{8}\u{c}\n\r\t<a&b>é😀".as_bytes(),
            false,
            Stream::Stdout,
            "2024-06-01T12:00:00Z",
        ),
        // Lone surrogates become U+FFFD, as in Go.
        (
            br#"{"log":"a\ud800b\udc00c\ud800\u0041\n","stream":"stdout","time":"2024-06-01T12:00:00Z"}"#,
            "a\u{fffd}b\u{fffd}c\u{fffd}A".as_bytes(),
            false,
            Stream::Stdout,
            "2024-06-01T12:00:00Z",
        ),
        // Bytes that are not UTF-8 are kept as they are.
        (b"{\"log\":\"\xff\xfe\xc3(\\n\",\"stream\":\"stdout\",\"time\":\"2024-06-01T12:00:00Z\"}", b"\xff\xfe\xc3(", false, Stream::Stdout, "2024-06-01T12:00:00Z"),
        // Duplicate keys: the last wins; null leaves a string as it was (Go).
        (
            br#"{"log":"a\n","log":"b","stream":"stderr","stream":null,"time":"2024-06-01T12:00:00Z"}"#,
            b"b",
            true,
            Stream::Stderr,
            "2024-06-01T12:00:00Z",
        ),
        // Escaped key names are decoded before matching.
        (br#"{"\u006cog":"x\n","stream":"stdout","time":"2024-06-01T12:00:00Z"}"#, b"x", false, Stream::Stdout, "2024-06-01T12:00:00Z"),
        // fluent-bit's unescaping fixture (core_unescaping_text.log).
        (
            br#"{"log":"Text with embedded quoted \"text with embedded quoted \\\"text with embedded quoted \\\\\\\"text\\\\\\\"\\\"\"\n","stream":"stdout","time":"2019-04-01T17:58:33.598656444Z"}"#,
            br#"Text with embedded quoted "text with embedded quoted \"text with embedded quoted \\\"text\\\"\"""#,
            false,
            Stream::Stdout,
            "2019-04-01T17:58:33.598656444Z",
        ),
    ];
    for &(line, log, partial, stream, time) in table {
        let r = ok(line);
        assert_eq!(
            (r.log.as_ref(), r.partial, r.stream, r.timestamp),
            (log, partial, stream, ts(time)),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn the_log_is_borrowed_unless_it_has_escapes_besides_the_final_newline() {
    let line = br#"{"log":"GET /healthz 200\n","stream":"stdout","time":"2024-06-01T12:00:00Z"}"#;
    let r = ok(line);
    assert!(matches!(r.log, Cow::Borrowed(_)));
    assert_eq!(r.log.as_ptr(), line[8..].as_ptr());
    assert!(matches!(
        ok(br#"{"log":"a\"b\n","stream":"stdout","time":"2024-06-01T12:00:00Z"}"#).log,
        Cow::Owned(_)
    ));
}

#[test]
fn attrs_are_exposed() {
    let r = ok(br#"{"log":"x\n","stream":"stdout","attrs":{"tag":"web","io.kubernetes.pod":"api-0"},"time":"2024-06-01T12:00:00Z"}"#);
    assert_eq!(r.attrs.get("tag").as_deref(), Some("web"));
    assert_eq!(r.attrs.iter().count(), 2);
    assert!(
        ok(br#"{"stream":"stdout","attrs":null,"time":"2024-06-01T12:00:00Z"}"#)
            .attrs
            .is_empty()
    );
    assert!(ok(br#"{"stream":"stdout","time":"2024-06-01T12:00:00Z"}"#)
        .attrs
        .is_empty());
    // Regression (fuzz/docker_json, first smoke run): a key that is not UTF-8 is shown
    // lossily by `iter` and cannot be looked up by `get`; its neighbours still can.
    let line = b"{\"attrs\":{\"\xff\":\"a\",\"tag\":\"x\"},\"stream\":\"stdout\",\"time\":\"2024-06-01T12:00:00Z\"}";
    let r = ok(line);
    let keys: Vec<String> = r.attrs.iter().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(keys, ["\u{fffd}", "tag"]);
    assert_eq!(r.attrs.get("\u{fffd}"), None);
    assert_eq!(r.attrs.get("tag").as_deref(), Some("x"));
}

#[test]
fn as_cri_feeds_the_joiner() {
    let r = ok(br#"{"log":"abc","stream":"stderr","time":"2024-06-01T12:00:00Z"}"#);
    let c = r.as_cri();
    assert_eq!(
        (c.stream, c.partial, c.content, c.timestamp),
        (
            Stream::Stderr,
            true,
            &b"abc"[..],
            ts("2024-06-01T12:00:00Z")
        )
    );
}

#[test]
fn errors_name_the_byte() {
    use DockerReason::*;
    let table: &[(&[u8], usize, DockerReason)] = &[
        (b"", 0, UnexpectedEnd),
        (b"2024-06-01T12:00:00Z stdout F x", 0, ExpectedObject),
        (b"[]", 0, ExpectedObject),
        (b"{", 1, UnexpectedEnd),
        (b"{\"log\"", 6, UnexpectedEnd),
        (b"{\"log\":\"x", 7, UnterminatedString),
        (b"{log:1}", 1, ExpectedKey),
        (b"{\"log\" \"x\"}", 7, ExpectedColon),
        (b"{\"log\":\"x\" \"y\"}", 11, ExpectedCommaOrClose),
        (b"{\"log\":\"x\",}", 11, ExpectedKey),
        (b"{\"log\":\"\\x\"}", 8, InvalidEscape),
        (b"{\"log\":\"\\u12\"}", 8, InvalidEscape),
        (b"{\"a\":tru}", 5, ExpectedValue),
        (b"{\"a\":01}", 6, ExpectedCommaOrClose),
        (b"{\"a\":-}", 5, InvalidNumber),
        (b"{\"a\":[1,]}", 8, ExpectedValue),
        (
            br#"{"stream":"stdout","time":"2024-06-01T12:00:00Z"} x"#,
            50,
            TrailingBytes,
        ),
        (
            br#"{"log":1,"stream":"stdout","time":"2024-06-01T12:00:00Z"}"#,
            7,
            WrongType {
                field: "log",
                expected: "string",
            },
        ),
        (
            br#"{"log":"x","stream":["stdout"],"time":"2024-06-01T12:00:00Z"}"#,
            20,
            WrongType {
                field: "stream",
                expected: "string",
            },
        ),
        (
            br#"{"attrs":{"a":1},"stream":"stdout","time":"2024-06-01T12:00:00Z"}"#,
            14,
            WrongType {
                field: "attrs",
                expected: "object of strings",
            },
        ),
        (
            br#"{"attrs":"a","stream":"stdout","time":"2024-06-01T12:00:00Z"}"#,
            9,
            WrongType {
                field: "attrs",
                expected: "object of strings",
            },
        ),
        (
            br#"{"log":"x\n","time":"2024-06-01T12:00:00Z"}"#,
            43,
            MissingField("stream"),
        ),
        (
            br#"{"log":"x\n","stream":"stdout"}"#,
            31,
            MissingField("time"),
        ),
        (
            br#"{"log":"x\n","stream":"stdin","time":"2024-06-01T12:00:00Z"}"#,
            22,
            InvalidStream,
        ),
        (
            br#"{"stream":"stdout","time":"2024-06-01T12:00:00"}"#,
            46,
            InvalidTime("expected 'Z' or a numeric offset"),
        ),
        (
            br#"{"stream":"stdout","time":"yesterday"}"#,
            27,
            InvalidTime("expected a 4-digit year"),
        ),
    ];
    for &(line, offset, reason) in table {
        assert_eq!(
            docker::parse(line),
            Err(K8sError::DockerJson { offset, reason }),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
    let deep = format!("{{\"a\":{}", "[".repeat(300));
    assert!(matches!(
        docker::parse(deep.as_bytes()),
        Err(K8sError::DockerJson {
            reason: TooDeep,
            ..
        })
    ));
}

/// Encodes `s` as a JSON string body, choosing per character among the forms JSON
/// allows (`choices` drives the choice).
fn encode(s: &str, choices: &[u8]) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        let pick = choices.get(i % choices.len().max(1)).copied().unwrap_or(0);
        let u = |out: &mut String, unit: u16| {
            if pick & 2 == 0 {
                out.push_str(&format!("\\u{unit:04x}"));
            } else {
                out.push_str(&format!("\\u{unit:04X}"));
            }
        };
        let short = match c {
            '"' => Some("\\\""),
            '\\' => Some("\\\\"),
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            '/' if pick & 4 != 0 => Some("\\/"),
            _ => None,
        };
        let must_escape = c < ' ' || c == '"' || c == '\\';
        if pick & 1 == 0 && !must_escape {
            out.push(c);
        } else if let (Some(e), true) = (short, pick & 8 == 0) {
            out.push_str(e);
        } else {
            let mut units = [0u16; 2];
            for &unit in c.encode_utf16(&mut units).iter() {
                u(&mut out, unit);
            }
        }
    }
    out
}

fn line_with_log(log_json: &str, order: u8, ws: &str) -> String {
    let fields = [
        format!("\"log\"{ws}:{ws}\"{log_json}\""),
        "\"stream\":\"stderr\"".to_string(),
        format!("\"time\":{ws}\"2024-06-01T12:00:00.5+02:00\""),
        format!("\"x\":{ws}[{{\"y\":[null, 1e9]}}]"),
    ];
    let mut idx = [0, 1, 2, 3];
    idx.rotate_left(usize::from(order % 4));
    if order & 4 != 0 {
        idx.reverse();
    }
    let body: Vec<&str> = idx.iter().map(|&i| fields[i].as_str()).collect();
    format!("{{{ws}{}{ws}}}", body.join(&format!("{ws},{ws}")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// On any string, escaped any way JSON allows, in any field order: the decoded log
    /// is what serde_json decodes, with the full/partial rule applied.
    #[test]
    fn agrees_with_serde_json(
        s in any::<String>(),
        choices in proptest::collection::vec(any::<u8>(), 1..8),
        order in any::<u8>(),
        ws in prop_oneof![Just(""), Just(" "), Just("\t\r\n ")],
        full in any::<bool>(),
    ) {
        let text = if full { format!("{s}\n") } else { s.clone() };
        let line = line_with_log(&encode(&text, &choices), order, ws);
        let oracle: serde_json::Value = serde_json::from_str(&line).unwrap();
        let want = oracle["log"].as_str().unwrap();
        prop_assert_eq!(want, text.as_str());
        let r = docker::parse(line.as_bytes()).unwrap();
        let mut got = r.log.to_vec();
        if !r.partial {
            got.push(b'\n');
        }
        prop_assert_eq!(got, want.as_bytes());
        prop_assert_eq!(r.partial, !want.ends_with('\n'));
        prop_assert_eq!(r.stream, Stream::Stderr);
        prop_assert_eq!(r.timestamp, ts("2024-06-01T10:00:00.5Z"));
    }

    /// Whatever serde_json accepts as a docker line, we accept too, with the same log.
    #[test]
    fn accepts_what_serde_json_accepts(
        mutations in proptest::collection::vec((0usize..90, any::<u8>(), any::<bool>()), 0..4),
    ) {
        let mut line = br#"{"log":"a \"b\" \u00e9\n","stream":"stdout","x":[1,{"y":null}],"time":"2024-06-01T12:00:00Z"}"#.to_vec();
        for (at, b, insert) in mutations {
            let at = at.min(line.len());
            if insert || at == line.len() {
                line.insert(at, b);
            } else {
                line[at] = b;
            }
        }
        let ours = docker::parse(&line);
        let Ok(serde_json::Value::Object(m)) = serde_json::from_slice::<serde_json::Value>(&line) else {
            return Ok(());
        };
        let stream = m.get("stream").and_then(|v| v.as_str());
        let time = m.get("time").and_then(|v| v.as_str());
        let log = m.get("log").map_or(Some(""), |v| v.as_str());
        let attrs_ok = m.get("attrs").is_none_or(|a| a.is_null() || a.as_object().is_some_and(|o| o.values().all(|v| v.is_string())));
        if let (Some("stdout" | "stderr"), Some(time), Some(log), true) = (stream, time, log, attrs_ok) {
            if kelp_model::Timestamp::parse_rfc3339(time.as_bytes()).is_ok() {
                let r = ours.unwrap();
                let mut got = r.log.to_vec();
                if !r.partial {
                    got.push(b'\n');
                }
                prop_assert_eq!(got, log.as_bytes());
            }
        }
    }

    /// Arbitrary bytes never panic.
    #[test]
    fn parse_never_panics(line in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(r) = docker::parse(&line) {
            let _ = r.attrs.iter().count();
        }
    }

    /// Nor do arbitrary JSON-ish token soups, which reach deeper into the scanner.
    #[test]
    fn token_soup_never_panics(tokens in proptest::collection::vec(
        prop_oneof![
            Just("{"), Just("}"), Just("["), Just("]"), Just(","), Just(":"), Just("\"log\""),
            Just("\"stream\""), Just("\"stdout\""), Just("\"time\""), Just("\"attrs\""),
            Just("\"2024-06-01T12:00:00Z\""), Just("\"\\ud800\""), Just("\"\\n\""), Just("null"),
            Just("-1.5e3"), Just("true"), Just(" "), Just("\""), Just("\\"),
        ],
        0..40,
    )) {
        let line = tokens.concat();
        if let Ok(r) = docker::parse(line.as_bytes()) {
            let _ = r.attrs.iter().count();
            let _ = r.attrs.get("a");
        }
    }
}
