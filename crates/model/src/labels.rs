//! Stream labels and their stable id.
//!
//! A [`Labels`] value always holds pairs sorted by name, with valid, unique names and
//! non-empty values: the constructor is the only way in, so every holder can rely on it.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use xxhash_rust::xxh3::Xxh3;

use crate::error::{excerpt, ModelError};

/// One `name="value"` pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LabelPair {
    /// The label name, `[a-zA-Z_][a-zA-Z0-9_]*`.
    pub name: String,
    /// The label value: any UTF-8, never empty.
    pub value: String,
}

/// A stream's identity: label pairs sorted by name.
///
/// Rules, as Prometheus and Loki apply them:
/// - a name matches `[a-zA-Z_][a-zA-Z0-9_]*`;
/// - a name appears once;
/// - an empty value means the label is absent, so such pairs are dropped.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Labels {
    pairs: Vec<LabelPair>,
}

/// The stable 64-bit id of a label set.
///
/// Defined as XXH3-64 (seed 0) over the sorted pairs, each written as the name's bytes,
/// a `0xff` byte, the value's bytes and another `0xff` byte. `0xff` cannot occur in UTF-8, so
/// distinct label sets have distinct inputs. The definition is part of Kelp's on-disk
/// format: changing it is a format change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StreamId(pub u64);

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Whether `name` is a valid Prometheus/Loki label name.
pub fn is_valid_label_name(name: &str) -> bool {
    label_name_error(name).is_none()
}

fn label_name_error(name: &str) -> Option<&'static str> {
    let bytes = name.as_bytes();
    match bytes.first() {
        None => return Some("empty name"),
        Some(b) if !(b.is_ascii_alphabetic() || *b == b'_') => {
            return Some("must start with a letter or '_'")
        }
        _ => {}
    }
    if bytes
        .iter()
        .any(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
    {
        return Some("only letters, digits and '_' are allowed");
    }
    None
}

impl Labels {
    /// The empty label set.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Builds a label set from pairs in any order, validating every name.
    pub fn from_pairs<I, N, V>(pairs: I) -> Result<Self, ModelError>
    where
        I: IntoIterator<Item = (N, V)>,
        N: Into<String>,
        V: Into<String>,
    {
        let mut out = Vec::new();
        for (name, value) in pairs {
            let (name, value) = (name.into(), value.into());
            if let Some(reason) = label_name_error(&name) {
                return Err(ModelError::InvalidLabelName {
                    name: excerpt(name.as_bytes()),
                    reason,
                });
            }
            if !value.is_empty() {
                out.push(LabelPair { name, value });
            }
        }
        out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        if let Some(w) = out.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(ModelError::DuplicateLabelName {
                name: w[0].name.clone(),
            });
        }
        Ok(Self { pairs: out })
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .binary_search_by(|p| p.name.as_str().cmp(name))
            .ok()
            .map(|i| self.pairs[i].value.as_str())
    }

    /// The pairs, sorted by name.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &LabelPair> {
        self.pairs.iter()
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// A copy with `name` set to `value` (replacing it, or removing it when `value` is empty).
    pub fn with(&self, name: &str, value: &str) -> Result<Self, ModelError> {
        Self::from_pairs(
            self.pairs
                .iter()
                .filter(|p| p.name != name)
                .map(|p| (p.name.as_str(), p.value.as_str()))
                .chain(std::iter::once((name, value))),
        )
    }

    /// The stable id of this label set; see [`StreamId`].
    pub fn stream_id(&self) -> StreamId {
        let mut h = Xxh3::new();
        for p in &self.pairs {
            h.update(p.name.as_bytes());
            h.update(&[0xff]);
            h.update(p.value.as_bytes());
            h.update(&[0xff]);
        }
        StreamId(h.digest())
    }
}

/// Prints the Prometheus/Loki form: `{name="value", other="x"}`, values escaped as Go's
/// `strconv.Quote` does for the characters that matter (`\`, `"`, control characters).
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, p) in self.pairs.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}=\"", p.name)?;
            for c in p.value.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '"' => f.write_str("\\\"")?,
                    '\n' => f.write_str("\\n")?,
                    '\r' => f.write_str("\\r")?,
                    '\t' => f.write_str("\\t")?,
                    c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

/// Serialized as a JSON object of name to value, the shape of Loki's `stream` field.
impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.pairs.iter().map(|p| (&p.name, &p.value)))
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<String, String>::deserialize(d)?;
        Labels::from_pairs(map).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_are_validated() {
        let table: &[(&str, bool)] = &[
            ("a", true),
            ("_", true),
            ("__name__", true),
            ("pod_uid2", true),
            ("", false),
            ("2abc", false),
            ("k8s.pod", false),
            ("a-b", false),
            ("é", false),
        ];
        for (name, ok) in table {
            assert_eq!(is_valid_label_name(name), *ok, "{name:?}");
            assert_eq!(Labels::from_pairs([(*name, "v")]).is_ok(), *ok, "{name:?}");
        }
    }

    #[test]
    fn pairs_are_sorted_unique_and_empty_values_dropped() {
        let l = Labels::from_pairs([("z", "1"), ("a", "2"), ("m", "")]).unwrap();
        let names: Vec<_> = l.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["a", "z"]);
        assert_eq!(l.get("z"), Some("1"));
        assert_eq!(l.get("m"), None);
        let err = Labels::from_pairs([("a", "1"), ("a", "2")]).unwrap_err();
        assert_eq!(err.to_string(), r#"duplicate label name "a""#);
    }

    #[test]
    fn display_escapes_like_go() {
        let l = Labels::from_pairs([("msg", "a\"b\\c\nd\u{1}")]).unwrap();
        assert_eq!(l.to_string(), r#"{msg="a\"b\\c\nd\u0001"}"#);
        assert_eq!(Labels::empty().to_string(), "{}");
    }

    #[test]
    fn stream_id_is_pinned() {
        // The id is part of the on-disk format: this value must never change.
        let l = Labels::from_pairs([("namespace", "shop"), ("pod", "api-0")]).unwrap();
        let mut input = Vec::new();
        input.extend_from_slice(b"namespace\xffshop\xffpod\xffapi-0\xff");
        assert_eq!(l.stream_id().0, xxhash_rust::xxh3::xxh3_64(&input));
        assert_eq!(l.stream_id().to_string().len(), 16);
    }

    #[test]
    fn with_replaces_and_removes() {
        let l = Labels::from_pairs([("a", "1"), ("b", "2")]).unwrap();
        assert_eq!(l.with("a", "9").unwrap().get("a"), Some("9"));
        assert_eq!(l.with("b", "").unwrap().len(), 1);
        assert!(l.with("bad-name", "x").is_err());
    }

    #[test]
    fn serde_round_trip() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1")]).unwrap();
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(json, r#"{"a":"1","b":"2"}"#);
        assert_eq!(serde_json::from_str::<Labels>(&json).unwrap(), l);
        assert!(serde_json::from_str::<Labels>(r#"{"a.b":"1"}"#).is_err());
    }

    proptest! {
        #[test]
        fn order_does_not_change_identity(
            mut pairs in proptest::collection::btree_map("[a-z_][a-z0-9_]{0,8}", ".{1,8}", 0..6)
                .prop_map(|m| m.into_iter().collect::<Vec<_>>()),
            seed in any::<u64>(),
        ) {
            let a = Labels::from_pairs(pairs.clone()).unwrap();
            let n = pairs.len().max(1);
            pairs.rotate_left((seed as usize) % n);
            let b = Labels::from_pairs(pairs).unwrap();
            prop_assert_eq!(a.stream_id(), b.stream_id());
            prop_assert_eq!(a, b);
        }
    }
}
