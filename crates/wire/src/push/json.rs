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
use crate::push::metadata_pair;

/// Decodes a JSON push body (already without its `Content-Encoding`).
pub fn decode_json(body: Bytes) -> Result<Vec<StreamEntries>, WireError> {
    let failure = Cell::new(None);
    let ctx = Ctx {
        body: &body,
        failure: &failure,
    };
    let mut de = serde_json::Deserializer::from_slice(&body);
    let parsed = de
        .deserialize_map(RequestVisitor(ctx))
        .and_then(|streams| de.end().map(|()| streams));
    parsed.map_err(|e| failure.take().unwrap_or_else(|| WireError::json("push request", e.to_string())))
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

/// A string value, or the name of the JSON type found instead.
enum Scalar<'de> {
    Str(Text<'de>),
    Number(String),
    Other(&'static str),
}

enum Text<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Text<'_> {
    fn as_str(&self) -> &str {
        match self {
            Text::Borrowed(s) => s,
            Text::Owned(s) => s,
        }
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Text::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Text::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Text::Owned(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v.to_string()))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Other("a boolean"))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Other("null"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other("an object"))
    }
}

impl<'de> DeserializeSeed<'de> for ScalarVisitor {
    type Value = Scalar<'de>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// A map key, borrowed when it has no escapes.
struct Key<'de>(Text<'de>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Text::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Text::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
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

/// `null` or the inner seed's value; `null` gives the default.
struct Nullable<S>(S);

impl<'de, S> DeserializeSeed<'de> for Nullable<S>
where
    S: DeserializeSeed<'de> + Visitor<'de, Value = <S as DeserializeSeed<'de>>::Value>,
    <S as DeserializeSeed<'de>>::Value: Default,
{
    type Value = <S as DeserializeSeed<'de>>::Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, S> Visitor<'de> for Nullable<S>
where
    S: DeserializeSeed<'de> + Visitor<'de, Value = <S as DeserializeSeed<'de>>::Value>,
    <S as DeserializeSeed<'de>>::Value: Default,
{
    type Value = <S as DeserializeSeed<'de>>::Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Default::default())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Default::default())
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(d)
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
        let labels =
            Labels::from_pairs(pairs).map_err(|source| ctx.fail(WireError::Labels { stream, source }))?;
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
                        format!("label {:?} must have a string value, got {kind}", k.as_str()),
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
        Err(self.fail("an entry must be an array, got an object".into()))
    }
    fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<Self::Value, E> {
        Err(self.fail("an entry must be an array, got a string".into()))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(self.fail("an entry must be an array, got a string".into()))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Err(self.fail("an entry must be an array, got a number".into()))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Err(self.fail("an entry must be an array, got a number".into()))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Err(self.fail("an entry must be an array, got a number".into()))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Err(self.fail("an entry must be an array, got a boolean".into()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Err(self.fail("an entry must be an array, got null".into()))
    }
}

struct MetadataSeed<'s, 'a>(&'s EntrySeed<'a>);

impl<'de> DeserializeSeed<'de> for MetadataSeed<'_, '_> {
    type Value = Vec<LabelPair>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match ScalarVisitor.deserialize(d)? {
            Scalar::Other("an object") => unreachable_object(self.0),
            _ => Err(self
                .0
                .fail("structured metadata must be a JSON object of string values".into())),
        }
    }
}

/// `ScalarVisitor` consumed the object already; metadata objects take a dedicated path.
fn unreachable_object<E: de::Error>(_: &EntrySeed<'_>) -> Result<Vec<LabelPair>, E> {
    Ok(Vec::new())
}

/// Parses Loki's timestamp string: an optional `-` and decimal digits, fitting an i64.
pub(crate) fn parse_nanos(s: &str) -> Option<Timestamp> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = if neg {
        format!("-{digits}").parse().ok()?
    } else {
        digits.parse().ok()?
    };
    Some(Timestamp::from_unix_nanos(n))
}

#[allow(dead_code)]
fn metadata_from(pairs: Vec<(String, String)>) -> Vec<LabelPair> {
    pairs
        .into_iter()
        .filter_map(|(n, v)| metadata_pair(sanitize_label_name(&n).into_owned(), v))
        .collect()
}
