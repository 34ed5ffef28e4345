//! Loki's JSON push body (spec §2.2), decoded with serde visitors straight into
//! [`StreamEntries`].
//!
//! Lines without escapes are not copied: they are slices of the request body (one
//! reference-counted buffer), so an entry costs no allocation beyond its metadata.

use std::cell::Cell;
use std::fmt;

use bytes::Bytes;
use kelp_model::{Entry, LabelPair, Labels, StreamEntries, Timestamp};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer as _;

use crate::error::{excerpt, WireError};
use crate::names::sanitize_label_name;
use crate::push::json_de::{reject_other_types, Key, Nullable, Scalar, ScalarVisitor, Text};
use crate::push::metadata_pair;

/// Decodes a JSON push body (already without its `Content-Encoding`).
pub fn decode_json(body: Bytes) -> Result<Vec<StreamEntries>, WireError> {
    if let Some(streams) = crate::push::json_fast::decode(&body) {
        return Ok(streams);
    }
    decode_json_serde(body)
}

/// The common shape's scanner alone: `None` where it leaves the body to the serde
/// decoder. For tests that compare the two.
#[doc(hidden)]
pub fn decode_json_fast(body: &Bytes) -> Option<Vec<StreamEntries>> {
    crate::push::json_fast::decode(body)
}

/// The serde decoder alone: every body, with precise errors. [`decode_json`] tries the
/// common shape's scanner first (`json_fast`), which gives the same result where it
/// answers.
#[doc(hidden)]
pub fn decode_json_serde(body: Bytes) -> Result<Vec<StreamEntries>, WireError> {
    let failure = Cell::new(None);
    let ctx = Ctx {
        body: &body,
        failure: &failure,
    };
    let mut de = serde_json::Deserializer::from_slice(&body);
    let parsed = de
        .deserialize_map(RequestVisitor(ctx))
        .and_then(|streams| de.end().map(|()| streams));
    parsed.map_err(|e| {
        failure
            .take()
            .unwrap_or_else(|| WireError::json("push request", e.to_string()))
    })
}

/// Encodes `streams` as a JSON push body; lines that are not UTF-8 are converted lossily.
pub fn encode_json(streams: &[StreamEntries]) -> Vec<u8> {
    let mut out = Vec::with_capacity(streams.iter().map(approx_size).sum::<usize>() + 16);
    out.extend_from_slice(b"{\"streams\":[");
    for (i, s) in streams.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"stream\":");
        write_json(&mut out, &s.labels);
        out.extend_from_slice(b",\"values\":[");
        for (j, e) in s.entries.iter().enumerate() {
            if j > 0 {
                out.push(b',');
            }
            out.extend_from_slice(format!("[\"{}\",", e.timestamp.as_unix_nanos()).as_bytes());
            write_json(&mut out, &String::from_utf8_lossy(&e.line));
            if !e.metadata.is_empty() {
                out.push(b',');
                let map: serde_json::Map<String, serde_json::Value> = e
                    .metadata
                    .iter()
                    .map(|p| (p.name.clone(), p.value.clone().into()))
                    .collect();
                write_json(&mut out, &map);
            }
            out.push(b']');
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}");
    out
}

fn approx_size(s: &StreamEntries) -> usize {
    s.entries.iter().map(|e| e.line.len() + 32).sum::<usize>() + 64
}

fn write_json(out: &mut Vec<u8>, v: &impl serde::Serialize) {
    // Serializing strings and maps of strings into a Vec cannot fail.
    let _ = serde_json::to_writer(out, v);
}

#[derive(Clone, Copy)]
struct Ctx<'a> {
    body: &'a Bytes,
    failure: &'a Cell<Option<WireError>>,
}

impl Ctx<'_> {
    /// Records the precise error; serde's own message is then discarded.
    fn fail<E: de::Error>(self, err: WireError) -> E {
        self.failure.set(Some(err));
        E::custom("push body rejected")
    }

    fn line(self, s: Text<'_>) -> Bytes {
        match s {
            Text::Borrowed(b) => self.body.slice_ref(b.as_bytes()),
            Text::Owned(o) => Bytes::from(o),
        }
    }
}

struct RequestVisitor<'a>(Ctx<'a>);

impl<'de> Visitor<'de> for RequestVisitor<'_> {
    type Value = Vec<StreamEntries>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a push request object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut streams = Vec::new();
        while let Some(Key(k)) = map.next_key()? {
            if k.as_str() == "streams" {
                streams = map.next_value_seed(Nullable(StreamsSeed(self.0)))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(streams)
    }
}

struct StreamsSeed<'a>(Ctx<'a>);

impl<'de> DeserializeSeed<'de> for StreamsSeed<'_> {
    type Value = Vec<StreamEntries>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for StreamsSeed<'_> {
    type Value = Vec<StreamEntries>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of streams")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(s) = seq.next_element_seed(StreamSeed {
            ctx: self.0,
            index: out.len(),
        })? {
            out.push(s);
        }
        Ok(out)
    }
}

struct StreamSeed<'a> {
    ctx: Ctx<'a>,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for StreamSeed<'_> {
    type Value = StreamEntries;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for StreamSeed<'_> {
    type Value = StreamEntries;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a stream object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (ctx, stream) = (self.ctx, self.index);
        let mut pairs = Vec::new();
        let mut entries = Vec::new();
        while let Some(Key(k)) = map.next_key()? {
            match k.as_str() {
                "stream" => pairs = map.next_value_seed(Nullable(LabelsSeed { ctx, stream }))?,
                "values" => entries = map.next_value_seed(Nullable(ValuesSeed { ctx, stream }))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let labels = Labels::from_pairs(pairs)
            .map_err(|source| ctx.fail(WireError::Labels { stream, source }))?;
        if labels.is_empty() {
            return Err(ctx.fail(WireError::MissingLabels { stream }));
        }
        Ok(StreamEntries { labels, entries })
    }
}

struct LabelsSeed<'a> {
    ctx: Ctx<'a>,
    stream: usize,
}

impl<'de> DeserializeSeed<'de> for LabelsSeed<'_> {
    type Value = Vec<(String, String)>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LabelsSeed<'_> {
    type Value = Vec<(String, String)>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of label names to values")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut pairs = Vec::new();
        while let Some(Key(k)) = map.next_key()? {
            let value = match map.next_value_seed(ScalarVisitor)? {
                Scalar::Str(t) => t.as_str().to_owned(),
                Scalar::Number(n) => n,
                Scalar::Other(kind) => {
                    return Err(self.ctx.fail(WireError::json(
                        format!("stream {}", self.stream),
                        format!(
                            "label {:?} must have a string value, got {kind}",
                            k.as_str()
                        ),
                    )))
                }
            };
            pairs.push((k.as_str().to_owned(), value));
        }
        Ok(pairs)
    }
}

struct ValuesSeed<'a> {
    ctx: Ctx<'a>,
    stream: usize,
}

impl<'de> DeserializeSeed<'de> for ValuesSeed<'_> {
    type Value = Vec<Entry>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ValuesSeed<'_> {
    type Value = Vec<Entry>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of entries")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            let seed = EntrySeed {
                ctx: self.ctx,
                stream: self.stream,
                entry: out.len(),
            };
            match seq.next_element_seed(seed)? {
                Some(e) => out.push(e),
                None => return Ok(out),
            }
        }
    }
}

struct EntrySeed<'a> {
    ctx: Ctx<'a>,
    stream: usize,
    entry: usize,
}

impl EntrySeed<'_> {
    fn fail<E: de::Error>(&self, reason: String) -> E {
        self.ctx.fail(WireError::json(
            format!("stream {}, entry {}", self.stream, self.entry),
            reason,
        ))
    }
}

impl EntrySeed<'_> {
    fn wrong<E: de::Error>(&self, kind: &str) -> E {
        self.fail(format!("an entry must be an array, got {kind}"))
    }
}

impl<'de> DeserializeSeed<'de> for EntrySeed<'_> {
    type Value = Entry;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed<'_> {
    type Value = Entry;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an entry array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let arity = |n: usize| format!("an entry must be an array of 2 or 3 elements, got {n}");
        let timestamp = match seq.next_element_seed(ScalarVisitor)? {
            Some(Scalar::Str(t)) => parse_nanos(t.as_str()).ok_or_else(|| {
                self.fail(format!(
                    "timestamp {:?} is not an integer number of nanoseconds",
                    excerpt(t.as_str().as_bytes())
                ))
            })?,
            Some(Scalar::Number(_)) => {
                return Err(self.fail("timestamp must be a JSON string, got a number".into()))
            }
            Some(Scalar::Other(kind)) => {
                return Err(self.fail(format!("timestamp must be a JSON string, got {kind}")))
            }
            None => return Err(self.fail(arity(0))),
        };
        let line = match seq.next_element_seed(ScalarVisitor)? {
            Some(Scalar::Str(t)) => self.ctx.line(t),
            Some(Scalar::Number(_)) => {
                return Err(self.fail("log line must be a JSON string, got a number".into()))
            }
            Some(Scalar::Other(kind)) => {
                return Err(self.fail(format!("log line must be a JSON string, got {kind}")))
            }
            None => return Err(self.fail(arity(1))),
        };
        let metadata = match seq.next_element_seed(MetadataSeed(&self))? {
            Some(m) => {
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    let mut n = 4;
                    while seq.next_element::<IgnoredAny>()?.is_some() {
                        n += 1;
                    }
                    return Err(self.fail(arity(n)));
                }
                m
            }
            None => Vec::new(),
        };
        Ok(Entry {
            timestamp,
            line,
            metadata,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(self.wrong("an object"))
    }
    reject_other_types!();
}

struct MetadataSeed<'s, 'a>(&'s EntrySeed<'a>);

impl MetadataSeed<'_, '_> {
    fn wrong<E: de::Error>(&self, kind: &str) -> E {
        self.0.fail(format!(
            "structured metadata must be a JSON object of string values, got {kind}"
        ))
    }
}

impl<'de> DeserializeSeed<'de> for MetadataSeed<'_, '_> {
    type Value = Vec<LabelPair>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MetadataSeed<'_, '_> {
    type Value = Vec<LabelPair>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a structured metadata object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(Key(k)) = map.next_key()? {
            match map.next_value_seed(ScalarVisitor)? {
                Scalar::Str(v) => {
                    let name = sanitize_label_name(k.as_str()).into_owned();
                    out.extend(metadata_pair(name, v.as_str().to_owned()));
                }
                Scalar::Number(_) => return Err(self.value_not_string(&k, "a number")),
                Scalar::Other(kind) => return Err(self.value_not_string(&k, kind)),
            }
        }
        Ok(out)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(self.wrong("an array"))
    }
    reject_other_types!();
}

impl MetadataSeed<'_, '_> {
    fn value_not_string<E: de::Error>(&self, key: &Text<'_>, kind: &str) -> E {
        self.0.fail(format!(
            "structured metadata value for {:?} must be a string, got {kind}",
            key.as_str()
        ))
    }
}

/// Parses Loki's timestamp string: an optional `-` and decimal digits, fitting an i64.
pub(crate) fn parse_nanos(s: &str) -> Option<Timestamp> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    // Up to 18 digits cannot overflow: plain arithmetic. Longer: one pass, accumulating
    // negatively so that i64::MIN fits.
    let mut v: i64 = 0;
    if digits.len() <= 18 {
        let mut bad = 0u8;
        for b in digits.bytes() {
            let d = b.wrapping_sub(b'0');
            bad |= u8::from(d > 9);
            v = v.wrapping_mul(10).wrapping_sub(i64::from(d));
        }
        if bad != 0 {
            return None;
        }
    } else {
        for b in digits.bytes() {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            v = v.checked_mul(10)?.checked_sub(i64::from(d))?;
        }
    }
    let v = if neg { v } else { v.checked_neg()? };
    Some(Timestamp::from_unix_nanos(v))
}

#[cfg(test)]
mod tests {
    use super::parse_nanos;

    #[test]
    fn nanos_parse_exactly_like_i64_from_str_for_decimal_text() {
        for s in [
            "0",
            "-0",
            "1714557600000000000",
            "-1",
            "9223372036854775807",
            "-9223372036854775808",
            "007",
        ] {
            assert_eq!(
                parse_nanos(s).map(|t| t.as_unix_nanos()),
                s.parse::<i64>().ok(),
                "{s}"
            );
        }
        for bad in [
            "",
            "-",
            "+1",
            "1a",
            " 1",
            "1.5",
            "9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999999",
        ] {
            assert_eq!(parse_nanos(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn nanos_agree_with_i64_parsing(s in "-?[0-9]{0,22}") {
            proptest::prop_assert_eq!(
                parse_nanos(&s).map(|t| t.as_unix_nanos()),
                s.parse::<i64>().ok()
            );
        }
    }
}
