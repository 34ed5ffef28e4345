//! Kubernetes name rules (`apimachinery` `IsDNS1123Label`, `IsDNS1123Subdomain`).

/// A rule violation: byte offset in the name and the rule.
pub(crate) type Violation = (usize, &'static str);

/// Longest DNS-1123 label: namespaces and container names.
pub const MAX_LABEL: usize = 63;
/// Longest DNS-1123 subdomain: pod names.
pub const MAX_SUBDOMAIN: usize = 253;

/// A DNS-1123 label: 1–63 of `[a-z0-9-]`, alphanumeric at both ends.
pub(crate) fn dns_label(s: &str) -> Result<(), Violation> {
    if s.len() > MAX_LABEL {
        return Err((MAX_LABEL, "must be at most 63 characters"));
    }
    label_chars(s, 0, "must consist of lowercase alphanumerics and '-'")
}

/// A DNS-1123 subdomain: at most 253 bytes of `.`-separated labels (no per-label length
/// limit, as in Kubernetes' validation).
pub(crate) fn dns_subdomain(s: &str) -> Result<(), Violation> {
    if s.len() > MAX_SUBDOMAIN {
        return Err((MAX_SUBDOMAIN, "must be at most 253 characters"));
    }
    let mut at = 0;
    for label in s.split('.') {
        label_chars(
            label,
            at,
            "must consist of lowercase alphanumerics, '-' and '.'",
        )?;
        at += label.len() + 1;
    }
    Ok(())
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, reporting offsets shifted by `at`.
fn label_chars(s: &str, at: usize, chars_rule: &'static str) -> Result<(), Violation> {
    let b = s.as_bytes();
    let (Some(first), Some(last)) = (b.first(), b.last()) else {
        return Err((at, "must not be empty"));
    };
    if let Some(i) = b
        .iter()
        .position(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-'))
    {
        return Err((at + i, chars_rule));
    }
    if *first == b'-' {
        return Err((at, "must start with an alphanumeric character"));
    }
    if *last == b'-' {
        return Err((at + b.len() - 1, "must end with an alphanumeric character"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains() {
        for ok in ["a", "0", "kube-system", "a1-b2", &"x".repeat(63)] {
            assert_eq!(dns_label(ok), Ok(()), "{ok}");
        }
        let bad: &[(&str, usize)] = &[
            ("", 0),
            ("-a", 0),
            ("a-", 1),
            ("A", 0),
            ("a_b", 1),
            ("a.b", 1),
            (&"x".repeat(64), 63),
        ];
        for (s, at) in bad {
            assert_eq!(dns_label(s).map_err(|e| e.0), Err(*at), "{s}");
        }
        for ok in [
            "a",
            "api-7d9c5b6f4d-x2x9q",
            "a.b.c",
            "kube-apiserver-node1.example",
            &"x".repeat(253),
        ] {
            assert_eq!(dns_subdomain(ok), Ok(()), "{ok}");
        }
        let bad: &[(&str, usize)] = &[
            ("", 0),
            ("a..b", 2),
            (".a", 0),
            ("a.", 2),
            ("a.-b", 2),
            ("a_b", 1),
            (&"x".repeat(254), 253),
        ];
        for (s, at) in bad {
            assert_eq!(dns_subdomain(s).map_err(|e| e.0), Err(*at), "{s}");
        }
    }
}
