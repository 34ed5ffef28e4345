//! The store's configuration, as the store uses it: typed values (durations, policies,
//! tenant ids). A configuration file states it as [`crate::StoreSettings`] (plain numbers
//! with units in their names, defaults in its `Default`), validated into a [`StoreConfig`];
//! [`StoreConfig::new`] gives the same defaults.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kelp_model::TenantId;
use serde::Deserialize;

use crate::fs::Fs;
use crate::settings::StoreSettings;

/// When an append is acknowledged relative to `fsync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Every group commit is fsynced before its appenders return.
    Always,
    /// The first appender of a group waits up to `max_delay` for others to join, then one
    /// fsync acknowledges them all. Appends still return only when durable.
    Batch {
        /// How long a group may wait for more appenders.
        max_delay: Duration,
    },
    /// Never fsync: an append returns once the OS has the bytes. A machine crash can lose
    /// acknowledged data; a process crash cannot.
    Never,
}

/// Per-tenant limits that keep label cardinality in check (also the `limits` section of
/// [`crate::StoreSettings`]: every field optional, unknown ones rejected).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Most streams a tenant may have in the head at once (Loki's `max_global_streams_per_user`).
    pub max_streams_per_tenant: usize,
    /// Most label pairs on one stream (Loki's `max_label_names_per_series`).
    pub max_label_names_per_series: usize,
    /// Longest label name in bytes.
    pub max_label_name_bytes: usize,
    /// Longest label value in bytes.
    pub max_label_value_bytes: usize,
    /// Longest line in bytes; longer entries are rejected (counted in the append result).
    pub max_line_bytes: usize,
    /// Entries stamped more than this many seconds ahead of the store's clock are rejected
    /// as too new (Loki's `creation_grace_period`), so a node whose clock stepped forward
    /// cannot push a stream's newest time into the future and make its later, correct
    /// entries "too old"; `None`: no check.
    pub creation_grace_secs: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_streams_per_tenant: 10_000,
            max_label_names_per_series: 15,
            max_label_name_bytes: 1024,
            max_label_value_bytes: 2048,
            max_line_bytes: 256 << 10,
            creation_grace_secs: None,
        }
    }
}

/// How long data is kept and how much disk it may use.
#[derive(Debug, Clone, Default)]
pub struct Retention {
    /// Default age after which a tenant's day partitions are deleted (`None`: forever).
    pub max_age: Option<Duration>,
    /// Per-tenant overrides of `max_age`.
    pub per_tenant: HashMap<TenantId, Duration>,
    /// Total bytes of segments and indexes on disk; over it, the oldest segments go.
    pub max_disk_bytes: Option<u64>,
}

/// Everything the store needs to open.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The store's root directory.
    pub dir: PathBuf,
    /// When appends are acknowledged.
    pub fsync: FsyncPolicy,
    /// Head bytes (lines and per-entry overhead) that start a flush to segments.
    pub flush_bytes: u64,
    /// The oldest unflushed data is flushed after this long.
    pub flush_age: Duration,
    /// The head's memory cap: over it, appends wait for a flush (backpressure).
    pub max_head_bytes: u64,
    /// Memory for the deduplication window: 16 bytes for each flushed entry remembered
    /// (for the out-of-order window) to recognize a retried push. Over it, the streams
    /// remembering the most forget their oldest entries, and late entries older than what a
    /// stream remembers are accepted unchecked (counted in `AppendOutcome::unchecked` and
    /// [`crate::Store::dedup_stats`]).
    pub max_dedup_bytes: u64,
    /// How long appends wait over `max_head_bytes` without any flush completing before they
    /// fail with `HeadFull` (flushes failing, or the disk not keeping up). Appends wait as
    /// long as flushes keep completing.
    pub append_wait: Duration,
    /// Target raw size of a block (one stream's lines); a stream's head is cut into a block
    /// when it reaches this.
    pub block_bytes: usize,
    /// zstd level of block frames.
    pub zstd_level: i32,
    /// Out-of-order window: entries older than a stream's newest entry minus this are
    /// rejected (Loki's unordered writes).
    pub unordered_window: Duration,
    /// Per-tenant limits.
    pub limits: Limits,
    /// Retention by age and size.
    pub retention: Retention,
    /// A partition with at least this many segments is compacted into one.
    pub compact_min_segments: usize,
    /// Whether scans use the block blooms (off only to measure them; they are always
    /// written).
    pub use_blooms: bool,
    /// Whether a background thread flushes by age and runs retention and compaction.
    pub background: bool,
    /// The filesystem (the real one unless a test injects faults).
    pub fs: Arc<dyn Fs>,
    /// The bucket closed segments live in (`None`: local disk only).
    pub bucket: Option<crate::BucketConfig>,
}

impl StoreConfig {
    /// Defaults for a store rooted at `dir` (those of [`StoreSettings::default`]).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        StoreSettings::default().build(dir.into(), HashMap::new())
    }
}
