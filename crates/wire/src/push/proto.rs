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

/// Encodes `streams` as an uncompressed `PushRequest`.
pub fn encode_protobuf(streams: &[StreamEntries]) -> Vec<u8> {
    to_proto(streams).encode_to_vec()
}

/// Encodes `streams` as Promtail and Alloy send them: a snappy-block-compressed
/// `PushRequest`, for `Content-Type: application/x-protobuf`.
pub fn encode_push_protobuf(streams: &[StreamEntries]) -> Vec<u8> {
    compress::snappy(&encode_protobuf(streams))
}
