//! The server's configuration: YAML with `deny_unknown_fields`, a default for every key,
//! environment overrides, then validation into the store's and the engine's configs.
//!
//! Environment overrides: `KELP_SERVER_<KEY>` sets a top-level key and
//! `KELP_SERVER_<SECTION>__<KEY>` a key of a section (names upper-cased, `__` between
//! levels), for example `KELP_SERVER_LISTEN=0.0.0.0:3100`,
//! `KELP_SERVER_AUTH_ENABLED=true`, `KELP_SERVER_LIMITS__MAX_LINE_BYTES=1048576`. Values
//! are read as YAML scalars; unknown names are rejected like unknown YAML keys.

use std::path::PathBuf;
use std::time::Duration;

use kelp_model::TenantId;
use kelp_store::{FsyncPolicy, StoreConfig};
use kelp_wire::bulk::BulkMapping;
use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

use crate::error::ConfigError;

/// The prefix of environment overrides.
pub const ENV_PREFIX: &str = "KELP_SERVER_";

/// Everything `kelp server` reads from its config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on (`127.0.0.1:3100`).
    pub listen: String,
    /// The store's directory (`./kelp-data`).
    pub data_dir: PathBuf,
    /// Whether `X-Scope-OrgID` is required (Loki's `auth_enabled`; default false: every
    /// request belongs to `no_auth_tenant`).
    pub auth_enabled: bool,
    /// The tenant of every request when auth is disabled (`fake`, as Loki).
    pub no_auth_tenant: String,
    /// Largest request body as sent, in bytes (64 MiB); larger is 413.
    pub max_body_bytes: usize,
    /// Largest request body after decompression, in bytes (256 MiB); larger is 413.
    pub max_decompressed_bytes: usize,
    /// Whether streams without `service_name` get one by Loki's discovery rules (§2.5).
    pub discover_service_name: bool,
    /// Default `tracing` filter when `RUST_LOG` is unset (`info`).
    pub log_level: String,
    /// How long shutdown waits for in-flight requests before closing anyway.
    pub shutdown_timeout_secs: u64,
    /// The storage engine.
    pub store: StoreSection,
    /// Per-tenant and per-query limits.
    pub limits: LimitsSection,
    /// The Elasticsearch-compatible endpoints.
    pub elasticsearch: EsSection,
    /// Bearer tokens (see `auth.rs`).
    pub auth: AuthSection,
    /// HTTPS (see `tls.rs`).
    pub tls: TlsSection,
    /// The resource-metrics series store (issue #7).
    pub resources: ResourcesSection,
    /// Where closed segments live: local disk (default) or a bucket (issue #11).
    pub storage: kelp_bucket::StorageSettings,
    /// The other replicas sharing this cluster's streams (issue #11, `peers.rs`).
    pub replicas: ReplicasSection,
}

/// Server replicas: reads on this one merge its peers' data (`docs/scaling.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicasSection {
    /// The replicas: base URLs separated by commas, or `dns+http://<headless
    /// service>:<port>` (every address is a replica); this one may be among them, see
    /// `self_url` (unset: no peers).
    pub peers: Option<String>,
    /// This replica's own URL as it appears in `peers` (e.g. `http://$(POD_IP):3100`), so
    /// it does not ask itself.
    pub self_url: Option<String>,
    /// A file holding the token replicas send each other (the same on every replica; needed
    /// when `auth.tokens_file` is set).
    pub peer_token_file: Option<PathBuf>,
    /// How long a peer may take to answer before it counts as missing (10 s).
    pub timeout_secs: u64,
    /// Most raw entries one replica contributes to a metric query merged across replicas
    /// (1,000,000); more is a 400 asking for a narrower query.
    pub max_merge_entries: usize,
}

impl Default for ReplicasSection {
    fn default() -> Self {
        Self {
            peers: None,
            self_url: None,
            peer_token_file: None,
            timeout_secs: 10,
            max_merge_entries: 1_000_000,
        }
    }
}

/// HTTPS with rustls; certificates are re-read when the files change and on SIGHUP.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    /// The server's certificate chain, PEM (unset: plain HTTP).
    pub cert_file: Option<PathBuf>,
    /// The certificate's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// A CA bundle, PEM: when set, clients must present a certificate it signed (mTLS).
    pub client_ca_file: Option<PathBuf>,
}

/// Bearer-token authentication (`docs/server.md`, "Tenants and tokens").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSection {
    /// The token file (YAML or JSON list of token, tenant, rights, namespaces); when set,
    /// every request but `/ready`, `/metrics` and buildinfo needs a bearer token, and
    /// `auth_enabled` is implied. Re-read when it changes and on SIGHUP.
    pub tokens_file: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:3100".into(),
            data_dir: PathBuf::from("./kelp-data"),
            auth_enabled: false,
            no_auth_tenant: "fake".into(),
            max_body_bytes: 64 << 20,
            max_decompressed_bytes: 256 << 20,
            discover_service_name: true,
            log_level: "info".into(),
            shutdown_timeout_secs: 30,
            store: StoreSection::default(),
            limits: LimitsSection::default(),
            elasticsearch: EsSection::default(),
            auth: AuthSection::default(),
            tls: TlsSection::default(),
            resources: ResourcesSection::default(),
            storage: kelp_bucket::StorageSettings::default(),
            replicas: ReplicasSection::default(),
        }
    }
}

/// The store's settings (see `kelp_store::StoreConfig` for their meaning).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSection {
    /// `always`, `batch` (group commit, the default) or `never`.
    pub fsync: String,
    /// With `fsync: batch`, how long a group waits for more appenders (2 ms).
    pub fsync_batch_delay_ms: u64,
    /// Head bytes that start a flush (48 MiB).
    pub flush_bytes: u64,
    /// Age of the oldest unflushed data that starts a flush (300 s).
    pub flush_age_secs: u64,
    /// The head's memory cap (96 MiB).
    pub max_head_bytes: u64,
    /// Raw bytes per block (1 MiB).
    pub block_bytes: usize,
    /// zstd level of blocks (3).
    pub zstd_level: i32,
    /// Out-of-order window (3600 s).
    pub unordered_window_secs: u64,
    /// Delete data older than this (unset: keep forever).
    pub retention_max_age_secs: Option<u64>,
    /// Total segment bytes on disk before the oldest go (unset: no limit).
    pub max_disk_bytes: Option<u64>,
    /// Segments per partition that trigger compaction (8).
    pub compact_min_segments: usize,
}

/// The defaults are the store's own (`kelp_store::StoreSettings::default()`), so they live
/// in one place.
impl Default for StoreSection {
    fn default() -> Self {
        let d = kelp_store::StoreSettings::default();
        Self {
            fsync: match d.fsync {
                kelp_store::FsyncMode::Always => "always",
                kelp_store::FsyncMode::Batch => "batch",
                kelp_store::FsyncMode::Never => "never",
            }
            .into(),
            fsync_batch_delay_ms: d.fsync_batch_delay_ms,
            flush_bytes: d.flush_bytes,
            flush_age_secs: d.flush_age_secs,
            max_head_bytes: d.max_head_bytes,
            block_bytes: d.block_bytes,
            zstd_level: d.zstd_level,
            unordered_window_secs: d.unordered_window_secs,
            retention_max_age_secs: d.retention_max_age_secs,
            max_disk_bytes: d.max_disk_bytes,
            compact_min_segments: d.compact_min_segments,
        }
    }
}

/// Limits, each answered with a clear error (spec §2.6, §3.2).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// Streams per tenant in the head (10 000).
    pub max_streams_per_tenant: usize,
    /// Labels per stream (15).
    pub max_label_names_per_series: usize,
    /// Longest label name (1024 bytes).
    pub max_label_name_bytes: usize,
    /// Longest label value (2048 bytes).
    pub max_label_value_bytes: usize,
    /// Longest line (256 KiB); longer entries are rejected.
    pub max_line_bytes: usize,
    /// Entries stamped more than this far ahead of the server's clock are rejected as too
    /// new (600 s, Loki's `creation_grace_period`; 0: no check). A node whose clock
    /// stepped forward would otherwise make its stream's later entries too old.
    pub creation_grace_period_secs: u64,
    /// Sustained ingestion rate per tenant in line bytes per second (0: unlimited).
    pub ingestion_rate_bytes_per_sec: u64,
    /// Burst allowed above the rate (default: one second of rate, at least 6 MiB).
    pub ingestion_burst_bytes: u64,
    /// Most entries a log query may ask for (5000).
    pub max_entries_per_query: usize,
    /// Most series a metric query may hold (500).
    pub max_query_series: usize,
    /// Longest query range (721 h; 0: unlimited).
    pub max_query_range_secs: u64,
    /// Largest compiled regex (1 MiB).
    pub max_regex_bytes: usize,
    /// Query requests outstanding at once (waiting for a running slot or evaluating);
    /// more are answered 429 `too many outstanding requests` (16).
    pub max_concurrent_queries: usize,
    /// Query evaluations running at once; more wait their turn within their timeout
    /// (0: as many as `query_threads`).
    pub max_running_queries: usize,
    /// Threads of the query pool, which evaluates LogQL and reads for the metadata routes
    /// (0: one per core).
    pub query_threads: usize,
    /// Nice value of the query pool's threads, 0 to 19 (19: the lowest priority, the
    /// default): ingest runs first when both want the CPU. 0 keeps the server's priority.
    pub query_nice: i32,
    /// While pushes arrive, the share of its time each query thread may compute; it
    /// sleeps the rest (0.1; 1: no pacing). Keeps ingest's pace when the server's CPU is
    /// contended (a CPU limit, other processes).
    pub query_share_while_ingesting: f64,
    /// CPU time (ms) each query task (an evaluation or a metadata read) computes at full
    /// speed before that share applies (250: ordinary queries are not slowed; a query of
    /// death is paced after a quarter second of CPU).
    pub query_burst_ms: u64,
    /// Query timeout (300 s); over it, 504 (0: every query times out, for tests).
    pub query_timeout_secs: u64,
    /// Entries buffered per tail client before entries are dropped (1024).
    pub tail_buffer_entries: usize,
    /// Push requests (every ingest protocol) handled at once, bodies included; more are
    /// answered 503 with `Retry-After` so shippers back off instead of the server
    /// queueing without bound (64).
    pub max_inflight_push_requests: usize,
}

impl Default for LimitsSection {
    fn default() -> Self {
        let store = kelp_store::Limits::default();
        let query = kelp_query::Limits::default();
        Self {
            max_streams_per_tenant: store.max_streams_per_tenant,
            max_label_names_per_series: store.max_label_names_per_series,
            max_label_name_bytes: store.max_label_name_bytes,
            max_label_value_bytes: store.max_label_value_bytes,
            max_line_bytes: store.max_line_bytes,
            creation_grace_period_secs: 600,
            ingestion_rate_bytes_per_sec: 0,
            ingestion_burst_bytes: 0,
            max_entries_per_query: query.max_entries_per_query,
            max_query_series: query.max_series,
            max_query_range_secs: query.max_query_range.map_or(0, |d| d.as_secs()),
            max_regex_bytes: query.max_regex_bytes,
            max_concurrent_queries: 16,
            max_running_queries: 0,
            query_threads: 0,
            query_nice: 19,
            query_share_while_ingesting: 0.1,
            query_burst_ms: 250,
            query_timeout_secs: query.query_timeout.as_secs(),
            tail_buffer_entries: 1024,
            max_inflight_push_requests: 64,
        }
    }
}

/// The resource-metrics series store, in `<data_dir>/resources` (`docs/metrics.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourcesSection {
    /// Samples older than this are deleted (7 days).
    pub retention_secs: u64,
    /// Open chunks are flushed and the series WAL restarted this often (1 hour).
    pub cut_interval_secs: u64,
    /// A series' open chunk is flushed at this many samples (240).
    pub max_chunk_samples: u32,
    /// At most this many series; new ones past it are refused (200,000).
    pub max_series: usize,
}

impl Default for ResourcesSection {
    fn default() -> Self {
        let d = kelp_series::SeriesConfig::new("");
        Self {
            retention_secs: d.retention.as_secs(),
            cut_interval_secs: d.cut_interval.as_secs(),
            max_chunk_samples: d.max_chunk_samples,
            max_series: d.max_series,
        }
    }
}

impl ServerConfig {
    /// The series store's config.
    pub fn series_config(&self) -> Result<kelp_series::SeriesConfig, ConfigError> {
        let r = &self.resources;
        let invalid = |key: &'static str| ConfigError::Invalid {
            key,
            reason: "must be > 0".into(),
        };
        if r.retention_secs == 0 {
            return Err(invalid("resources.retention_secs"));
        }
        if r.cut_interval_secs == 0 {
            return Err(invalid("resources.cut_interval_secs"));
        }
        if r.max_chunk_samples == 0 {
            return Err(invalid("resources.max_chunk_samples"));
        }
        if r.max_series == 0 {
            return Err(invalid("resources.max_series"));
        }
        let mut c = kelp_series::SeriesConfig::new(self.data_dir.join("resources"));
        c.retention = Duration::from_secs(r.retention_secs);
        c.cut_interval = Duration::from_secs(r.cut_interval_secs);
        c.max_chunk_samples = r.max_chunk_samples;
        c.max_series = r.max_series;
        Ok(c)
    }
}

/// The Elasticsearch-compatible endpoints (spec §10).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EsSection {
    /// `version.number` reported by `GET /` (`8.17.0`).
    pub version: String,
    /// `cluster_name` reported by `GET /` and `_cluster/health` (`kelp`).
    pub cluster_name: String,
    /// How documents become entries (see `docs/wire.md`).
    pub mapping: BulkMapping,
}

impl Default for EsSection {
    fn default() -> Self {
        let info = kelp_wire::bulk::EsInfo::default();
        Self {
            version: info.version,
            cluster_name: info.cluster_name,
            mapping: BulkMapping::default(),
        }
    }
}

impl ServerConfig {
    /// Parses YAML text (empty text gives the defaults), then applies `env` overrides
    /// (name, value pairs; pass `std::env::vars()`).
    pub fn from_yaml(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut root: Value = serde_yaml_ng::from_str(text).map_err(ConfigError::yaml)?;
        if root.is_null() {
            root = Value::Mapping(Mapping::new());
        }
        for (name, value) in env {
            let Some(path) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let value: Value = serde_yaml_ng::from_str(&value).unwrap_or(Value::String(value));
            set_path(&mut root, &path.to_ascii_lowercase(), value)
                .map_err(|reason| ConfigError::Env { name, reason })?;
        }
        let cfg: Self = serde_yaml_ng::from_value(root).map_err(ConfigError::yaml)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks values that parse but cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &'static str, reason: String| ConfigError::Invalid { key, reason };
        self.listen
            .parse::<std::net::SocketAddr>()
            .map_err(|e| invalid("listen", e.to_string()))?;
        TenantId::parse(&self.no_auth_tenant)
            .map_err(|e| invalid("no_auth_tenant", e.to_string()))?;
        self.fsync_policy()?;
        self.series_config()?;
        if self.max_body_bytes == 0 || self.max_decompressed_bytes == 0 {
            return Err(invalid("max_body_bytes", "must be > 0".into()));
        }
        if self.limits.max_concurrent_queries == 0 {
            return Err(invalid(
                "limits.max_concurrent_queries",
                "must be > 0".into(),
            ));
        }
        if !(0..=19).contains(&self.limits.query_nice) {
            return Err(invalid(
                "limits.query_nice",
                format!(
                    "{} is not a nice value from 0 to 19",
                    self.limits.query_nice
                ),
            ));
        }
        let share = self.limits.query_share_while_ingesting;
        if !(share > 0.0 && share <= 1.0) {
            return Err(invalid(
                "limits.query_share_while_ingesting",
                format!("{share} is not a share above 0 and at most 1"),
            ));
        }
        let t = &self.tls;
        if t.cert_file.is_some() != t.key_file.is_some() {
            return Err(invalid("tls", "cert_file and key_file go together".into()));
        }
        if t.client_ca_file.is_some() && t.cert_file.is_none() {
            return Err(invalid(
                "tls.client_ca_file",
                "mutual TLS needs cert_file and key_file".into(),
            ));
        }
        if self.limits.max_inflight_push_requests == 0 {
            return Err(invalid(
                "limits.max_inflight_push_requests",
                "must be > 0".into(),
            ));
        }
        self.storage
            .validate()
            .map_err(|e| invalid("storage", e.to_string()))?;
        if let Some(p) = self.replicas.peers.as_deref() {
            kelp_client::ReplicaSource::parse(p)
                .map_err(|e| invalid("replicas.peers", e.to_string()))?;
        }
        if self.limits.tail_buffer_entries == 0 {
            return Err(invalid("limits.tail_buffer_entries", "must be > 0".into()));
        }
        Ok(())
    }

    /// The tenant of unauthenticated requests.
    pub fn no_auth_tenant(&self) -> TenantId {
        // Checked by `validate`; "fake" is a valid id.
        TenantId::parse(&self.no_auth_tenant)
            .unwrap_or_else(|_| TenantId::parse("fake").expect("a valid tenant id"))
    }

    fn fsync_policy(&self) -> Result<FsyncPolicy, ConfigError> {
        Ok(match self.store.fsync.as_str() {
            "always" => FsyncPolicy::Always,
            "never" => FsyncPolicy::Never,
            "batch" => FsyncPolicy::Batch {
                max_delay: Duration::from_millis(self.store.fsync_batch_delay_ms),
            },
            other => {
                return Err(ConfigError::Invalid {
                    key: "store.fsync",
                    reason: format!("{other:?} is not one of always, batch, never"),
                })
            }
        })
    }

    /// The bucket the store keeps closed segments in (`None`: local disk), built from
    /// `storage` (its client made, the local bucket directory created; no request sent).
    pub fn store_bucket(&self) -> Result<Option<kelp_store::BucketConfig>, ConfigError> {
        // A StatefulSet's pods are named by their host name: kelp-0, kelp-1, ...
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "kelp".to_owned());
        self.storage
            .store_bucket(&self.data_dir, &host)
            .map_err(|e| ConfigError::Invalid {
                key: "storage",
                reason: e.to_string(),
            })
    }

    /// The store's configuration, composed from `data_dir`, `store` and `limits` (without
    /// the bucket: [`ServerConfig::store_bucket`]).
    pub fn store_config(&self) -> Result<StoreConfig, ConfigError> {
        let s = &self.store;
        let l = &self.limits;
        let mut c = StoreConfig::new(&self.data_dir);
        c.fsync = self.fsync_policy()?;
        c.flush_bytes = s.flush_bytes;
        c.flush_age = Duration::from_secs(s.flush_age_secs);
        c.max_head_bytes = s.max_head_bytes;
        c.block_bytes = s.block_bytes;
        c.zstd_level = s.zstd_level;
        c.unordered_window = Duration::from_secs(s.unordered_window_secs);
        c.retention.max_age = s.retention_max_age_secs.map(Duration::from_secs);
        c.retention.max_disk_bytes = s.max_disk_bytes;
        c.compact_min_segments = s.compact_min_segments;

        c.limits = kelp_store::Limits {
            max_streams_per_tenant: l.max_streams_per_tenant,
            max_label_names_per_series: l.max_label_names_per_series,
            max_label_name_bytes: l.max_label_name_bytes,
            max_label_value_bytes: l.max_label_value_bytes,
            max_line_bytes: l.max_line_bytes,
            creation_grace_secs: (l.creation_grace_period_secs > 0)
                .then_some(l.creation_grace_period_secs),
        };
        Ok(c)
    }

    /// The query engine's limits.
    pub fn query_limits(&self) -> kelp_query::Limits {
        let l = &self.limits;
        kelp_query::Limits {
            max_entries_per_query: l.max_entries_per_query,
            max_series: l.max_query_series,
            query_timeout: Duration::from_secs(l.query_timeout_secs),
            max_query_range: (l.max_query_range_secs > 0)
                .then(|| Duration::from_secs(l.max_query_range_secs)),
            max_regex_bytes: l.max_regex_bytes,
            ..kelp_query::Limits::default()
        }
    }
}

/// Sets `path` (`a__b`) in a YAML mapping, creating sections as needed.
fn set_path(root: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let mut node = root;
    let mut parts = path.split("__").peekable();
    while let Some(part) = parts.next() {
        let Value::Mapping(map) = node else {
            return Err(format!("{part:?} is inside a value that is not a section"));
        };
        let key = Value::String(part.to_owned());
        if parts.peek().is_none() {
            map.insert(key, value);
            return Ok(());
        }
        node = map
            .entry(key)
            .or_insert_with(|| Value::Mapping(Mapping::new()));
    }
    Err("empty name".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn defaults_and_overrides() {
        let c = ServerConfig::from_yaml("", env(&[])).unwrap();
        assert_eq!(c.listen, "127.0.0.1:3100");
        assert_eq!(c.no_auth_tenant, "fake");
        let c = ServerConfig::from_yaml(
            "listen: 0.0.0.0:9000\nlimits:\n  max_line_bytes: 10\n",
            env(&[
                ("KELP_SERVER_AUTH_ENABLED", "true"),
                ("KELP_SERVER_LIMITS__MAX_ENTRIES_PER_QUERY", "7"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert!(c.auth_enabled);
        assert_eq!(c.limits.max_line_bytes, 10);
        assert_eq!(c.limits.max_entries_per_query, 7);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        for (yaml, vars) in [
            ("lisen: x", vec![]),
            ("limits: {nope: 1}", vec![]),
            ("", env(&[("KELP_SERVER_NOPE", "1")])),
            ("store: {fsync: sometimes}", vec![]),
            ("listen: nowhere", vec![]),
            ("no_auth_tenant: 'a b'", vec![]),
            ("tls: {cert_file: a.pem}", vec![]),
            ("limits: {query_nice: 20}", vec![]),
            ("limits: {query_nice: -5}", vec![]),
            ("limits: {query_share_while_ingesting: 0}", vec![]),
            ("limits: {query_share_while_ingesting: 1.5}", vec![]),
            ("tls: {client_ca_file: ca.pem}", vec![]),
            ("storage: {backend: ftp}", vec![]),
            ("storage: {bukket: x}", vec![]),
        ] {
            assert!(ServerConfig::from_yaml(yaml, vars).is_err(), "{yaml}");
        }
    }

    #[test]
    fn the_storage_section_builds_the_stores_bucket() {
        let dir = tempfile::tempdir().unwrap();
        let bucket = dir.path().join("bucket");
        let yaml = format!(
            "data_dir: {}\nstorage:\n  backend: local\n  prefix: kelp\n  cache_size: 64Mi\n",
            dir.path().display()
        );
        let c = ServerConfig::from_yaml(
            &yaml,
            env(&[
                ("KELP_SERVER_STORAGE__BUCKET", bucket.to_str().unwrap()),
                ("KELP_SERVER_STORAGE__REPLICA", "kelp-1"),
            ]),
        )
        .unwrap();
        assert!(c.store_config().unwrap().bucket.is_none());
        let b = c.store_bucket().unwrap().expect("a bucket");
        assert_eq!(b.replica, "kelp-1");
        assert_eq!(b.cache_bytes, 64 << 20);
        assert_eq!(b.cache_dir, dir.path().join("cache"));
        assert_eq!(
            b.bucket.describe(),
            format!("file://{}/kelp", bucket.display())
        );
        // The default stays local disk.
        let c = ServerConfig::from_yaml("", env(&[])).unwrap();
        assert!(c.store_bucket().unwrap().is_none());
        let e = ServerConfig::from_yaml("storage: {backend: s3}", env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("storage.bucket: required"), "{e}");
    }
}
