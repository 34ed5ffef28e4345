//! The LogQL parser on arbitrary text: never panics or hangs, and whatever parses prints
//! to a canonical form that parses to the same tree.

/// One input.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(expr) = kelp_logql::parse(text) {
        let printed = expr.to_string();
        let again = kelp_logql::parse(&printed).expect("the canonical form parses");
        assert_eq!(again, expr, "{text:?} printed as {printed:?}");
    }
}
