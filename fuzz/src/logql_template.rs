//! `line_format` templates on arbitrary text: parsing and rendering never panic or hang
//! (ranges, recursion through `template` and deep nesting are bounded).

/// One input.
pub fn run(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        kelp_query::fuzzing::template(text);
    }
}
