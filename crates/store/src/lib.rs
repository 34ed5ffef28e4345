//! # kelp-store
//!
//! Kelp's storage engine: what `kelp server` writes pushed log entries to and what the
//! query engine reads them from. It knows labels, streams and entries (`kelp-model`), and
//! nothing of LogQL, wire formats or HTTP.
//!
//! - [`Store::append`]: a batch for a tenant, acknowledged only once durable in the
//!   write-ahead log (group commit, [`FsyncPolicy`]) and visible to the next query.
//! - The head keeps recent entries in memory, bounded by [`StoreConfig::max_head_bytes`];
//!   flushes write them to immutable segment files, one directory per tenant and UTC day,
//!   with per-block token blooms and a label index. Formats: `docs/format/` and [`format`](mod@format).
//!   Retried pushes are recognized within the out-of-order window, from memory bounded by
//!   [`StoreConfig::max_dedup_bytes`] ([`Store::dedup_stats`]).
//! - [`StoreSettings`]: the store's section of a configuration file (serde), validated
//!   into a [`StoreConfig`].
//! - [`Store::scan`], [`Store::count`], [`Store::series`], [`Store::label_names`],
//!   [`Store::label_values`], [`Store::stats`]: the read side, with the store's own
//!   [`LabelMatcher`] and [`LineFilter`] types; [`Store::stream_edges`]: each stream's
//!   oldest and newest entry.
//! - [`Store::run_retention`] and [`Store::compact`] (also run by a background thread).
//!
//! ```
//! use kelp_model::{Entry, Labels, TenantId, Timestamp};
//! use kelp_store::{LabelMatcher, LineFilter, ScanRequest, Store, StoreConfig, StreamEntries, Direction};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(StoreConfig::new(dir.path())).unwrap();
//! let tenant = TenantId::parse("fake").unwrap();
//! let labels = Labels::from_pairs([("app", "api")]).unwrap();
//! let t = Timestamp::from_unix_secs(1_700_000_000);
//! let out = store
//!     .append(&tenant, &[StreamEntries { labels, entries: vec![Entry::new(t, "GET /health 200")] }])
//!     .unwrap();
//! assert_eq!(out.accepted, 1);
//! store.flush().unwrap(); // optional: data is queryable from the head too
//!
//! let hits = store
//!     .select(&ScanRequest {
//!         tenant,
//!         matchers: vec![LabelMatcher::eq("app", "api")],
//!         start: Timestamp::from_unix_secs(1_699_999_000),
//!         end: Timestamp::from_unix_secs(1_700_001_000),
//!         direction: Direction::Backward,
//!         limit: Some(100),
//!         filters: vec![LineFilter::Contains(b"health".to_vec())],
//!     })
//!     .unwrap();
//! assert_eq!(&hits[0].line[..], b"GET /health 200");
//! ```

mod bloom;
pub mod bucket;
mod chunk;
mod codec;
mod compaction;
mod config;
mod count;
mod edges;
mod error;
mod flush;
pub mod format;
mod fs;
mod head;
mod index;
mod ingest;
mod manifest;
mod matcher;
mod retention;
mod scan;
mod segment;
mod settings;
mod state;
mod store;
pub mod tokenizer;
mod wal;

use std::path::PathBuf;

pub use bucket::{Bucket, BucketConfig, CacheStats};
pub use compaction::CompactionReport;
pub use config::{FsyncPolicy, Limits, Retention, StoreConfig};
pub use count::{CountRequest, IndexStats, StreamCounts};
pub use edges::StreamEdges;
pub use error::{Result, StoreError};
pub use fs::{FaultFs, Faults, Fs, RealFs, WriteFile};
pub use head::DedupStats;
/// One stream's entries in a batch: the batch type every ingest path decodes into, defined
/// in `kelp-model` and re-exported here so `kelp_store::StreamEntries` keeps working.
pub use kelp_model::StreamEntries;
pub use matcher::{required_literals, LabelMatcher, LineFilter, MatchOp};
pub use retention::RetentionReport;
pub use scan::{never_stop, Direction, ScanEntry, ScanRequest, ScanStats, Stop};
pub use segment::BlockMeta;
pub use settings::{FsyncMode, StoreSettings};
pub use store::Store;
pub use wal::DroppedTail;

/// What an append did with each entry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Entries stored.
    pub accepted: u64,
    /// Entries dropped as identical to one already stored (a retried push).
    pub duplicates: u64,
    /// Entries rejected as older than their stream's newest entry minus the window.
    pub too_old: u64,
    /// Entries rejected for a line over the limit.
    pub too_long: u64,
    /// Entries rejected as stamped further ahead of the store's clock than
    /// [`Limits::creation_grace_secs`].
    pub too_new: u64,
    /// Entries accepted (counted in `accepted` too) without checking them against flushed
    /// entries: older than what their stream's deduplication window still remembers,
    /// which its memory budget (`StoreConfig::max_dedup_bytes`) shortened. One of them
    /// may repeat an entry stored before; see [`Store::dedup_stats`].
    pub unchecked: u64,
}

impl AppendOutcome {
    /// A message for the client when some entries were rejected (`None` when none were).
    pub fn rejection(&self) -> Option<String> {
        let n = self.too_old + self.too_long + self.too_new;
        (n > 0).then(|| {
            let mut m = format!(
                "{n} entries rejected: {} older than the out-of-order window, {} lines too long",
                self.too_old, self.too_long
            );
            if self.too_new > 0 {
                m.push_str(&format!(
                    ", {} newer than the creation grace period",
                    self.too_new
                ));
            }
            m
        })
    }
}

/// What opening the store recovered and dropped.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    /// WAL files replayed.
    pub wal_files: usize,
    /// WAL records replayed.
    pub wal_records: u64,
    /// Entries replayed into the head.
    pub wal_entries: u64,
    /// Torn or corrupt WAL tails that were dropped (never acknowledged data).
    pub dropped: Vec<DroppedTail>,
    /// Files of interrupted flushes or compactions that were removed.
    pub removed_files: Vec<PathBuf>,
    /// Segment or index files that failed their checks, and why (segments are left out).
    pub bad_files: Vec<(PathBuf, String)>,
    /// Bucket objects no manifest named, deleted at open (with a bucket).
    pub removed_objects: Vec<String>,
}

impl Store {
    /// Applies retention now (the background thread also does, every few seconds).
    pub fn run_retention(&self, now: kelp_model::Timestamp) -> Result<RetentionReport> {
        if self.is_read_only() {
            return Err(self.read_only_error("retention"));
        }
        retention::apply(&self.inner, now)
    }

    /// Compacts partitions with many small segments now.
    pub fn compact(&self) -> Result<CompactionReport> {
        if self.is_read_only() {
            return Err(self.read_only_error("compaction"));
        }
        compaction::compact(&self.inner)
    }

    /// Bytes of segments and indexes on disk.
    pub fn disk_bytes(&self) -> u64 {
        self.inner.state().manifest.disk_bytes()
    }

    /// The bucket cache's figures (`None` without a bucket).
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.inner.remote.as_ref().map(|r| r.cache.stats())
    }

    /// Number of segments, over all partitions.
    pub fn segment_count(&self) -> usize {
        self.inner
            .state()
            .parts
            .values()
            .map(|p| p.segments.len())
            .sum()
    }
}
