//! The grammar, feature by feature: each query parses, prints in the expected canonical
//! form, and the canonical form parses back to the same tree. Our own queries, written
//! from the spec (`docs/logql.md`), not taken from Loki's tests.

use kelp_logql::ast::{
    BinOp, CmpOp, Conversion, Expr, GroupModifier, Grouping, LabelFilter, LabelPredicate,
    LineFilterOp, LineFilterValue, MatchOp, MetricExpr, RangeOp, Stage, VectorOp,
};

use crate::{assert_fixpoint, parse_ok};

/// `(query, canonical form)`; an empty canonical form means "the query itself".
fn check(table: &[(&str, &str)]) {
    for (query, canonical) in table {
        let canonical = if canonical.is_empty() {
            query
        } else {
            canonical
        };
        let expr = parse_ok(query);
        assert_eq!(&expr.to_string(), canonical, "{query}");
        assert_fixpoint(query, &expr);
        assert_eq!(parse_ok(canonical), expr, "{query}");
    }
}

#[test]
fn stream_selectors() {
    check(&[
        (r#"{app="shop"}"#, ""),
        (
            r#"{ app = "shop" , tier != "db" }"#,
            r#"{app="shop", tier!="db"}"#,
        ),
        (r#"{app=~"shop|cart", tier!~"db.*"}"#, ""),
        (r#"({app="shop"})"#, r#"{app="shop"}"#),
        (r#"{app="shop", app="cart"}"#, ""),
        (r#"{app=`shop`}"#, r#"{app="shop"}"#),
        (r#"{app="a\"b\\c\u00e9\x41"}"#, r#"{app="a\"b\\céA"}"#),
        (r#"{app="tab\there"}"#, r#"{app="tab\there"}"#),
        ("{app=`raw\\w`}", r#"{app="raw\\w"}"#),
        (r#"{rate="x", ip="y", sum="z", variants="v", of="o"}"#, ""),
        (r#"{a!=""}"#, ""),
        (r#"{app=~".+", tier=""}"#, ""),
        (r#"{zoné="x"}"#, ""),
        (r#"{_private="x"}"#, ""),
    ]);
}

#[test]
fn comments_and_whitespace() {
    check(&[
        (
            "{app=\"shop\"} # the shop\n|= \"error\"",
            r#"{app="shop"} |= "error""#,
        ),
        ("{app=\"shop\"} // Go-style comment", r#"{app="shop"}"#),
        (
            "/* block */ {app=\"shop\"} /* another */",
            r#"{app="shop"}"#,
        ),
        (
            "sum(\n  rate({app=\"shop\"}[1m])\n)\t",
            r#"sum(rate({app="shop"}[1m]))"#,
        ),
        (r##"{app="#"} |= "#""##, ""),
    ]);
}

#[test]
fn line_filters() {
    check(&[
        (
            r#"{app="shop"} |= "error" != "timeout" |~ "(?i)fail" !~ "debug" |> "<_> status=5<_>" !> "GET /health <_>""#,
            "",
        ),
        (r#"{app="shop"}|="a"!="b""#, r#"{app="shop"} |= "a" != "b""#),
        (
            r#"{app="shop"} |= "timeout" or "refused" or ip("10.0.0.0/8")"#,
            "",
        ),
        (r#"{app="shop"} != "a" or "b" |~ "c" or "d""#, ""),
        (r#"{app="shop"} != ip("192.168.0.1-192.168.0.9")"#, ""),
        (
            r#"{app="shop"} |~ IP("::1")"#,
            r#"{app="shop"} |~ ip("::1")"#,
        ),
        (r#"{app="shop"} |= """#, ""),
        ("{app=\"shop\"} |~ `\\d+ms`", r#"{app="shop"} |~ "\\d+ms""#),
        // Like Loki, line-filter regexes and patterns are checked when the pipeline is built.
        (r#"{app="shop"} |~ "(" |> "<a><b>""#, ""),
    ]);
    let Expr::Log(log) = parse_ok(r#"{a="b"} !~ "x" or ip("1.2.3.4")"#) else {
        panic!("a log query")
    };
    let Stage::LineFilter(f) = &log.pipeline[0] else {
        panic!("a line filter")
    };
    assert_eq!(f.op, LineFilterOp::NotMatch);
    assert!(f.op.is_negative());
    assert_eq!(
        f.values,
        [
            LineFilterValue::Text("x".into()),
            LineFilterValue::Ip("1.2.3.4".into())
        ]
    );
}

#[test]
fn parsers() {
    check(&[
        (r#"{app="shop"} | json"#, ""),
        (
            r#"{app="shop"} | json first="servers[0]", ua="request.headers[\"User-Agent\"]", level"#,
            "",
        ),
        (
            r#"{app="shop"} | json level="level""#,
            r#"{app="shop"} | json level"#,
        ),
        (r#"{app="shop"} | logfmt"#, ""),
        (r#"{app="shop"} | logfmt --strict"#, ""),
        (
            r#"{app="shop"} | logfmt --keep-empty --strict host, fwd="fwd_ip""#,
            r#"{app="shop"} | logfmt --strict --keep-empty host, fwd="fwd_ip""#,
        ),
        (
            r#"{app="shop"} | LOGFMT --strict msg"#,
            r#"{app="shop"} | logfmt --strict msg"#,
        ),
        (
            r#"{app="shop"} | regexp "(?P<method>\\w+) (?P<path>\\S+)""#,
            "",
        ),
        (
            r#"{app="shop"} | regexp `(?P<code>\d{3})`"#,
            r#"{app="shop"} | regexp "(?P<code>\\d{3})""#,
        ),
        (
            r#"{app="shop"} | pattern "<ip> - <_> \"<method> <path> <_>\"""#,
            "",
        ),
        (r#"{app="shop"} | unpack | json | logfmt"#, ""),
        (r#"{app="shop"} | json != "x" | logfmt |= "y""#, ""),
    ]);
}

#[test]
fn label_filters() {
    check(&[
        (
            r#"{app="shop"} | status >= 500"#,
            r#"{app="shop"} | status>=500"#,
        ),
        (
            r#"{app="shop"} | status = 500"#,
            r#"{app="shop"} | status==500"#,
        ),
        (
            r#"{app="shop"} | status == 500.5"#,
            r#"{app="shop"} | status==500.5"#,
        ),
        (
            r#"{app="shop"} | status != 1e3"#,
            r#"{app="shop"} | status!=1000"#,
        ),
        (
            r#"{app="shop"} | count > -1 | x < +.5"#,
            r#"{app="shop"} | count>-1 | x<0.5"#,
        ),
        (
            r#"{app="shop"} | latency > 250ms"#,
            r#"{app="shop"} | latency>250ms"#,
        ),
        (
            r#"{app="shop"} | latency <= 1h0.5m"#,
            r#"{app="shop"} | latency<=1h30s"#,
        ),
        (
            r#"{app="shop"} | latency > -1.5s"#,
            r#"{app="shop"} | latency>-1s500ms"#,
        ),
        (
            r#"{app="shop"} | took >= 1.5us"#,
            r#"{app="shop"} | took>=1.5µs"#,
        ),
        (
            r#"{app="shop"} | size > 2.5KiB"#,
            r#"{app="shop"} | size>2560B"#,
        ),
        (
            r#"{app="shop"} | size <= 10MB"#,
            r#"{app="shop"} | size<=10000000B"#,
        ),
        (
            r#"{app="shop"} | size < 3GiB"#,
            r#"{app="shop"} | size<3GiB"#,
        ),
        (
            r#"{app="shop"} | size == 0KB"#,
            r#"{app="shop"} | size==0KiB"#,
        ),
        (r#"{app="shop"} | level="error" or level="warn""#, ""),
        (r#"{app="shop"} | level=~"err.*" and msg!~"retry.*""#, ""),
        (
            r#"{app="shop"} | a="x" or b="y", c="z""#,
            r#"{app="shop"} | a="x" or b="y" and c="z""#,
        ),
        (
            r#"{app="shop"} | (a="x" or b="y") c="z""#,
            r#"{app="shop"} | (a="x" or b="y") and c="z""#,
        ),
        (
            r#"{app="shop"} | a="x" and (b="y" and (c="z" or (d="w")))"#,
            r#"{app="shop"} | a="x" and b="y" and (c="z" or d="w")"#,
        ),
        (
            r#"{app="shop"} | addr = ip("10.0.0.0/8") or addr != ip("::1")"#,
            r#"{app="shop"} | addr=ip("10.0.0.0/8") or addr!=ip("::1")"#,
        ),
        (
            r#"{app="shop"} | __error__="" | rate > 5 | bytes < 1KB"#,
            r#"{app="shop"} | __error__="" | rate>5 | bytes<1000B"#,
        ),
        (r#"{app="shop"} | ip="1.2.3.4""#, ""),
    ]);
    let Expr::Log(log) = parse_ok(r#"{a="b"} | x > 1 y < 2s, z = 1MiB or w="v""#) else {
        panic!("a log query")
    };
    let Stage::LabelFilter(LabelFilter::Or(alternatives)) = &log.pipeline[0] else {
        panic!("an or")
    };
    let LabelFilter::And(all) = &alternatives[0] else {
        panic!("an and")
    };
    assert_eq!(all.len(), 3);
    assert!(matches!(
        &all[1],
        LabelFilter::Predicate(LabelPredicate::Duration { op: CmpOp::Lt, value, .. }) if value.as_nanos() == 2_000_000_000
    ));
    assert!(matches!(
        &all[2],
        LabelFilter::Predicate(LabelPredicate::Bytes { op: CmpOp::Eq, value, .. }) if value.as_u64() == 1 << 20
    ));
}

#[test]
fn formatting_stages() {
    check(&[
        (r#"{app="shop"} | line_format "{{.level}}: {{.msg}}""#, ""),
        (
            r#"{app="shop"} | line_format `{{ if .message }}{{ .message }}{{ else }}{{ __line__ }}{{ end }}`"#,
            r#"{app="shop"} | line_format "{{ if .message }}{{ .message }}{{ else }}{{ __line__ }}{{ end }}""#,
        ),
        (
            r#"{app="shop"} | label_format dst=src, both="{{.a}}-{{.b}}", dst=again"#,
            "",
        ),
        (r#"{app="shop"} | drop __error__, __error_details__"#, ""),
        (
            r#"{app="shop"} | drop level, method="GET", path=~"/api/.*""#,
            "",
        ),
        (r#"{app="shop"} | keep level, app!="x""#, ""),
        (r#"{app="shop"} | decolorize"#, ""),
    ]);
}

#[test]
fn range_aggregations() {
    let sel = r#"{app="shop"}"#;
    let table: Vec<(String, String)> = vec![
        (format!("count_over_time({sel}[5m])"), String::new()),
        (format!("count_over_time({sel}[5m] |= \"x\")"), format!("count_over_time({sel} |= \"x\" [5m])")),
        (format!("rate(({sel} | json)[1m])"), format!("rate({sel} | json [1m])")),
        (format!("rate(({sel}[1m] | json))"), format!("rate({sel} | json [1m])")),
        (format!("rate((({sel} | json [1m])))"), format!("rate({sel} | json [1m])")),
        (format!("rate({sel}[90m])"), format!("rate({sel}[1h30m])")),
        (format!("rate({sel}[7d])"), format!("rate({sel}[1w])")),
        (format!("rate({sel}[0])"), format!("rate({sel}[0s])")),
        (format!("bytes_over_time({sel}[1h] offset 5m)"), String::new()),
        (format!("bytes_rate({sel}[1h] offset -5m)"), String::new()),
        (format!("bytes_rate({sel} | json [1h] offset 0s)"), format!("bytes_rate({sel} | json [1h])")),
        (format!("absent_over_time({sel}[10s])"), String::new()),
        (format!("absent_over_time({sel} | unwrap x [10s])"), String::new()),
        (format!("rate({sel} | unwrap bytes_sent [1m])"), String::new()),
        (format!("sum_over_time({sel} | unwrap bytes [1m])"), String::new()),
        (format!("rate_counter({sel} | logfmt | unwrap total [1m])"), String::new()),
        (format!("sum_over_time({sel}[5m] | unwrap bytes(size) | __error__=\"\")"), format!("sum_over_time({sel} | unwrap bytes(size) | __error__=\"\" [5m])")),
        (format!("avg_over_time({sel} | unwrap duration(latency) [5m]) by (host)"), String::new()),
        (format!("quantile_over_time(0.99, {sel} | json | unwrap duration_seconds(d) [5m]) without (pod)"), String::new()),
        (format!("quantile_over_time(.5, {sel} | unwrap x [5m])"), format!("quantile_over_time(0.5, {sel} | unwrap x [5m])")),
        (format!("min_over_time({sel} | unwrap x | x > 0 | y=\"a\" or z=\"b\" [5m]) by ()"), format!("min_over_time({sel} | unwrap x | x>0 | y=\"a\" or z=\"b\" [5m]) by ()")),
        (format!("max_over_time({sel} | unwrap x [5m] offset 1h)"), String::new()),
        (format!("stddev_over_time({sel} | unwrap x [5m])"), String::new()),
        (format!("stdvar_over_time({sel} | unwrap x [5m])"), String::new()),
        (format!("first_over_time({sel} | unwrap x [5m]) by (a)"), String::new()),
        (format!("last_over_time({sel} | unwrap x [5m]) without (a)"), String::new()),
        (format!("COUNT_OVER_TIME({sel}[5m])"), format!("count_over_time({sel}[5m])")),
        (format!("rate ({sel}[5m])"), format!("rate({sel}[5m])")),
    ];
    let table: Vec<(&str, &str)> = table
        .iter()
        .map(|(q, c)| (q.as_str(), c.as_str()))
        .collect();
    check(&table);

    let Expr::Metric(MetricExpr::RangeAggregation(r)) = parse_ok(&format!(
        "quantile_over_time(0.9, {sel}[5m] offset -1h | unwrap duration(d) | d > 1s) by (a)"
    )) else {
        panic!("a range aggregation")
    };
    assert_eq!(r.op, RangeOp::QuantileOverTime(0.9));
    assert_eq!(r.range.offset.as_nanos(), -3_600_000_000_000);
    let unwrap = r.range.unwrap.as_ref().expect("unwrap");
    assert_eq!(unwrap.conversion, Some(Conversion::Duration));
    assert_eq!(unwrap.post_filters.len(), 1);
    assert_eq!(r.grouping, Some(Grouping::By(vec!["a".into()])));
}

#[test]
fn vector_aggregations() {
    let r = r#"rate({app="shop"}[1m])"#;
    let table: Vec<(String, String)> = vec![
        (format!("sum({r})"), String::new()),
        (format!("sum by (a, b) ({r})"), String::new()),
        (format!("sum({r}) by (a)"), format!("sum by (a) ({r})")),
        (format!("SUM BY (a) ({r})"), format!("sum by (a) ({r})")),
        (format!("sum by () ({r})"), String::new()),
        (format!("avg without (a) ({r})"), String::new()),
        (
            format!("min({r}) without ()"),
            format!("min without () ({r})"),
        ),
        (format!("max({r})"), String::new()),
        (format!("count({r})"), String::new()),
        (format!("stddev({r})"), String::new()),
        (format!("stdvar({r})"), String::new()),
        (format!("topk(5, {r})"), String::new()),
        (
            format!("topk(5,{r}) by (a)"),
            format!("topk by (a) (5, {r})"),
        ),
        (format!("bottomk by (a) (3, {r})"), String::new()),
        (format!("sort({r})"), String::new()),
        (format!("sort_desc({r})"), String::new()),
        (format!("approx_topk(3, {r})"), String::new()),
        (format!("sum(sum by (a) ({r}))"), String::new()),
        ("sum(1)".to_string(), String::new()),
        ("sum(vector(0))".to_string(), String::new()),
        (format!("count by (rate) ({r})"), String::new()),
    ];
    let table: Vec<(&str, &str)> = table
        .iter()
        .map(|(q, c)| (q.as_str(), c.as_str()))
        .collect();
    check(&table);

    let Expr::Metric(MetricExpr::VectorAggregation(v)) =
        parse_ok(&format!("topk without (a) (7, {r})"))
    else {
        panic!("a vector aggregation")
    };
    assert_eq!(v.op, VectorOp::TopK(7));
    assert_eq!(v.op.k(), Some(7));
    assert_eq!(v.grouping, Some(Grouping::Without(vec!["a".into()])));
}

#[test]
fn binary_operations() {
    let a = r#"rate({app="a"}[1m])"#;
    let b = r#"rate({app="b"}[1m])"#;
    let table: Vec<(String, String)> = vec![
        (format!("{a} / {b} * 100"), String::new()),
        (format!("{a} + {b} / 2"), String::new()),
        (format!("({a} + {b}) / 2"), String::new()),
        (format!("{a} - ({b} - 1)"), String::new()),
        (format!("{a} - {b} - 1"), String::new()),
        (format!("(({a}))"), a.to_string()),
        ("1 + 2 * 3".into(), String::new()),
        ("(1 + 2) * 3".into(), String::new()),
        ("2 ^ 3 ^ 2".into(), String::new()),
        ("(2 ^ 3) ^ 2".into(), String::new()),
        ("1 % 2 ^ -1".into(), String::new()),
        ("-1".into(), String::new()),
        ("+1".into(), "1".into()),
        ("- 1 - -1".into(), "-1 - -1".into()),
        ("1e3 - .5".into(), "1000 - 0.5".into()),
        (format!("{a} > -1"), String::new()),
        (format!("{a} > bool 10"), String::new()),
        (format!("{a}>=bool {b}"), format!("{a} >= bool {b}")),
        (format!("{a} == 1 != 2 < 3 <= 4 > 5 >= 6"), String::new()),
        (format!("1 > bool 1 > {a}"), String::new()),
        (
            format!("{a} / on (host) group_left (team) {b}"),
            String::new(),
        ),
        (
            format!("{a} / on(host) group_left() {b}"),
            format!("{a} / on (host) group_left {b}"),
        ),
        (
            format!("{a} * ignoring (pod) group_right {b}"),
            String::new(),
        ),
        (
            format!("{a} * on () group_left () ({b} + 1)"),
            String::new(),
        ),
        (
            format!("{a} != ignoring () group_right () ({b} or {b}) + 1"),
            String::new(),
        ),
        (format!("{a} > bool ignoring (pod) {b}"), String::new()),
        (format!("{a} and {b} or {b} unless {a}"), String::new()),
        (format!("{a} and ({b} or {b})"), String::new()),
        (format!("{a} or on () vector(0)"), String::new()),
        (format!("sum({a}) or vector(0)"), String::new()),
        ("vector(1) + vector(1)".into(), String::new()),
        (
            format!("label_replace({a}, \"dst\", \"$1\", \"src\", \"(.*)-.*\")"),
            String::new(),
        ),
        (
            "label_replace(vector(0), \"\", \"\", \"\", \"\")".to_string(),
            String::new(),
        ),
        (
            format!("{a} AND {b} UNLESS {a} OR {b}"),
            format!("{a} and {b} unless {a} or {b}"),
        ),
    ];
    let table: Vec<(&str, &str)> = table
        .iter()
        .map(|(q, c)| (q.as_str(), c.as_str()))
        .collect();
    check(&table);

    // Precedence and associativity, read off the tree.
    let op_of = |q: &str| match parse_ok(q) {
        Expr::Metric(MetricExpr::BinaryOp(b)) => b.op,
        other => panic!("{other:?}"),
    };
    assert_eq!(op_of("1 + 2 * 3"), BinOp::Add);
    assert_eq!(op_of(&format!("{a} or {b} and {a}")), BinOp::Or);
    assert_eq!(op_of(&format!("{a} > 1 + 2")), BinOp::Gt);
    let Expr::Metric(m) = parse_ok("2 ^ 3 ^ 2") else {
        panic!("metric")
    };
    assert_eq!(m.constant_value(), Some(512.0));
    let Expr::Metric(m) = parse_ok("10 - 2 - 3") else {
        panic!("metric")
    };
    assert_eq!(m.constant_value(), Some(5.0));
    let Expr::Metric(m) = parse_ok("1 > 2") else {
        panic!("metric")
    };
    assert_eq!(m.constant_value(), Some(0.0));

    let Expr::Metric(MetricExpr::BinaryOp(b)) =
        parse_ok(&format!("{a} / ignoring (x) group_right (y, z) {b}"))
    else {
        panic!("a binary operation")
    };
    let matching = b.modifier.matching.expect("matching");
    assert!(!matching.on);
    assert_eq!(matching.labels, ["x"]);
    assert_eq!(
        matching.group,
        Some(GroupModifier::Right(vec!["y".into(), "z".into()]))
    );
}

#[test]
fn selectors_of_a_query() {
    let expr =
        parse_ok(r#"sum(rate({a="1"}[1m])) / on () sum(count_over_time({b=~"2", c!="3"}[1m]))"#);
    let selectors = expr.selectors();
    assert_eq!(selectors.len(), 2);
    assert_eq!(selectors[1][1].op, MatchOp::Neq);
    assert!(!expr.is_log());
}

#[test]
fn grafana_generated_queries() {
    check(&[
        ("vector(1)+vector(1)", "vector(1) + vector(1)"),
        (
            r#"sum by (level, detected_level) (count_over_time({app="shop"} |= "x" | drop __error__[1m]))"#,
            r#"sum by (level, detected_level) (count_over_time({app="shop"} |= "x" | drop __error__ [1m]))"#,
        ),
        (
            r#"{app="shop"} | json | line_format `{{ if .message }}{{ .message }}{{ else }}{{ __line__ }}{{ end }}` | drop __error__, __error_details__"#,
            r#"{app="shop"} | json | line_format "{{ if .message }}{{ .message }}{{ else }}{{ __line__ }}{{ end }}" | drop __error__, __error_details__"#,
        ),
        (
            r#"{app="shop"} | logfmt | __error__="" | label_format level=lvl"#,
            "",
        ),
    ]);
}
