//! Integration tests of kelp-logql: the grammar feature by feature, every rule's error, the
//! canonical printer's fixpoint, robustness on arbitrary input, and Loki's own test queries.

mod corpus;
mod errors;
mod grammar;
mod robustness;
mod roundtrip;

/// Parses, or fails the test with the error.
fn parse_ok(query: &str) -> kelp_logql::Expr {
    kelp_logql::parse(query).unwrap_or_else(|e| panic!("{query}\n{e}"))
}

/// Asserts that printing `expr` and parsing the result gives `expr` again.
fn assert_fixpoint(query: &str, expr: &kelp_logql::Expr) {
    let printed = expr.to_string();
    match kelp_logql::parse(&printed) {
        Ok(again) => assert_eq!(&again, expr, "{query}\nprinted as {printed}"),
        Err(e) => panic!("{query}\nprinted as {printed}\nwhich fails: {e}"),
    }
}

/// Property-test cases: `default`, or `PROPTEST_CASES` when set (for long runs).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
