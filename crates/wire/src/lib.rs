//! # kelp-wire
//!
//! What crosses the network, as pure codecs over bytes (no HTTP framework): every ingest
//! protocol decodes into the one batch type, [`StreamEntries`], and every query answer is
//! built from the [`response`] types.
//!
//! - Loki push (§2 of the API spec): [`decode_push_encoded`] does the content negotiation
//!   (JSON, snappy-compressed protobuf, gzip/deflate), [`encode_push_protobuf`] and
//!   [`encode_push_json`] produce what Promtail and Fluent Bit send.
//! - Kelp's native push, Loki's protobuf compressed with zstd: [`native`].
//! - Elasticsearch `_bulk` (§10): [`bulk::parse_bulk`], [`bulk::bulk_response`], the stub
//!   documents for `GET /` and friends, and the [`bulk::BulkMapping`] of fields to labels.
//! - OTLP/HTTP logs (§2.7), protobuf and JSON: [`otlp::decode_logs`].
//! - Query answers (§3–§6): [`response::QueryResponse`], [`response::TailMessage`],
//!   [`response::success`] and friends.
//! - The text form of a label set, `{app="x"}`: [`parse_labels`].
//! - Bounded decompression: [`compress`].
//! - The agent's pod inventory (which pods exist on a node): [`inventory::Inventory`].
//!
//! Errors are one enum, [`WireError`]: [`WireError::is_too_large`] means HTTP 413, every
//! other variant 400. Formats and mapping defaults are described in `docs/wire.md`.
//!
//! ```
//! use kelp_model::{Entry, Labels, StreamEntries, Timestamp};
//!
//! let batch = vec![StreamEntries {
//!     labels: Labels::from_pairs([("app", "checkout")]).unwrap(),
//!     entries: vec![Entry::new(Timestamp::from_unix_nanos(1), "order 42")],
//! }];
//! let body = kelp_wire::encode_push_json(&batch);
//! let back = kelp_wire::decode_push_encoded(Some("application/json"), None, &body, 1 << 20);
//! assert_eq!(back.unwrap(), batch);
//! ```
//!
//! [`StreamEntries`]: kelp_model::StreamEntries

pub mod bulk;
pub mod compress;
mod error;
pub mod inventory;
mod labels_text;
mod names;
pub mod native;
pub mod otlp;
pub mod push;
pub mod resources;
pub mod response;

pub use compress::{ContentEncoding, DEFAULT_MAX_DECOMPRESSED_BYTES};
pub use error::WireError;
pub use labels_text::{parse_labels, parse_labels_for};
pub use names::sanitize_label_name;
pub use push::json::{decode_json as decode_push_json, encode_json as encode_push_json};
pub use push::proto::{decode_protobuf_snappy as decode_push_protobuf, encode_push_protobuf};
pub use push::{decode_push, decode_push_encoded, push_format, PushFormat};
