//! # kelp-model
//!
//! The vocabulary every other Kelp crate speaks. It has no internal dependencies and does
//! no I/O.
//!
//! - [`Labels`]: a stream's identity, a sorted set of validated `name="value"` pairs, as
//!   Prometheus and Loki define them; [`StreamId`] is its stable 64-bit hash.
//! - [`Entry`]: one log line with its nanosecond [`Timestamp`] and structured metadata;
//!   [`StreamEntries`]: a stream's entries in a batch, what every ingest path decodes into.
//! - [`TenantId`]: a tenant as Loki's `X-Scope-OrgID` names it.
//! - Parsers for the value syntaxes users type: RFC 3339 and Unix timestamps
//!   ([`Timestamp::parse_rfc3339`], [`Timestamp::parse_unix`], [`Timestamp::parse_any`],
//!   [`Timestamp::parse_loki`]), Go durations
//!   ([`GoDuration`]) and Kubernetes byte quantities ([`ByteSize`]).
//!
//! ```
//! use kelp_model::{ByteSize, GoDuration, Labels, Timestamp};
//!
//! let labels = Labels::from_pairs([("pod", "api-0"), ("namespace", "shop")]).unwrap();
//! assert_eq!(labels.to_string(), r#"{namespace="shop", pod="api-0"}"#);
//! assert_eq!(labels.stream_id(), labels.clone().stream_id());
//!
//! let t = Timestamp::parse_rfc3339(b"2024-06-01T12:00:00.5Z").unwrap();
//! assert_eq!(t.to_rfc3339_nano(), "2024-06-01T12:00:00.5Z");
//! assert_eq!(GoDuration::parse("1h30m").unwrap().as_nanos(), 5_400_000_000_000);
//! assert_eq!(ByteSize::parse("10Mi").unwrap().as_u64(), 10 * 1024 * 1024);
//! ```

mod bytesize;
mod duration;
mod entry;
mod error;
mod labels;
mod tenant;
mod time;

pub use bytesize::ByteSize;
pub use duration::GoDuration;
pub use entry::{Entry, StreamEntries};
pub use error::ModelError;
pub use labels::{is_valid_label_name, LabelPair, Labels, StreamId};
pub use tenant::TenantId;
pub use time::{Timestamp, UnixUnit};
