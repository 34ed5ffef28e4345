//! Turning foreign field names into valid label names.

use std::borrow::Cow;

/// Makes `name` a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`), as Loki does for OTLP
/// attributes: every other character becomes `_`, a leading digit gets a `_` prefix, and an
/// empty name becomes `_`. Valid names are returned borrowed.
///
/// ```
/// assert_eq!(kelp_wire::sanitize_label_name("k8s.pod.name"), "k8s_pod_name");
/// assert_eq!(kelp_wire::sanitize_label_name("1st"), "_1st");
/// assert_eq!(kelp_wire::sanitize_label_name("ok_name"), "ok_name");
/// ```
pub fn sanitize_label_name(name: &str) -> Cow<'_, str> {
    let ok = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = name.as_bytes();
    let starts_ok = bytes.first().is_some_and(|b| !b.is_ascii_digit());
    if starts_ok && bytes.iter().all(|&b| ok(b)) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 1);
    if !starts_ok {
        out.push('_');
    }
    out.extend(
        name.chars()
            .map(|c| if c.is_ascii() && ok(c as u8) { c } else { '_' }),
    );
    Cow::Owned(out)
}
