//! # kelp-series
//!
//! The resource-metrics series store behind `kelp server`'s `metrics.k8s.io`, range and
//! Prometheus routes: per series (tenant, node, pod or container), cumulative CPU and the
//! working set at each collection, compressed, on disk, with retention.
//!
//! - [`SeriesStore`]: `open` (recovery), `append` (durable once it returns; idempotent by
//!   series and timestamp), `samples` and `last` (reads), `maintain` (cut and retention),
//!   `stats`, `close`; `set_labels` and `labels` (a series' Kubernetes labels, durable,
//!   the last value wins).
//! - [`SeriesKey`], [`Kind`], [`Sample`]: what is stored.
//! - [`codec`]: the chunk encoding (delta-of-delta timestamps, scaled delta counters).
//! - [`format`]: file names, magic numbers and the byte layout of every file.
//!
//! Memory is bounded: per series its names, one open chunk (at most `max_chunk_samples`
//! samples, a few bytes each) and one 40-byte reference per flushed chunk; the number of
//! series is capped (`max_series`).
//!
//! ```
//! use kelp_series::{Sample, SeriesConfig, SeriesKey, SeriesStore};
//!
//! let dir = tempfile::tempdir()?;
//! let now = 1_732_320_000_000_000_000;
//! let (store, _) = SeriesStore::open(SeriesConfig::new(dir.path()), now)?;
//! let key = SeriesKey::node("fake", "n1");
//! let s = |i: i64| (key.clone(), Sample { t: now + i * 15_000_000_000, cpu_ns: 1_000 * i as u64, memory: 4096 });
//! let out = store.append(&[s(0), s(1)])?;
//! assert_eq!(out.stored, 2);
//! assert_eq!(store.append(&[s(1)])?.duplicates, 1); // a retry stores nothing twice
//! assert_eq!(store.last(&key, i64::MAX, 2, now)?.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod codec;
mod error;
pub mod format;
mod key;
mod labels;
mod log;
mod store;

pub use error::SeriesError;
pub use key::{Kind, SeriesKey};
pub use labels::Labels;
pub use store::{AppendOutcome, Recovery, SeriesConfig, SeriesStats, SeriesStore};

/// One collection's figures for one series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Unix nanoseconds.
    pub t: i64,
    /// Cumulative CPU, nanoseconds.
    pub cpu_ns: u64,
    /// Working set, bytes.
    pub memory: u64,
}
