//! Log queries: selectors, line filters, parsers, label filters, formats, direction, limit.

use kelp_query::Direction::{Backward, Forward};

use crate::{fixture, labels};

fn lines(out: &[(kelp_model::Labels, Vec<(i64, String)>)]) -> Vec<i64> {
    let mut t: Vec<i64> = out
        .iter()
        .flat_map(|(_, e)| e.iter().map(|x| x.0))
        .collect();
    t.sort();
    t
}

#[test]
fn direction_and_limit_across_streams() {
    let f = fixture();
    let out = f.logs(r#"{app="api"}"#, Backward, 3);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].0, labels(&[("app", "api"), ("pod", "a")]));
    assert_eq!(
        out[0].1.iter().map(|e| e.0).collect::<Vec<_>>(),
        vec![31, 21]
    );
    assert_eq!(out[1].1.iter().map(|e| e.0).collect::<Vec<_>>(), vec![65]);
    let out = f.logs(r#"{app="api"}"#, Forward, 2);
    assert_eq!(lines(&out), vec![1, 5]);
    // The same with a stage the store cannot run (windowed scan).
    let out = f.logs(r#"{app="api"} | decolorize"#, Backward, 3);
    assert_eq!(lines(&out), vec![21, 31, 65]);
    let out = f.logs(r#"{app=~"api|web", pod!="a"}"#, Forward, 100);
    assert_eq!(lines(&out), vec![2, 5, 15, 62, 65]);
}

#[test]
fn line_filters() {
    let f = fixture();
    let cases: &[(&str, &[i64])] = &[
        (r#"{app="api"} |= "error""#, &[11, 31, 65]),
        (r#"{app="api"} != "error" != "info""#, &[15, 21]),
        (r#"{app="api"} |~ "status\":5\\d\\d""#, &[11, 31]),
        (r#"{app="api"} |~ "(?i)BOOM""#, &[65]),
        (r#"{app="api"} !~ "level.?.?.?(info|error)""#, &[15, 21]),
        (r#"{app="api"} |= "boom" or "slow""#, &[15, 65]),
        (
            r#"{app="api"} != "boom" or "slow" |= "level""#,
            &[1, 5, 11, 31],
        ),
        (r#"{app="web"} |= ip("192.168.0.0/16")"#, &[62]),
        (r#"{app="web"} != ip("10.0.0.1-10.0.0.9")"#, &[62]),
        (r#"{app="web"} |> "<_> /api <_>""#, &[62]),
        (r#"{app="web"} !> "GET <_>""#, &[62]),
        (r#"{app="api"} |= """#, &[1, 5, 11, 15, 21, 31, 65]),
    ];
    for (q, want) in cases {
        assert_eq!(lines(&f.logs(q, Forward, 100)), *want, "{q}");
    }
}

#[test]
fn json_parser_labels_errors_and_conflicts() {
    let f = fixture();
    let out = f.logs(r#"{pod="a"} | json"#, Forward, 100);
    let by_t = |t: i64| {
        out.iter()
            .find(|(_, e)| e.iter().any(|x| x.0 == t))
            .unwrap()
            .0
            .clone()
    };
    assert_eq!(
        by_t(1),
        labels(&[
            ("app", "api"),
            ("latency", "100ms"),
            ("level", "info"),
            ("pod", "a"),
            ("size", "1KB"),
            ("status", "200")
        ])
    );
    assert_eq!(by_t(21).get("__error__"), Some("JSONParserErr"));
    assert_eq!(by_t(31).get("app_extracted"), Some("inner"));
    assert_eq!(by_t(31).get("app"), Some("api"));
    let out = f.logs(r#"{pod="a"} | json | __error__="""#, Forward, 100);
    assert_eq!(lines(&out), vec![1, 11, 31]);
    let out = f.logs(
        r#"{pod="a"} | json code="status", level | level="error""#,
        Forward,
        100,
    );
    assert_eq!(lines(&out), vec![11, 31]);
    assert_eq!(out[0].0.get("code"), Some("500"));
}

#[test]
fn logfmt_regexp_pattern_and_label_filters() {
    let f = fixture();
    let cases: &[(&str, &[i64])] = &[
        (r#"{pod="b"} | logfmt | duration > 100ms"#, &[15, 65]),
        (
            r#"{pod="b"} | logfmt | duration <= 5ms or msg="boom""#,
            &[5, 65],
        ),
        (
            r#"{pod="b"} | logfmt | level=~"warn|error", msg!="boom""#,
            &[15],
        ),
        (
            r#"{pod="b"} | logfmt --strict | __error__="""#,
            &[5, 15, 65],
        ),
        (r#"{pod="a"} | json | status >= 500"#, &[11, 31]),
        (r#"{pod="a"} | json | size > 500B"#, &[1]),
        (
            r#"{pod="a"} | json | latency > 1s and latency < 1.8s"#,
            &[31],
        ),
        (
            r#"{app="web"} | regexp "(?P<method>\\w+) (?P<path>\\S+)" | method="POST""#,
            &[62],
        ),
        (
            r#"{app="web"} | pattern "<method> <path> <code> <ip>" | code="200""#,
            &[2],
        ),
        (
            r#"{app="web"} | pattern "<_> <_> <code> <_>" | code > 300"#,
            &[62],
        ),
        (
            r#"{app="web"} | pattern "<m> <_> <_> <ip>" | ip = ip("10.0.0.0/8")"#,
            &[2],
        ),
    ];
    for (q, want) in cases {
        assert_eq!(lines(&f.logs(q, Forward, 100)), *want, "{q}");
    }
    // A conversion failure keeps the line and marks it.
    let out = f.logs(r#"{pod="b"} | logfmt | msg > 5"#, Forward, 100);
    assert_eq!(lines(&out), vec![5, 15, 65]);
    assert!(out
        .iter()
        .all(|(l, _)| l.get("__error__") == Some("LabelFilterErr")));
}

#[test]
fn formats_drop_keep() {
    let f = fixture();
    let out = f.logs(
        r#"{pod="b"} | logfmt | line_format "{{.level | ToUpper}}: {{.msg}} {{ __line__ | len }}""#,
        Forward,
        1,
    );
    assert_eq!(out[0].1[0].1, "INFO: hello world 41");
    // Go-template variables, `range` over the labels and a defined template.
    let out = f.logs(
        r#"{pod="b"} | logfmt | line_format `{{ define "kv" }}{{ .k }}={{ .v }}{{ end }}{{ $l := .level }}{{ range $k, $v := $ }}{{ if eq $k "level" "msg" }}{{ $k }}:{{ $v }};{{ end }}{{ end }}{{ $l | upper }}`"#,
        Forward,
        1,
    );
    assert_eq!(out[0].1[0].1, "level:info;msg:hello world;INFO");
    let out = f.logs(
        r#"{pod="b"} | logfmt | label_format lvl=level, what="{{.msg}}!" | lvl="warn""#,
        Forward,
        100,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0.get("level"), None);
    assert_eq!(out[0].0.get("what"), Some("slow!"));
    let out = f.logs(
        r#"{pod="b"} | logfmt | drop msg, duration, level="info""#,
        Forward,
        100,
    );
    assert_eq!(out.len(), 3);
    let plain = out
        .iter()
        .find(|s| s.0 == labels(&[("app", "api"), ("pod", "b")]))
        .unwrap();
    assert_eq!(
        plain.1,
        vec![(
            5,
            r#"level=info msg="hello world" duration=5ms"#.to_string()
        )]
    );
    let out = f.logs(r#"{pod="a"} | json | keep level"#, Forward, 100);
    assert_eq!(
        out.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
        vec![
            labels(&[
                ("__error__", "JSONParserErr"),
                ("__error_details__", "invalid JSON object")
            ]),
            labels(&[("level", "error")]),
            labels(&[("level", "info")]),
        ]
    );
    let err = f
        .try_range(r#"{pod="b"} | label_format a=b, a="x""#, 0, 60, 60)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "multiple label name 'a' not allowed in a single format operation"
    );
    let err = f.instant(r#"{pod="b"}"#, 60).unwrap_err();
    assert!(err
        .to_string()
        .starts_with("log queries are not supported as an instant query type"));
}
