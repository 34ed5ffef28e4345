//! Every rejection: the rule, its message (Loki's wording where the spec gives it) and its
//! position.

use kelp_logql::{ParseError, MAX_DEPTH, MAX_QUERY_BYTES};

/// `(query, substring of the message, line, column)`.
fn check(table: &[(&str, &str, usize, usize)]) {
    for (query, message, line, column) in table {
        let err = match kelp_logql::parse(query) {
            Ok(expr) => panic!("{query}\naccepted as {expr}"),
            Err(e) => e,
        };
        let text = err.to_string();
        assert!(
            text.contains(message),
            "{query}\n{text}\nshould contain {message}"
        );
        let pos = err.position().expect("a position");
        assert_eq!((pos.line, pos.column), (*line, *column), "{query}\n{text}");
        assert!(
            text.starts_with(&format!("parse error at line {line}, col {column}: ")),
            "{text}"
        );
    }
}

const EMPTY: &str = r#"queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~".*" does not meet this requirement, but app=~".+" will"#;

#[test]
fn selectors_must_select_something() {
    check(&[
        ("{}", EMPTY, 1, 1),
        (r#"{a=""}"#, EMPTY, 1, 1),
        (r#"{a!="x"}"#, EMPTY, 1, 1),
        (r#"{a=~".*"}"#, EMPTY, 1, 1),
        (r#"{a=~"x?|(y)*"}"#, EMPTY, 1, 1),
        (r#"{a!~"x"}"#, EMPTY, 1, 1),
        (r#"{a!~".+", b=~""}"#, EMPTY, 1, 1),
        (r#"count_over_time({a=~".*"}[5m])"#, EMPTY, 1, 17),
        (r#"1 + rate({a="b"}[1m]) / rate({c=""}[1m])"#, EMPTY, 1, 30),
        (r#"{a=~"(" }"#, "error parsing regexp: unclosed group", 1, 2),
        (r#"{a="b"} | a=~"[z-a]""#, "error parsing regexp", 1, 11),
        (
            r#"{a="b"} | drop a, b!~"x{2,1}""#,
            "error parsing regexp",
            1,
            19,
        ),
    ]);
    // A matcher counts when it cannot match the empty value, `!=` included (Loki's rule).
    assert!(kelp_logql::parse(r#"{a!=""}"#).is_ok());
    assert!(kelp_logql::parse(r#"{a=~"\b"}"#).is_ok());
    assert!(kelp_logql::parse(r#"{a!~"x*"}"#).is_ok());
}

#[test]
fn range_aggregation_rules() {
    let s = r#"{a="b"}"#;
    let table: Vec<(String, String)> = vec![
        (
            format!("count_over_time({s}[5m]) by (x)"),
            "grouping not allowed for count_over_time aggregation".into(),
        ),
        (
            format!("rate({s}[5m]) by (x)"),
            "grouping not allowed for rate aggregation".into(),
        ),
        (
            format!("rate_counter({s} | unwrap x [5m]) by (x)"),
            "grouping not allowed for rate_counter aggregation".into(),
        ),
        (
            format!("bytes_rate({s}[5m]) without (x)"),
            "grouping not allowed for bytes_rate aggregation".into(),
        ),
        (
            format!("bytes_over_time({s}[5m]) by ()"),
            "grouping not allowed for bytes_over_time aggregation".into(),
        ),
        (
            format!("absent_over_time({s}[5m]) by (x)"),
            "grouping not allowed for absent_over_time aggregation".into(),
        ),
        (
            format!("sum_over_time({s} | unwrap x [5m]) by (x)"),
            "grouping not allowed for sum_over_time aggregation".into(),
        ),
        (
            format!("count_over_time({s} | unwrap x [5m])"),
            "invalid aggregation count_over_time with unwrap".into(),
        ),
        (
            format!("bytes_over_time({s} | unwrap x [5m])"),
            "invalid aggregation bytes_over_time with unwrap".into(),
        ),
        (
            format!("bytes_rate({s} | unwrap x [5m])"),
            "invalid aggregation bytes_rate with unwrap".into(),
        ),
        (
            format!("sum_over_time({s}[5m])"),
            "invalid aggregation sum_over_time without unwrap".into(),
        ),
        (
            format!("avg_over_time({s}[5m])"),
            "invalid aggregation avg_over_time without unwrap".into(),
        ),
        (
            format!("min_over_time({s}[5m])"),
            "invalid aggregation min_over_time without unwrap".into(),
        ),
        (
            format!("max_over_time({s}[5m])"),
            "invalid aggregation max_over_time without unwrap".into(),
        ),
        (
            format!("stddev_over_time({s}[5m])"),
            "invalid aggregation stddev_over_time without unwrap".into(),
        ),
        (
            format!("stdvar_over_time({s}[5m])"),
            "invalid aggregation stdvar_over_time without unwrap".into(),
        ),
        (
            format!("first_over_time({s}[5m])"),
            "invalid aggregation first_over_time without unwrap".into(),
        ),
        (
            format!("last_over_time({s}[5m])"),
            "invalid aggregation last_over_time without unwrap".into(),
        ),
        (
            format!("rate_counter({s}[5m])"),
            "invalid aggregation rate_counter without unwrap".into(),
        ),
        (
            format!("quantile_over_time(0.9, {s}[5m])"),
            "invalid aggregation quantile_over_time without unwrap".into(),
        ),
        (
            format!("quantile_over_time({s} | unwrap x [5m])"),
            "parameter required for operation quantile_over_time".into(),
        ),
    ];
    let table: Vec<(&str, &str, usize, usize)> = table
        .iter()
        .map(|(q, m)| (q.as_str(), m.as_str(), 1, 1))
        .collect();
    check(&table);
    check(&[
        (
            r#"rate(5, {a="b"}[5m])"#,
            "parameter 5 not supported for operation rate",
            1,
            6,
        ),
        (
            r#"quantile_over_time(0x1, {a="b"} | unwrap x [5m])"#,
            "unable to parse literal as a float",
            1,
            20,
        ),
        (
            r#"quantile_over_time(-0.5, {a="b"} | unwrap x [5m])"#,
            "syntax error: unexpected -",
            1,
            20,
        ),
        (
            r#"count_over_time({a="b"}[5m]) offset 1h"#,
            "syntax error: unexpected offset",
            1,
            30,
        ),
        (
            r#"count_over_time({a="b"} | json offset 1h [5m])"#,
            "syntax error: unexpected offset",
            1,
            32,
        ),
        (
            r#"count_over_time({a="b"}[5m] offset 5)"#,
            "expecting DURATION",
            1,
            36,
        ),
        (
            r#"count_over_time({a="b"})"#,
            "syntax error: unexpected ), expecting RANGE",
            1,
            24,
        ),
        (
            r#"count_over_time({a="b"} | json [5m] | logfmt)"#,
            "syntax error: unexpected |",
            1,
            37,
        ),
        (
            r#"count_over_time((({a="b"}))[5m])"#,
            "syntax error: unexpected ), expecting RANGE",
            1,
            27,
        ),
        (
            r#"sum_over_time({a="b"} | unwrap x | json [5m])"#,
            "syntax error: unexpected |",
            1,
            34,
        ),
        (
            r#"sum_over_time({a="b"} | unwrap foo(x) [5m])"#,
            "syntax error: unexpected (",
            1,
            35,
        ),
        (
            r#"{a="b"} | unwrap x"#,
            "syntax error: unexpected unwrap",
            1,
            11,
        ),
        (
            r#"min({a="b"}[5m])"#,
            "syntax error: unexpected RANGE, expecting )",
            1,
            12,
        ),
        (
            r#"avg_over_time by (x) ({a="b"} | unwrap x [5m])"#,
            "syntax error: unexpected by",
            1,
            15,
        ),
    ]);
}

#[test]
fn ranges_and_durations() {
    check(&[
        (
            r#"rate({a="b"}[5minutes])"#,
            r#"unknown unit "minutes" in duration "5minutes""#,
            1,
            13,
        ),
        (
            r#"rate({a="b"}[1.5m])"#,
            r#"not a valid duration string: "1.5m""#,
            1,
            13,
        ),
        (r#"rate({a="b"}[5m:1m])"#, "in duration", 1, 13),
        (r#"rate({a="b"}[ 5m ])"#, "", 1, 13),
        (r#"rate({a="b"}[5M])"#, r#"unknown unit "M""#, 1, 13),
        (
            r#"rate({a="b"}[5m)"#,
            "missing closing ']' in duration",
            1,
            13,
        ),
        // `5m` then the label `inutes`, juxtaposed as a second predicate.
        (
            r#"{a="b"} | x > 5minutes"#,
            "syntax error: unexpected end of input",
            1,
            23,
        ),
        (r#"{a="b"} | x > - 5m"#, "syntax error: unexpected -", 1, 15),
        (r#"{a="b"} | x > +5m"#, "syntax error: unexpected +", 1, 15),
        (r#"{a="b"} | x > -5MB"#, "syntax error: unexpected -", 1, 15),
    ]);
}

#[test]
fn vector_aggregation_rules() {
    let r = r#"rate({a="b"}[1m])"#;
    let table: Vec<(String, &str, usize)> = vec![
        (
            format!("topk({r})"),
            "parameter required for operation topk",
            1,
        ),
        (
            format!("bottomk({r})"),
            "parameter required for operation bottomk",
            1,
        ),
        (
            format!("approx_topk({r})"),
            "parameter required for operation approx_topk",
            1,
        ),
        (format!("topk(1.5, {r})"), "invalid parameter topk(1.5,", 6),
        (
            format!("bottomk(1e3, {r})"),
            "invalid parameter bottomk(1e3,",
            9,
        ),
        (
            format!("topk(99999999999999999999, {r})"),
            "invalid parameter topk(99999999999999999999,",
            6,
        ),
        (
            format!("topk(0, {r})"),
            "invalid parameter (must be greater than 0) topk(0",
            6,
        ),
        (
            format!("topk by (x) (00, {r})"),
            "invalid parameter (must be greater than 0) topk(00",
            14,
        ),
        (
            format!("sum(3, {r})"),
            "unsupported parameter for operation sum(3,",
            5,
        ),
        (
            format!("sort(3, {r})"),
            "unsupported parameter for operation sort(3,",
            6,
        ),
        (
            format!("sort({r}) by (x)"),
            "sort and sort_desc doesn't allow grouping by ",
            1,
        ),
        (
            format!("sort_desc by (x) ({r})"),
            "sort and sort_desc doesn't allow grouping by ",
            1,
        ),
        (
            format!("approx_topk(3, {r}) by (x)"),
            "grouping not allowed for approx_topk aggregation",
            1,
        ),
        (
            format!("sum by (a) ({r}) by (b)"),
            "syntax error: unexpected by",
            32,
        ),
        (
            "sum({a=\"b\"})".to_string(),
            "syntax error: unexpected log query, expecting metric expression",
            5,
        ),
        (
            "sum({a=\"b\"} |= \"x\")".to_string(),
            "unexpected log query",
            5,
        ),
        (
            format!("sum by (bool) ({r})"),
            "syntax error: unexpected bool, expecting IDENTIFIER",
            9,
        ),
        (
            format!("sum by (a,) ({r})"),
            "syntax error: unexpected ), expecting IDENTIFIER",
            11,
        ),
        (
            format!("count without ({r})"),
            "syntax error: unexpected (",
            20,
        ),
    ];
    let table: Vec<(&str, &str, usize, usize)> = table
        .iter()
        .map(|(q, m, c)| (q.as_str(), *m, 1, *c))
        .collect();
    check(&table);
}

#[test]
fn binary_operation_rules() {
    let r = r#"rate({a="b"}[1m])"#;
    let table: Vec<(String, &str, usize)> = vec![
        (
            format!("{r} or 1"),
            "unexpected literal for right leg of logical/set binary operation (or): 1.000000",
            22,
        ),
        (
            format!("1 and {r}"),
            "unexpected literal for left leg of logical/set binary operation (and): 1.000000",
            1,
        ),
        (
            format!("(1 + 1) unless {r}"),
            "unexpected literal for left leg of logical/set binary operation (unless): 2.000000",
            1,
        ),
        (format!("{r} + 1 or -2.5"), "(or): -2.500000", 26),
        (format!("{r} or 1 / 0"), "(or): +Inf", 22),
        (
            "{a=\"b\"} + 1".into(),
            "unexpected type for left leg of binary operation (+): log query",
            1,
        ),
        (
            format!("{r} > {{a=\"b\"}} |= \"x\""),
            "unexpected type for right leg of binary operation (>): log query",
            21,
        ),
        (
            format!("{r} + bool 1"),
            "bool modifier can only be used on comparison operators",
            19,
        ),
        (
            format!("{r} and on (x) group_left {r}"),
            "no grouping allowed for \"and\" operation",
            19,
        ),
        (
            format!("-{r}"),
            "syntax error: unexpected -, expecting NUMBER, (, { or function",
            1,
        ),
        (format!("{r} * -{r}"), "syntax error: unexpected -", 21),
        (format!("bool 1 > {r}"), "syntax error: unexpected bool", 1),
        (
            format!("{r} > bool bool 1"),
            "syntax error: unexpected bool",
            26,
        ),
        (
            format!("{r} * on {r}"),
            "syntax error: unexpected IDENTIFIER, expecting (",
            24,
        ),
        (
            format!("{r} * group_left {r}"),
            "syntax error: unexpected group_left",
            21,
        ),
        (
            format!("{r} * on (x) group_left (sum({r}))"),
            "syntax error: unexpected (",
            43,
        ),
        (format!("{r} = {r}"), "syntax error: unexpected =", 19),
        (
            "vector(-1)".into(),
            "syntax error: unexpected -, expecting NUMBER",
            8,
        ),
        (
            "vector(abc)".into(),
            "syntax error: unexpected IDENTIFIER, expecting NUMBER",
            8,
        ),
        (
            "vector(0x10)".into(),
            "unable to parse literal as a float",
            8,
        ),
        ("1e999".into(), "unable to parse literal as a float", 1),
        (
            format!("label_replace({r}, \"dst\", \"$1\", \"src\", \"(\")"),
            "invalid regex in label_replace: error parsing regexp: unclosed group",
            54,
        ),
        (
            format!("label_replace({r}, \"dst\", \"$1\", \"src\")"),
            "syntax error: unexpected ), expecting ,",
            52,
        ),
        (
            "label_replace({a=\"b\"}, \"a\", \"b\", \"c\", \"d\")".into(),
            "unexpected log query",
            15,
        ),
        (
            format!("quantile(0.5, {r})"),
            "syntax error: unexpected IDENTIFIER",
            1,
        ),
        (
            format!("count_values(\"x\", {r})"),
            "syntax error: unexpected IDENTIFIER",
            1,
        ),
        (
            format!("abs({r})"),
            "syntax error: unexpected IDENTIFIER",
            1,
        ),
        (format!("{r}[10m:1m]"), "in duration", 18),
        (format!("{r} @ 100"), "unexpected character '@'", 19),
        (
            format!("scalar({r})"),
            "syntax error: unexpected IDENTIFIER",
            1,
        ),
    ];
    let table: Vec<(&str, &str, usize, usize)> = table
        .iter()
        .map(|(q, m, c)| (q.as_str(), *m, 1, *c))
        .collect();
    check(&table);
}

#[test]
fn pipeline_rules() {
    check(&[
        (
            r#"{a="b"} | regexp "(\\w+)""#,
            "invalid regexp parser: at least one named capture must be supplied",
            1,
            18,
        ),
        (
            r#"{a="b"} | regexp "(?P<a.b>x)""#,
            "invalid regexp parser: invalid extracted label name 'a.b'",
            1,
            18,
        ),
        (
            r#"{a="b"} | regexp "(?P<x>a)(?P<x>b)""#,
            "invalid regexp parser: error parsing regexp: duplicate capture group name",
            1,
            18,
        ),
        (
            r#"{a="b"} | regexp "(?P<x>""#,
            "invalid regexp parser: error parsing regexp",
            1,
            18,
        ),
        (
            r#"{a="b"} | pattern "<_> x""#,
            "invalid pattern parser: at least one capture is required",
            1,
            19,
        ),
        (
            r#"{a="b"} | pattern "<a><b>""#,
            "invalid pattern parser: found consecutive capture",
            1,
            19,
        ),
        (
            r#"{a="b"} | pattern "<a> <a>""#,
            "invalid pattern parser: duplicate capture name (a)",
            1,
            19,
        ),
        (
            r#"{a="b"} | x == "y""#,
            "syntax error: unexpected STRING, expecting NUMBER, DURATION or BYTES",
            1,
            16,
        ),
        (
            r#"{a="b"} | x >= ip("1.2.3.4")"#,
            "syntax error: unexpected IDENTIFIER",
            1,
            16,
        ),
        (
            r#"{a="b"} | x > 0x10"#,
            "unable to parse literal as a float",
            1,
            15,
        ),
        (
            r#"{a="b"} | x > 0o7"#,
            "unable to parse literal as a float",
            1,
            15,
        ),
        (r#"{a="b"} | x > 0B"#, "binary literal has no digits", 1, 15),
        (
            r#"{a="b"} | x > 08"#,
            "invalid digit '8' in octal literal",
            1,
            15,
        ),
        (r#"{a="b"} | x > 1e"#, "exponent has no digits", 1, 17),
        (
            r#"{a="b"} | x >= 1 < 5"#,
            "unexpected type for left leg of binary operation (<): log query",
            1,
            1,
        ),
        (
            r#"{a="b"} | x"#,
            "syntax error: unexpected end of input, expecting =, !=",
            1,
            12,
        ),
        (
            r#"{a="b"} | bool="1""#,
            "syntax error: unexpected bool",
            1,
            11,
        ),
        (
            r#"{a="b"} | logfmt x --strict"#,
            "syntax error: unexpected --strict",
            1,
            20,
        ),
        (
            r#"{a="b"} | logfmt --nope"#,
            "syntax error: unexpected -",
            1,
            19,
        ),
        (
            r#"{a="b"} | json --strict"#,
            "syntax error: unexpected --strict",
            1,
            16,
        ),
        (
            r#"{a="b"} | json a=b"#,
            "syntax error: unexpected IDENTIFIER, expecting STRING",
            1,
            18,
        ),
        (
            r#"{a="b"} | label_format a=1"#,
            "syntax error: unexpected NUMBER, expecting IDENTIFIER or STRING",
            1,
            26,
        ),
        (
            r#"{a="b"} | line_format x"#,
            "syntax error: unexpected IDENTIFIER, expecting STRING",
            1,
            23,
        ),
        (
            r#"{a="b"} | drop"#,
            "syntax error: unexpected end of input, expecting IDENTIFIER",
            1,
            15,
        ),
        (
            r#"{a="b"} | keep a="x" b"#,
            "syntax error: unexpected IDENTIFIER",
            1,
            22,
        ),
        (
            r#"{a="b"} |= x"#,
            "syntax error: unexpected IDENTIFIER, expecting STRING or ip",
            1,
            12,
        ),
        (
            r#"{a="b"} |= "x" or"#,
            "syntax error: unexpected end of input, expecting STRING or ip",
            1,
            18,
        ),
        (r#"{a="b"} | "x""#, "syntax error: unexpected STRING", 1, 11),
        (
            r#"{a="b"} | "#,
            "syntax error: unexpected end of input",
            1,
            11,
        ),
        (
            r#"{a="b"} | (x="y""#,
            "syntax error: unexpected end of input, expecting )",
            1,
            17,
        ),
    ]);
}

#[test]
fn lexical_errors() {
    check(&[
        ("{a='b'}", "single quotes do not delimit strings", 1, 4),
        (r#"{a="b}"#, "literal not terminated", 1, 4),
        ("{a=`b}", "literal not terminated", 1, 4),
        ("{a=\"b\nc\"}", "literal not terminated", 1, 4),
        (r#"{a="\q"}"#, "invalid char escape", 1, 5),
        (r#"{a="\xff"}"#, "invalid UTF-8 in string", 1, 4),
        (r#"{a="\400"}"#, "octal escape value > 255", 1, 5),
        (
            r#"{a="\ud800"}"#,
            "escape sequence is invalid Unicode code point",
            1,
            5,
        ),
        (r#"{a="b"} /* open"#, "comment not terminated", 1, 9),
        (r#"{a="b"} ! "x""#, "unexpected character '!'", 1, 9),
        (r#"{a="b"} |= "x" ; "#, "unexpected character ';'", 1, 16),
        (
            r#"{json="x"}"#,
            "syntax error: unexpected json, expecting IDENTIFIER",
            1,
            2,
        ),
        (r#"{offset="x"}"#, "syntax error: unexpected offset", 1, 2),
        (r#"{OR="x"}"#, "syntax error: unexpected or", 1, 2),
        (r#"{a.b="x"}"#, "unexpected character '.'", 1, 3),
        (
            r#"{a="b",}"#,
            "syntax error: unexpected }, expecting IDENTIFIER",
            1,
            8,
        ),
        (
            r#"{a=="b"}"#,
            "syntax error: unexpected ==, expecting =, !=, =~ or !~",
            1,
            3,
        ),
        ("", "syntax error: unexpected end of input", 1, 1),
        (
            "# only a comment",
            "syntax error: unexpected end of input",
            1,
            17,
        ),
    ]);
}

#[test]
fn positions_count_lines_and_characters() {
    check(&[
        (
            "sum(\n  rate({a=\"b\"}[1m])\n) by (x",
            "syntax error: unexpected end of input",
            3,
            8,
        ),
        (
            "{a=\"é\"}\n|= \"x\"\n| json\n| a > 1ms )",
            "syntax error: unexpected )",
            4,
            11,
        ),
        (
            "{é=\"b\"} | é == \"x\"",
            "syntax error: unexpected STRING",
            1,
            16,
        ),
    ]);
    let err = kelp_logql::parse("{a=\"b\"}\n  | x >").unwrap_err();
    let pos = err.position().expect("position");
    assert_eq!(pos.offset, 15);
}

#[test]
fn limits() {
    let long = format!(r#"{{a="{}"}}"#, "x".repeat(MAX_QUERY_BYTES));
    let err = kelp_logql::parse(&long).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "parse error : input size too long ({} > {MAX_QUERY_BYTES})",
            long.len()
        )
    );
    assert!(err.position().is_none());

    let n = MAX_DEPTH;
    let fits = format!("{}1{}", "(".repeat(n - 1), ")".repeat(n - 1));
    assert!(kelp_logql::parse(&fits).is_ok());
    for deep in [
        format!("{}1{}", "(".repeat(n + 1), ")".repeat(n + 1)),
        format!("{}vector(1){}", "sum(".repeat(n + 1), ")".repeat(n + 1)),
        format!("1{}", " + 1".repeat(n + 1)),
        format!("1{}", " ^ 1".repeat(n + 1)),
        format!(
            r#"{{a="b"}} | {}a="b"{}"#,
            "(".repeat(n + 1),
            ")".repeat(n + 1)
        ),
        format!(
            "rate({}{{a=\"b\"}}[1m]{})",
            "(".repeat(n + 1),
            ")".repeat(n + 1)
        ),
    ] {
        let err = kelp_logql::parse(&deep).unwrap_err();
        assert!(
            matches!(err, ParseError::TooDeep { limit, .. } if limit == MAX_DEPTH),
            "{err}"
        );
        assert!(err.to_string().contains("nested too deeply"), "{err}");
    }
    // Long flat chains are fine.
    let ors = format!(r#"{{a="b"}} | {}c="d""#, r#"c="d" or "#.repeat(5000));
    assert!(kelp_logql::parse(&ors).is_ok());
    let stages = format!(r#"{{a="b"}}{}"#, r#" |= "x""#.repeat(5000));
    assert!(kelp_logql::parse(&stages).is_ok());
}
