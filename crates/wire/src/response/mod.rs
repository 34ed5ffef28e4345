//! What the server answers to queries (spec §3.3–§3.5, §4, §5, §6), serialized as Loki
//! does where Grafana is strict (§8): log timestamps as nanosecond strings, sample values
//! as strings, metric timestamps as numbers of seconds, `{"status":"success","data":...}`,
//! keys in Loki's order and a final newline.
//!
//! The server fills [`QueryResponse`], [`TailMessage`], [`IndexStats`], [`BuildInfo`], or
//! passes a list to [`success`].

mod metadata;
mod number;
mod query;
mod stats;
mod tail;

pub use metadata::{series_response, success, BuildInfo, IndexStats};
pub use number::{format_value, Point};
pub use query::{
    InstantSample, LogStream, LogValue, QueryResponse, QueryResult, Series, CATEGORIZE_LABELS,
};
pub use stats::{
    Cache, Caches, Chunk, IndexStatsSummary, Ingester, Querier, Stats, Store, Summary,
};
pub use tail::{DroppedEntry, TailMessage};

/// Compact JSON followed by a newline, as Loki ends every JSON body.
pub(crate) fn to_body<T: serde::Serialize + ?Sized>(v: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    // The response types serialize only string-keyed maps, strings and numbers: writing
    // them into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, v);
    out.push(b'\n');
    out
}
