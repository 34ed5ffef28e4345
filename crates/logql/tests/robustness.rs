//! The parser never panics and never hangs, whatever the input: arbitrary text, soups of
//! LogQL tokens, and random edits of valid queries. Whatever it accepts prints to a
//! fixpoint.

use proptest::prelude::*;

/// Parses `query`; when it is accepted, printing and parsing again must give the same tree.
fn check(query: &str) -> Result<(), TestCaseError> {
    if let Ok(expr) = kelp_logql::parse(query) {
        let printed = expr.to_string();
        let again = kelp_logql::parse(&printed);
        prop_assert!(
            again.is_ok(),
            "{query}\nprinted as {printed}\n{:?}",
            again.err()
        );
        prop_assert_eq!(again.ok(), Some(expr), "{}\nprinted as {}", query, printed);
    }
    Ok(())
}

const FRAGMENTS: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[5m]",
    "[1h30m]",
    "[",
    "]",
    ",",
    "=",
    "!=",
    "=~",
    "!~",
    "==",
    ">",
    ">=",
    "<",
    "<=",
    "|",
    "|=",
    "|~",
    "|>",
    "!>",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "#",
    "//",
    "/*",
    "*/",
    "\"x\"",
    "\"\"",
    "\"(?P<a>.+)\"",
    "\"<a> <_>\"",
    "`raw`",
    "\"",
    "`",
    "'",
    "app",
    "a",
    "_b",
    "1",
    "0.5",
    ".5",
    "1e3",
    "-1",
    "5m",
    "-5m",
    "1.5h",
    "10MB",
    "2.5KiB",
    "0B",
    "0x10",
    "by",
    "without",
    "bool",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "unwrap",
    "json",
    "logfmt",
    "--strict",
    "--keep-empty",
    "regexp",
    "unpack",
    "pattern",
    "line_format",
    "label_format",
    "decolorize",
    "drop",
    "keep",
    "or",
    "and",
    "unless",
    "ip",
    "bytes",
    "duration",
    "duration_seconds",
    "rate",
    "rate_counter",
    "count_over_time",
    "bytes_rate",
    "bytes_over_time",
    "absent_over_time",
    "sum_over_time",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "quantile_over_time",
    "first_over_time",
    "last_over_time",
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "sort",
    "sort_desc",
    "approx_topk",
    "vector",
    "label_replace",
    "{a=\"b\"}",
    "\n",
    "é",
    "@",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(FRAGMENTS), any::<bool>()), 0..40).prop_map(
        |parts| {
            let mut s = String::new();
            for (fragment, space) in parts {
                s.push_str(fragment);
                if space {
                    s.push(' ');
                }
            }
            s
        },
    )
}

const SEEDS: &[&str] = &[
    r#"sum by (pod) (rate({app="shop", env=~"prod|stage"} |= "error" != "debug" | json | status >= 500 and latency > 250ms [5m]))"#,
    r#"quantile_over_time(0.99, {app="shop"} | logfmt --strict | unwrap duration(took) | __error__="" [5m] offset 1h) by (route)"#,
    r#"topk(3, sum without (pod) (count_over_time({app="shop"} | pattern "<ip> <_> <code>" | code=~"5.." [1m]))) / on () group_left vector(2)"#,
    r#"{app="shop"} |~ "(?i)timeout" or ip("10.0.0.0/8") | regexp "(?P<ms>\\d+)ms" | ms > 10 | label_format x=ms, y="{{.x}}" | drop __error__ | keep x, y=~".+""#,
    r#"label_replace(sum(bytes_rate({app="shop"}[1m])) > bool 1e3, "dst", "$1", "src", "(.*)") or vector(0)"#,
];

/// A random edit of a seed query: delete, duplicate or insert at a random place.
fn edited() -> impl Strategy<Value = String> {
    (
        prop::sample::select(SEEDS),
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
        0..3u8,
        prop::sample::select(FRAGMENTS),
    )
        .prop_map(|(seed, a, b, kind, fragment)| {
            let chars: Vec<char> = seed.chars().collect();
            let (mut i, mut j) = (a.index(chars.len() + 1), b.index(chars.len() + 1));
            if i > j {
                std::mem::swap(&mut i, &mut j);
            }
            let (head, rest) = chars.split_at(i);
            let (mid, tail) = rest.split_at(j - i);
            let mut out: String = head.iter().collect();
            match kind {
                0 => {}
                1 => {
                    out.extend(mid);
                    out.extend(mid);
                }
                _ => {
                    out.push_str(fragment);
                    out.extend(mid);
                }
            }
            out.extend(tail);
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(crate::cases(1000)))]

    #[test]
    fn never_panics_on_arbitrary_text(s in any::<String>()) {
        check(&s)?;
    }

    #[test]
    fn never_panics_on_printable_text(s in "(?s)[ -~\n\té]{0,200}") {
        check(&s)?;
    }

    #[test]
    fn never_panics_on_token_soups(s in soup()) {
        check(&s)?;
    }

    #[test]
    fn never_panics_on_edited_queries(s in edited()) {
        check(&s)?;
    }
}

#[test]
fn seeds_are_valid() {
    for seed in SEEDS {
        let expr = crate::parse_ok(seed);
        crate::assert_fixpoint(seed, &expr);
    }
}

#[test]
fn deepest_queries_fit_a_small_stack() {
    let n = kelp_logql::MAX_DEPTH;
    let queries = [
        format!("{}1{}", "(".repeat(n - 1), ")".repeat(n - 1)),
        format!("{}vector(1){}", "sum(".repeat(n - 1), ")".repeat(n - 1)),
        format!("1{}", " ^ 1".repeat(n - 1)),
        format!("1{}", " + (1".repeat(n / 2 - 1)) + &")".repeat(n / 2 - 1),
        format!(
            r#"{{a="b"}} | {}a="b"{}"#,
            "(".repeat(n - 1),
            ")".repeat(n - 1)
        ),
        format!(
            "{}count_over_time({{a=\"b\"}}[1m]){}",
            "label_replace(".repeat(n - 1),
            r#", "a", "b", "c", "d")"#.repeat(n - 1)
        ),
    ];
    // Parsing, printing and dropping the deepest accepted trees needs well under 1 MiB of
    // stack, even unoptimized.
    let worker = std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            for q in &queries {
                let expr = kelp_logql::parse(q).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(kelp_logql::parse(&expr.to_string()).as_ref(), Ok(&expr));
                assert!(kelp_logql::validate(&expr).is_ok());
            }
        })
        .expect("spawn");
    worker.join().expect("no stack overflow");
}

#[test]
fn big_inputs_are_fast() {
    let start = std::time::Instant::now();
    let half = kelp_logql::MAX_QUERY_BYTES / 2;
    let inputs = [
        format!(r#"{{a="{}"}}"#, "x".repeat(half)),
        format!(r#"{{a="b"}}{}"#, r#" |= "x""#.repeat(half / 8)),
        format!(r#"{{a="b"}} | {}"#, "x>1 ".repeat(half / 4)),
        "(".repeat(half),
        "[".repeat(half),
        "\"".repeat(half),
        format!("{}1", "-".repeat(half)),
        "/*".repeat(half / 2),
        "1 + ".repeat(half / 4),
    ];
    for input in &inputs {
        let _ = kelp_logql::parse(input);
    }
    assert!(start.elapsed().as_secs() < 20, "took {:?}", start.elapsed());
}
