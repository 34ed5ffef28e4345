//! Loki's protobuf push body (spec §2.3): `logproto.PushRequest`, hand-written prost
//! messages with the field numbers of `pkg/push/push.proto`.
//!
//! Lines are declared `bytes` rather than `string` (the wire type is the same), so decoding
//! from a [`Bytes`] buffer slices it instead of copying and validating every line.

use bytes::Bytes;
use kelp_model::{Entry, LabelPair, StreamEntries, Timestamp};
use prost::Message;

use crate::compress;
use crate::error::WireError;
use crate::labels_text::parse_labels_for;
use crate::names::sanitize_label_name;
use crate::push::metadata_pair;

/// `logproto.PushRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct PushRequest {
    /// Field 1: the streams.
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<StreamAdapter>,
    /// Field 2: Loki-internal (`loki` or `otlp`); clients leave it empty.
    #[prost(string, tag = "2")]
    pub format: String,
}

/// `logproto.StreamAdapter`: one stream's labels and entries.
#[derive(Clone, PartialEq, Message)]
pub struct StreamAdapter {
    /// Field 1: the label set as text, `{app="x", env="y"}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    /// Field 2: the entries.
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<EntryAdapter>,
    /// Field 3: Loki-internal hash; ignored.
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

/// `logproto.EntryAdapter`: one entry.
#[derive(Clone, PartialEq, Message)]
pub struct EntryAdapter {
    /// Field 1: `google.protobuf.Timestamp`.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<ProtoTimestamp>,
    /// Field 2: the line (a proto `string`, read as bytes).
    #[prost(bytes = "bytes", tag = "2")]
    pub line: Bytes,
    /// Field 3: structured metadata.
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPairAdapter>,
    /// Field 4: parsed labels, response-side only; ignored on push.
    #[prost(message, repeated, tag = "4")]
    pub parsed: Vec<LabelPairAdapter>,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Message)]
pub struct ProtoTimestamp {
    /// Field 1: seconds since the epoch.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Field 2: nanoseconds within the second.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// `logproto.LabelPairAdapter`.
#[derive(Clone, PartialEq, Message)]
pub struct LabelPairAdapter {
    /// Field 1: the name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Field 2: the value.
    #[prost(string, tag = "2")]
    pub value: String,
}

impl ProtoTimestamp {
    /// From a Kelp timestamp (nanos in `0..1e9`, seconds floored).
    pub fn from_timestamp(t: Timestamp) -> Self {
        let n = t.as_unix_nanos();
        Self {
            seconds: n.div_euclid(1_000_000_000),
            // rem_euclid of 1e9 fits an i32.
            nanos: n.rem_euclid(1_000_000_000) as i32,
        }
    }

    /// To a Kelp timestamp, saturating outside its range.
    pub fn to_timestamp(self) -> Timestamp {
        let n = self
            .seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(self.nanos));
        Timestamp::from_unix_nanos(n)
    }
}

/// Decodes a snappy-compressed `PushRequest`, decompressing at most `max` bytes.
pub fn decode_protobuf_snappy(body: &[u8], max: usize) -> Result<Vec<StreamEntries>, WireError> {
    let raw = compress::unsnappy(body, max)?;
    decode_protobuf(Bytes::from(raw))
}

/// Decodes an uncompressed `PushRequest`. Lines become slices of `raw`.
pub fn decode_protobuf(raw: Bytes) -> Result<Vec<StreamEntries>, WireError> {
    let req = PushRequest::decode(raw).map_err(|e| WireError::Protobuf {
        message: "logproto.PushRequest",
        reason: e.to_string(),
    })?;
    req.streams
        .into_iter()
        .enumerate()
        .map(|(i, s)| stream_from_proto(i, s))
        .collect()
}

fn stream_from_proto(index: usize, s: StreamAdapter) -> Result<StreamEntries, WireError> {
    let labels = parse_labels_for(&s.labels, index)?;
    if labels.is_empty() {
        return Err(WireError::MissingLabels { stream: index });
    }
    let entries = s
        .entries
        .into_iter()
        .map(|e| Entry {
            timestamp: e.timestamp.unwrap_or_default().to_timestamp(),
            line: e.line,
            metadata: e
                .structured_metadata
                .into_iter()
                .filter_map(|p| {
                    let name = match sanitize_label_name(&p.name) {
                        std::borrow::Cow::Borrowed(_) => p.name,
                        std::borrow::Cow::Owned(n) => n,
                    };
                    metadata_pair(name, p.value)
                })
                .collect(),
        })
        .collect();
    Ok(StreamEntries { labels, entries })
}

/// Builds the `PushRequest` for `streams` (line buffers are shared, not copied).
pub fn to_proto(streams: &[StreamEntries]) -> PushRequest {
    PushRequest {
        streams: streams
            .iter()
            .map(|s| StreamAdapter {
                labels: s.labels.to_string(),
                entries: s.entries.iter().map(entry_to_proto).collect(),
                hash: 0,
            })
            .collect(),
        format: String::new(),
    }
}

fn entry_to_proto(e: &Entry) -> EntryAdapter {
    EntryAdapter {
        timestamp: Some(ProtoTimestamp::from_timestamp(e.timestamp)),
        line: e.line.clone(),
        structured_metadata: e.metadata.iter().map(pair_to_proto).collect(),
        parsed: Vec::new(),
    }
}

fn pair_to_proto(p: &LabelPair) -> LabelPairAdapter {
    LabelPairAdapter {
        name: p.name.clone(),
        value: p.value.clone(),
    }
}

/// Encodes `streams` as an uncompressed `PushRequest`: the bytes prost writes for
/// [`to_proto`], written straight from the entries (no copy of metadata strings or
/// intermediate messages; the agent encodes every line it ships through here).
pub fn encode_protobuf(streams: &[StreamEntries]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_protobuf_into(streams, &mut out);
    out
}

/// [`encode_protobuf`] appending to `out`.
pub fn encode_protobuf_into(streams: &[StreamEntries], out: &mut Vec<u8>) {
    let labels: Vec<String> = streams.iter().map(|s| s.labels.to_string()).collect();
    let lens: Vec<usize> = streams
        .iter()
        .zip(&labels)
        .map(|(s, l)| stream_len(s, l))
        .collect();
    out.reserve(lens.iter().map(|&n| 1 + varint_len(n as u64) + n).sum());
    for ((s, l), &len) in streams.iter().zip(&labels).zip(&lens) {
        // PushRequest.streams (1)
        out.push(0x0A);
        varint(out, len as u64);
        bytes_field(out, 0x0A, l.as_bytes());
        for e in &s.entries {
            // StreamAdapter.entries (2)
            out.push(0x12);
            varint(out, entry_len(e) as u64);
            let t = ProtoTimestamp::from_timestamp(e.timestamp);
            out.push(0x0A);
            varint(out, timestamp_len(t) as u64);
            if t.seconds != 0 {
                out.push(0x08);
                varint(out, t.seconds as u64);
            }
            if t.nanos != 0 {
                out.push(0x10);
                varint(out, t.nanos as u64);
            }
            bytes_field(out, 0x12, &e.line);
            for p in &e.metadata {
                // EntryAdapter.structured_metadata (3)
                out.push(0x1A);
                varint(out, pair_len(p) as u64);
                bytes_field(out, 0x0A, p.name.as_bytes());
                bytes_field(out, 0x12, p.value.as_bytes());
            }
        }
    }
}

fn varint_len(v: u64) -> usize {
    prost::encoding::encoded_len_varint(v)
}

fn varint(out: &mut Vec<u8>, v: u64) {
    prost::encoding::encode_varint(v, out);
}

/// A length-delimited field (tag byte given), omitted when empty as proto3 does.
fn bytes_field(out: &mut Vec<u8>, tag: u8, b: &[u8]) {
    if !b.is_empty() {
        out.push(tag);
        varint(out, b.len() as u64);
        out.extend_from_slice(b);
    }
}

fn field_len(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        1 + varint_len(n as u64) + n
    }
}

fn timestamp_len(t: ProtoTimestamp) -> usize {
    let mut n = 0;
    if t.seconds != 0 {
        n += 1 + varint_len(t.seconds as u64);
    }
    if t.nanos != 0 {
        n += 1 + varint_len(t.nanos as u64);
    }
    n
}

fn pair_len(p: &LabelPair) -> usize {
    field_len(p.name.len()) + field_len(p.value.len())
}

fn entry_len(e: &Entry) -> usize {
    let t = timestamp_len(ProtoTimestamp::from_timestamp(e.timestamp));
    let mut n = 1 + varint_len(t as u64) + t + field_len(e.line.len());
    for p in &e.metadata {
        let m = pair_len(p);
        n += 1 + varint_len(m as u64) + m;
    }
    n
}

fn stream_len(s: &StreamEntries, labels: &str) -> usize {
    let mut n = field_len(labels.len());
    for e in &s.entries {
        let m = entry_len(e);
        n += 1 + varint_len(m as u64) + m;
    }
    n
}

/// Encodes `streams` as Promtail and Alloy send them: a snappy-block-compressed
/// `PushRequest`, for `Content-Type: application/x-protobuf`.
pub fn encode_push_protobuf(streams: &[StreamEntries]) -> Vec<u8> {
    compress::snappy(&encode_protobuf(streams))
}
