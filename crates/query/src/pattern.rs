//! Splitting `pattern` expressions (`<ip> - <_> "<method> <path>"`) into literals and
//! captures (`kelp-logql` checks the syntax but keeps its splitter private).

/// A piece of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part<'a> {
    /// Text that must appear as is.
    Literal(&'a str),
    /// `<name>`; `_` for the unnamed capture.
    Capture(&'a str),
}

/// Splits a pattern; a `<` that does not start `<identifier>` is literal text.
pub(crate) fn parts(pattern: &str) -> Vec<Part<'_>> {
    let mut out = Vec::new();
    let (mut lit_start, mut i) = (0, 0);
    while let Some(off) = pattern[i..].find('<') {
        let lt = i + off;
        match capture_len(&pattern[lt..]) {
            Some(len) => {
                if lit_start < lt {
                    out.push(Part::Literal(&pattern[lit_start..lt]));
                }
                out.push(Part::Capture(&pattern[lt + 1..lt + len - 1]));
                i = lt + len;
                lit_start = i;
            }
            None => i = lt + 1,
        }
    }
    if lit_start < pattern.len() {
        out.push(Part::Literal(&pattern[lit_start..]));
    }
    out
}

fn capture_len(s: &str) -> Option<usize> {
    let body = s.strip_prefix('<')?;
    let end = body.find('>')?;
    let name = &body[..end];
    let mut chars = name.chars();
    let first = chars.next()?;
    ((first.is_alphabetic() || first == '_') && chars.all(|c| c.is_alphanumeric() || c == '_'))
        .then_some(end + 2)
}
