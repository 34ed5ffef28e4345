//! Kelp's native push: what `kelp agent` sends to `kelp server`.
//!
//! The body is Loki's `logproto.PushRequest` protobuf (the messages of
//! [`crate::push::proto`]), compressed as one zstd frame instead of a snappy block, sent
//! with `Content-Type: application/x-protobuf` and `Content-Encoding: zstd`. zstd at levels
//! 1 to 3 makes log batches two to three times smaller than snappy at a similar decoding speed,
//! and keeping Loki's message means one decoder and one set of tests. The server accepts it
//! on the Loki push path too ([`crate::decode_push_encoded`] treats a zstd-encoded protobuf
//! body as native). See `docs/wire.md`.

use bytes::Bytes;
use kelp_model::StreamEntries;

use crate::compress;
use crate::error::WireError;
use crate::push::proto;

/// The `Content-Type` of a native push.
pub const CONTENT_TYPE: &str = "application/x-protobuf";
/// The `Content-Encoding` of a native push.
pub const CONTENT_ENCODING: &str = "zstd";
/// The zstd level the agent uses by default: on the 1 GiB node tree of
/// `shared/bench/ANCHORS.md`, `zstd -1` compresses at 504 MiB/s to ratio 6.55 and `-3` at
/// 304 MiB/s to 6.22, and compression is the largest cost of shipping a line.
pub const DEFAULT_LEVEL: i32 = 1;

/// Encodes a native push body at `level` (1 to 22).
///
/// ```
/// use kelp_model::{Entry, Labels, StreamEntries, Timestamp};
/// let batch = vec![StreamEntries {
///     labels: Labels::from_pairs([("pod", "api-0")]).unwrap(),
///     entries: vec![Entry::new(Timestamp::from_unix_nanos(5), "hello")],
/// }];
/// let body = kelp_wire::native::encode(&batch, kelp_wire::native::DEFAULT_LEVEL);
/// assert_eq!(kelp_wire::native::decode(&body, 1 << 20).unwrap(), batch);
/// ```
pub fn encode(streams: &[StreamEntries], level: i32) -> Vec<u8> {
    compress::zstd(&proto::encode_protobuf(streams), level)
}

/// Decodes a native push body, decompressing at most `max_decompressed` bytes.
pub fn decode(body: &[u8], max_decompressed: usize) -> Result<Vec<StreamEntries>, WireError> {
    let raw = compress::unzstd(body, max_decompressed)?;
    proto::decode_protobuf(Bytes::from(raw))
}
