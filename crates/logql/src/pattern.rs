//! The syntax of `pattern` expressions (`<ip> - <_> "<method> <path>"`): literal text and
//! captures `<name>`, where `<_>` captures nothing.

/// A piece of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part<'a> {
    /// Text that must appear as is.
    Literal(&'a str),
    /// `<name>`; `_` for the unnamed capture.
    Capture(&'a str),
}

/// Splits a pattern into literals and captures. A `<` that does not start `<identifier>` is
/// literal text.
pub fn parts(pattern: &str) -> Vec<Part<'_>> {
    let mut out = Vec::new();
    let mut literal_start = 0;
    let mut i = 0;
    while let Some(off) = pattern[i..].find('<') {
        let lt = i + off;
        match capture_len(&pattern[lt..]) {
            Some(len) => {
                if literal_start < lt {
                    out.push(Part::Literal(&pattern[literal_start..lt]));
                }
                out.push(Part::Capture(&pattern[lt + 1..lt + len - 1]));
                i = lt + len;
                literal_start = i;
            }
            None => i = lt + 1,
        }
    }
    if literal_start < pattern.len() {
        out.push(Part::Literal(&pattern[literal_start..]));
    }
    out
}

/// The length of `<identifier>` at the start of `s`, if it is one.
fn capture_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let name_len = b[1..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count();
    let first_ok = b
        .get(1)
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_');
    (first_ok && b.get(1 + name_len) == Some(&b'>')).then_some(name_len + 2)
}

/// The rules of the `| pattern` parser stage: at least one named capture, no two captures
/// in a row, no name twice.
pub(crate) fn check_parser(pattern: &str) -> Result<(), String> {
    let parts = parts(pattern);
    let fail = |why: String| Err(format!("invalid pattern parser: {why}"));
    let mut names: Vec<&str> = Vec::new();
    let mut previous_capture = false;
    for part in &parts {
        match part {
            Part::Literal(_) => previous_capture = false,
            Part::Capture(name) => {
                if previous_capture {
                    return fail(format!("found consecutive capture: '<{name}>'"));
                }
                previous_capture = true;
                if *name == "_" {
                    continue;
                }
                if names.contains(name) {
                    return fail(format!("duplicate capture name ({name})"));
                }
                names.push(name);
            }
        }
    }
    if names.is_empty() {
        return fail("at least one capture is required".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_literals_and_captures() {
        assert_eq!(
            parts("<ip> - <_> <1x> <a"),
            [
                Part::Capture("ip"),
                Part::Literal(" - "),
                Part::Capture("_"),
                Part::Literal(" <1x> <a"),
            ]
        );
    }

    #[test]
    fn parser_rules() {
        assert!(check_parser("<foo> bar <buzz>").is_ok());
        assert!(check_parser("<_> bar")
            .unwrap_err()
            .contains("at least one capture"));
        assert!(check_parser("<a><b>").unwrap_err().contains("consecutive"));
        assert!(check_parser("<a> <a>").unwrap_err().contains("duplicate"));
    }
}
