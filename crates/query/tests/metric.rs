//! Metric queries: range and vector aggregations, binary operators, functions.
//!
//! Data (seconds after T): pod a at 1, 11, 21 (not JSON), 31; pod b at 5, 15, 65;
//! app web at 2, 62. Windows are `(t - range, t]`.

use kelp_query::{QueryError, QueryResult};

use crate::{fixture, labels};

const A: &[(&str, &str)] = &[("app", "api"), ("pod", "a")];
const B: &[(&str, &str)] = &[("app", "api"), ("pod", "b")];

#[test]
fn count_rate_bytes_with_step_alignment() {
    let f = fixture();
    let m = f.matrix(r#"count_over_time({app="api"}[1m])"#, 60, 120, 60);
    assert_eq!(
        m,
        vec![
            (labels(A), vec![(60, 4.0)]),
            (labels(B), vec![(60, 2.0), (120, 1.0)])
        ]
    );
    let m = f.matrix(r#"rate({app="api"}[1m])"#, 60, 120, 60);
    assert_eq!(m[1].1, vec![(60, 2.0 / 60.0), (120, 1.0 / 60.0)]);
    // Range longer than step: overlapping windows; the left edge is excluded (t=1 at 61).
    let m = f.matrix(r#"count_over_time({pod="a"}[60s])"#, 1, 61, 30);
    assert_eq!(m[0].1, vec![(1, 1.0), (31, 4.0), (61, 3.0)]);
    // Line filters keep the fast path; a parser takes the generic path: same numbers.
    let fast = f.matrix(
        r#"count_over_time({app="api"} |= "error" [2m])"#,
        0,
        120,
        10,
    );
    let slow = f.matrix(
        r#"count_over_time({app="api"} |= "error" | decolorize [2m])"#,
        0,
        120,
        10,
    );
    assert_eq!(fast, slow);
    let m = f.matrix(r#"bytes_over_time({app="web"}[1m])"#, 60, 60, 60);
    assert_eq!(m[0].1, vec![(60, 23.0)]);
    let m = f.matrix(r#"bytes_rate({app="web"}[1m] offset 1m)"#, 120, 120, 60);
    assert_eq!(m[0].1, vec![(120, 23.0 / 60.0)]);
}

#[test]
fn grouped_sums_and_vector_aggregations() {
    let f = fixture();
    let m = f.matrix(
        r#"sum by (app) (count_over_time({app=~".+"}[1m]))"#,
        60,
        120,
        60,
    );
    assert_eq!(
        m,
        vec![
            (labels(&[("app", "api")]), vec![(60, 6.0), (120, 1.0)]),
            (labels(&[("app", "web")]), vec![(60, 1.0), (120, 1.0)]),
        ]
    );
    let v = f.vector(
        r#"sum without (pod) (count_over_time({app="api"}[1m]))"#,
        60,
    );
    assert_eq!(v, vec![(labels(&[("app", "api")]), 6.0)]);
    let q = |agg: &str| f.vector(&format!(r#"{agg}(count_over_time({{app=~".+"}}[1m]))"#), 60)[0].1;
    assert_eq!(q("sum"), 7.0);
    assert_eq!(q("avg"), 7.0 / 3.0);
    assert_eq!(q("min"), 1.0);
    assert_eq!(q("max"), 4.0);
    assert_eq!(q("count"), 3.0);
    // Values 4, 2, 1: mean 7/3, population variance 14/9.
    assert!((q("stdvar") - 14.0 / 9.0).abs() < 1e-12);
    assert!((q("stddev") - (14.0f64 / 9.0).sqrt()).abs() < 1e-12);
    let top = f.vector(r#"topk(2, count_over_time({app=~".+"}[1m]))"#, 60);
    assert_eq!(top, vec![(labels(A), 4.0), (labels(B), 2.0)]);
    let bottom = f.vector(
        r#"bottomk(1, count_over_time({app=~".+"}[1m])) by (app)"#,
        60,
    );
    assert_eq!(bottom.len(), 2);
    // Ties: pod b and web both have 1 at t=120; topk(1) keeps the first by labels.
    let tie = f.vector(r#"topk(1, count_over_time({app=~".+"}[1m]))"#, 120);
    assert_eq!(tie, vec![(labels(B), 1.0)]);
    let sorted = f.vector(r#"sort_desc(count_over_time({app=~".+"}[1m]))"#, 60);
    assert_eq!(
        sorted.iter().map(|s| s.1).collect::<Vec<_>>(),
        vec![4.0, 2.0, 1.0]
    );
    let sorted = f.vector(r#"sort(count_over_time({app=~".+"}[1m]))"#, 60);
    assert_eq!(
        sorted.iter().map(|s| s.1).collect::<Vec<_>>(),
        vec![1.0, 2.0, 4.0]
    );
}

#[test]
fn unwrap_functions() {
    let f = fixture();
    let v = f.vector(
        r#"sum(sum_over_time({pod="a"} | json | __error__="" | unwrap status [1m]))"#,
        60,
    );
    assert_eq!(v[0].1, 1203.0);
    let d = r#"{pod="b"} | logfmt | unwrap duration(duration) [2m]"#;
    let v = f.vector(&format!("avg_over_time({d}) by (pod)"), 120);
    assert_eq!(
        v,
        vec![(labels(&[("pod", "b")]), (0.005 + 0.25 + 3.0) / 3.0)]
    );
    let one = |fun: &str| f.vector(&format!("{fun}({d}) by (pod)"), 120)[0].1;
    assert_eq!(one("min_over_time"), 0.005);
    assert_eq!(one("max_over_time"), 3.0);
    assert_eq!(one("first_over_time"), 0.005);
    assert_eq!(one("last_over_time"), 3.0);
    assert_eq!(
        f.vector(&format!("quantile_over_time(0.5, {d}) by (pod)"), 120)[0].1,
        0.25
    );
    // rank 0.75 * 2 = 1.5: halfway between 0.25 and 3.
    assert_eq!(
        f.vector(&format!("quantile_over_time(0.75, {d}) by (pod)"), 120)[0].1,
        1.625
    );
    let v = f.vector(&format!("sum(rate({d}))"), 120);
    assert_eq!(v[0].1, 3.255 / 120.0);
    // Without grouping the unwrapped label leaves the series labels.
    let v = f.vector(
        r#"max_over_time({pod="b"} | logfmt | drop msg, level | unwrap duration(duration) [2m])"#,
        120,
    );
    assert_eq!(v, vec![(labels(B), 3.0)]);
    let v = f.vector(
        r#"sum_over_time({pod="a"} | json | __error__="" | size!="" | unwrap bytes(size) [1m])"#,
        60,
    );
    assert_eq!(v[0].1, 1000.0);
    // A conversion failure is a pipeline error unless filtered after unwrap.
    let err = f
        .instant(
            r#"sum(sum_over_time({pod="b"} | logfmt | unwrap msg [2m]))"#,
            120,
        )
        .unwrap_err();
    assert!(
        matches!(&err, QueryError::Pipeline { error, .. } if error == "SampleExtractionErr"),
        "{err}"
    );
    let v = f.vector(
        r#"sum(sum_over_time({pod="b"} | logfmt | unwrap msg | __error__="" [2m]))"#,
        120,
    );
    assert!(v.is_empty());
}

#[test]
fn errors_in_metric_queries_fail_the_query() {
    let f = fixture();
    let err = f
        .instant(r#"sum(count_over_time({pod="a"} | json [1m]))"#, 60)
        .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "pipeline error: 'JSONParserErr' for series: '{__error__=\"JSONParserErr\""
        ),
        "{err}"
    );
    let v = f.vector(
        r#"sum(count_over_time({pod="a"} | json | drop __error__, __error_details__ [1m]))"#,
        60,
    );
    assert_eq!(v[0].1, 4.0);
}

#[test]
fn absent_over_time() {
    let f = fixture();
    let m = f.matrix(
        r#"absent_over_time({app="web", pod=~".*x"}[1m])"#,
        60,
        180,
        60,
    );
    assert_eq!(
        m,
        vec![(
            labels(&[("app", "web")]),
            vec![(60, 1.0), (120, 1.0), (180, 1.0)]
        )]
    );
    let m = f.matrix(r#"absent_over_time({app="web"}[1m])"#, 60, 180, 60);
    assert_eq!(m, vec![(labels(&[("app", "web")]), vec![(180, 1.0)])]);
}

#[test]
fn binary_operators() {
    let f = fixture();
    assert_eq!(f.vector("vector(1)+vector(1)", 4), vec![(labels(&[]), 2.0)]);
    assert!(matches!(f.instant("1 + 1", 4).unwrap(), QueryResult::Scalar(_, v) if v == 2.0));
    let c = r#"count_over_time({app="api"}[1m])"#;
    assert_eq!(f.vector(&format!("sum({c}) / 2"), 60)[0].1, 3.0);
    assert_eq!(f.vector(&format!("2 * sum({c}) - 1"), 60)[0].1, 11.0);
    assert_eq!(f.vector(&format!("{c} > 2"), 60), vec![(labels(A), 4.0)]);
    assert_eq!(
        f.vector(&format!("{c} > bool 2"), 60),
        vec![(labels(A), 1.0), (labels(B), 0.0)]
    );
    assert_eq!(f.vector(&format!("3 < {c}"), 60), vec![(labels(A), 4.0)]);
    // One-to-one on all labels.
    assert_eq!(
        f.vector(&format!("{c} / {c}"), 60),
        vec![(labels(A), 1.0), (labels(B), 1.0)]
    );
    // Many-to-one with group_left.
    let per_pod = f.vector(&format!("{c} / on (app) group_left sum by (app) ({c})"), 60);
    assert_eq!(
        per_pod,
        vec![(labels(A), 4.0 / 6.0), (labels(B), 2.0 / 6.0)]
    );
    let v = f.vector(
        &format!("sum by (pod) ({c}) + on (pod) sum by (pod, app) ({c})"),
        60,
    );
    assert_eq!(
        v,
        vec![
            (labels(&[("pod", "a")]), 8.0),
            (labels(&[("pod", "b")]), 4.0)
        ]
    );
    // Set operators.
    let none = r#"sum(count_over_time({app="nope"}[1m]))"#;
    assert_eq!(
        f.vector(&format!("{none} or vector(0)"), 60),
        vec![(labels(&[]), 0.0)]
    );
    assert_eq!(
        f.vector(&format!("{c} and on (pod) ({c} > 2)"), 60),
        vec![(labels(A), 4.0)]
    );
    assert_eq!(
        f.vector(&format!("{c} unless ({c} > 2)"), 60),
        vec![(labels(B), 2.0)]
    );
    let err = f.instant(&format!("sum by (app) ({c}) + {c}"), 60);
    assert!(err.is_ok()); // no match: empty
}

#[test]
fn label_replace_and_offset() {
    let f = fixture();
    let v = f.vector(
        r#"label_replace(count_over_time({pod="a"}[1m]), "x", "pod-$1", "pod", "(.*)")"#,
        60,
    );
    assert_eq!(
        v,
        vec![(labels(&[("app", "api"), ("pod", "a"), ("x", "pod-a")]), 4.0)]
    );
    let v = f.vector(
        r#"label_replace(count_over_time({pod="a"}[1m]), "x", "$1", "pod", "z(.*)")"#,
        60,
    );
    assert_eq!(v[0].0, labels(A));
    let v = f.vector(r#"count_over_time({pod="b"}[1m] offset 1m)"#, 120);
    assert_eq!(v[0].1, 2.0);
}

#[test]
fn limits_give_clear_errors() {
    let f = fixture();
    let err = f
        .try_range(
            r#"count_over_time({app="api"}[1m])"#,
            0,
            3600 * 24 * 40,
            3600,
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the query time range exceeds the limit"),
        "{err}"
    );
    let err = f
        .try_range(r#"count_over_time({app="api"}[1m])"#, 0, 3600 * 24, 1)
        .unwrap_err();
    assert!(err.to_string().contains("11,000 points"), "{err}");
}
