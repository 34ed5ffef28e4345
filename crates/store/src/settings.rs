//! [`StoreSettings`]: the store's section of a configuration file, validated into a
//! [`StoreConfig`].

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kelp_model::TenantId;
use serde::Deserialize;

use crate::config::{FsyncPolicy, Limits, Retention, StoreConfig};
use crate::format::WAL_MAX_RECORD_BYTES;
use crate::fs::RealFs;
use crate::{Result, StoreError};

/// When appends are acknowledged, as written in a configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncMode {
    /// Every group commit is fsynced before its appenders return.
    Always,
    /// Group commit: appenders arriving within `fsync_batch_delay_ms` share one fsync.
    Batch,
    /// Never fsync (a machine crash can lose acknowledged data).
    Never,
}

/// The store's settings as a configuration file states them (the server embeds this in
/// its YAML): plain numbers with their unit in the name, every field optional, unknown
/// fields rejected. [`StoreSettings::validate`] checks them and turns them into the
/// [`StoreConfig`] the store opens with; the defaults are those of [`StoreConfig::new`].
///
/// ```
/// let s: kelp_store::StoreSettings =
///     serde_json::from_str(r#"{"max_head_bytes": 67108864, "fsync": "always"}"#).unwrap();
/// let cfg = s.validate("/var/lib/kelp").unwrap();
/// assert_eq!(cfg.max_head_bytes, 64 << 20);
/// assert!(serde_json::from_str::<kelp_store::StoreSettings>(r#"{"max_head": 1}"#).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// When appends are acknowledged: `always`, `batch` (group commit) or `never`.
    pub fsync: FsyncMode,
    /// With `fsync: batch`, how long the first appender of a group waits for others, in
    /// milliseconds (at most 1000).
    pub fsync_batch_delay_ms: u64,
    /// Head bytes (lines and per-entry overhead) that start a flush to segments.
    pub flush_bytes: u64,
    /// The oldest unflushed data is flushed after this many seconds.
    pub flush_age_secs: u64,
    /// The head's memory cap in bytes: over it, appends wait for a flush. At least
    /// `flush_bytes`.
    pub max_head_bytes: u64,
    /// Memory for the deduplication window, in bytes (16 per remembered entry); see
    /// [`StoreConfig::max_dedup_bytes`].
    pub max_dedup_bytes: u64,
    /// How long appends wait over the head cap without any flush completing before they
    /// fail, in seconds.
    pub append_wait_secs: u64,
    /// Target raw bytes of a block (one stream's lines), 4 KiB to 64 MiB.
    pub block_bytes: usize,
    /// zstd level of block frames, 1 to 19 (default 1: level 3 costs ≈ 8 % more ingest CPU
    /// for ≈ 1.5 % smaller files, bench/RESULTS.md).
    pub zstd_level: i32,
    /// Out-of-order window in seconds: entries older than their stream's newest entry
    /// minus this are rejected.
    pub unordered_window_secs: u64,
    /// Age in seconds after which a tenant's day partitions are deleted (unset: never).
    pub retention_max_age_secs: Option<u64>,
    /// Per-tenant overrides of `retention_max_age_secs`, by tenant id.
    pub retention_per_tenant_max_age_secs: BTreeMap<String, u64>,
    /// Total bytes of segments and indexes on disk; over it, the oldest segments are
    /// deleted (unset: no limit).
    pub max_disk_bytes: Option<u64>,
    /// A partition with at least this many segments of one size tier is compacted (2 or
    /// more).
    pub compact_min_segments: usize,
    /// Per-tenant limits on label cardinality and line length.
    pub limits: Limits,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            fsync: FsyncMode::Batch,
            fsync_batch_delay_ms: 2,
            flush_bytes: 48 << 20,
            flush_age_secs: 300,
            max_head_bytes: 96 << 20,
            max_dedup_bytes: 16 << 20,
            append_wait_secs: 10,
            block_bytes: 1 << 20,
            zstd_level: 1,
            unordered_window_secs: 3600,
            retention_max_age_secs: None,
            retention_per_tenant_max_age_secs: BTreeMap::new(),
            max_disk_bytes: None,
            compact_min_segments: 8,
            limits: Limits::default(),
        }
    }
}

impl StoreSettings {
    /// Checks the settings and returns the configuration of a store rooted at `dir` (with
    /// background work on and blooms used).
    pub fn validate(self, dir: impl Into<PathBuf>) -> Result<StoreConfig> {
        let per_tenant = self.check()?;
        Ok(self.build(dir.into(), per_tenant))
    }

    /// Checks every field; returns the per-tenant retention by parsed tenant id.
    fn check(&self) -> Result<HashMap<TenantId, Duration>> {
        let bad = |field: &'static str, reason: String| Err(StoreError::Config { field, reason });
        if self.fsync_batch_delay_ms > 1000 {
            return bad(
                "fsync_batch_delay_ms",
                format!("{} is over 1000", self.fsync_batch_delay_ms),
            );
        }
        if self.flush_bytes == 0 {
            return bad("flush_bytes", "must be over 0".into());
        }
        if self.max_head_bytes < self.flush_bytes {
            return bad(
                "max_head_bytes",
                format!(
                    "{} is under flush_bytes ({})",
                    self.max_head_bytes, self.flush_bytes
                ),
            );
        }
        if !(4 << 10..=64 << 20).contains(&self.block_bytes) {
            return bad(
                "block_bytes",
                format!("{} is not within 4 KiB..=64 MiB", self.block_bytes),
            );
        }
        if !(1..=19).contains(&self.zstd_level) {
            return bad(
                "zstd_level",
                format!("{} is not within 1..=19", self.zstd_level),
            );
        }
        if self.compact_min_segments < 2 {
            return bad(
                "compact_min_segments",
                format!("{} is under 2", self.compact_min_segments),
            );
        }
        let l = &self.limits;
        if l.max_line_bytes == 0 || l.max_line_bytes > WAL_MAX_RECORD_BYTES / 2 {
            return bad(
                "limits.max_line_bytes",
                format!(
                    "{} is not within 1..={}",
                    l.max_line_bytes,
                    WAL_MAX_RECORD_BYTES / 2
                ),
            );
        }
        for (field, v) in [
            ("limits.max_streams_per_tenant", l.max_streams_per_tenant),
            (
                "limits.max_label_names_per_series",
                l.max_label_names_per_series,
            ),
            ("limits.max_label_name_bytes", l.max_label_name_bytes),
            ("limits.max_label_value_bytes", l.max_label_value_bytes),
        ] {
            if v == 0 {
                return bad(field, "must be over 0".into());
            }
        }
        let mut per_tenant = HashMap::new();
        for (t, secs) in &self.retention_per_tenant_max_age_secs {
            let tenant = TenantId::parse(t).map_err(|e| StoreError::Config {
                field: "retention_per_tenant_max_age_secs",
                reason: format!("tenant {t:?}: {e}"),
            })?;
            per_tenant.insert(tenant, Duration::from_secs(*secs));
        }
        Ok(per_tenant)
    }

    /// The configuration these (checked) settings describe.
    pub(crate) fn build(
        self,
        dir: PathBuf,
        per_tenant: HashMap<TenantId, Duration>,
    ) -> StoreConfig {
        StoreConfig {
            dir,
            fsync: match self.fsync {
                FsyncMode::Always => FsyncPolicy::Always,
                FsyncMode::Batch => FsyncPolicy::Batch {
                    max_delay: Duration::from_millis(self.fsync_batch_delay_ms),
                },
                FsyncMode::Never => FsyncPolicy::Never,
            },
            flush_bytes: self.flush_bytes,
            flush_age: Duration::from_secs(self.flush_age_secs),
            max_head_bytes: self.max_head_bytes,
            max_dedup_bytes: self.max_dedup_bytes,
            append_wait: Duration::from_secs(self.append_wait_secs),
            block_bytes: self.block_bytes,
            zstd_level: self.zstd_level,
            unordered_window: Duration::from_secs(self.unordered_window_secs),
            limits: self.limits,
            retention: Retention {
                max_age: self.retention_max_age_secs.map(Duration::from_secs),
                per_tenant,
                max_disk_bytes: self.max_disk_bytes,
            },
            compact_min_segments: self.compact_min_segments,
            use_blooms: true,
            background: true,
            fs: Arc::new(RealFs),
            bucket: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> std::result::Result<StoreSettings, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn defaults_are_those_of_store_config_new() {
        let from_settings = StoreSettings::default().validate("/d").unwrap();
        assert_eq!(
            format!("{from_settings:?}"),
            format!("{:?}", StoreConfig::new("/d"))
        );
        assert_eq!(parse("{}").unwrap(), StoreSettings::default());
    }

    #[test]
    fn fields_parse_with_their_units_and_unknown_fields_fail() {
        let s = parse(
            r#"{"fsync": "never", "flush_age_secs": 60, "unordered_window_secs": 0,
                "retention_max_age_secs": 86400,
                "retention_per_tenant_max_age_secs": {"team-a": 3600},
                "limits": {"max_line_bytes": 1024}}"#,
        )
        .unwrap();
        let c = s.validate("/d").unwrap();
        assert_eq!(c.fsync, FsyncPolicy::Never);
        assert_eq!(c.flush_age, Duration::from_secs(60));
        assert_eq!(c.unordered_window, Duration::ZERO);
        assert_eq!(c.retention.max_age, Some(Duration::from_secs(86400)));
        let a = TenantId::parse("team-a").unwrap();
        assert_eq!(c.retention.per_tenant[&a], Duration::from_secs(3600));
        assert_eq!(c.limits.max_line_bytes, 1024);
        assert_eq!(
            c.limits.max_streams_per_tenant,
            Limits::default().max_streams_per_tenant
        );
        for bad in [
            r#"{"flush_age": 60}"#,
            r#"{"fsync": "sometimes"}"#,
            r#"{"limits": {"max_line": 1}}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_names_the_field() {
        let cases = [
            (r#"{"flush_bytes": 0}"#, "flush_bytes"),
            (
                r#"{"flush_bytes": 1000, "max_head_bytes": 999}"#,
                "max_head_bytes",
            ),
            (r#"{"block_bytes": 100}"#, "block_bytes"),
            (r#"{"zstd_level": 0}"#, "zstd_level"),
            (r#"{"compact_min_segments": 1}"#, "compact_min_segments"),
            (r#"{"fsync_batch_delay_ms": 5000}"#, "fsync_batch_delay_ms"),
            (
                r#"{"limits": {"max_line_bytes": 0}}"#,
                "limits.max_line_bytes",
            ),
            (
                r#"{"limits": {"max_streams_per_tenant": 0}}"#,
                "limits.max_streams_per_tenant",
            ),
            (
                r#"{"retention_per_tenant_max_age_secs": {"a/b": 1}}"#,
                "retention_per_tenant_max_age_secs",
            ),
        ];
        for (json, field) in cases {
            match parse(json).unwrap().validate("/d") {
                Err(StoreError::Config { field: f, .. }) => assert_eq!(f, field, "{json}"),
                other => panic!("{json}: {other:?}"),
            }
        }
    }
}
