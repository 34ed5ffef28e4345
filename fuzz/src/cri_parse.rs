//! `cri::parse` on arbitrary bytes: never panics; whatever parses is a prefix-faithful
//! record that re-formats and re-parses to the same fields.

use kelp_k8s::cri;

/// One input.
pub fn run(data: &[u8]) {
    let Ok(r) = cri::parse(data) else { return };
    // The content is a suffix of the input (minus one trailing LF).
    let line = data.strip_suffix(b"\n").unwrap_or(data);
    assert!(line.ends_with(r.content));
    // Re-formatting gives a record that parses to the same fields, unless the content
    // holds an LF (the caller splits records at LF, so that cannot happen in a file).
    if r.content.contains(&b'\n') {
        return;
    }
    let mut again = Vec::new();
    r.write(&mut again);
    assert_eq!(cri::parse(&again), Ok(r));
}
