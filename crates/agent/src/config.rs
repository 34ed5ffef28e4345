//! `kelp agent`'s configuration file: YAML with `deny_unknown_fields`, one section per
//! part of the agent, a default for every key (the defaults of [`AgentConfig::new`]),
//! environment overrides, then [`AgentFileConfig::into_agent_config`] validates it into
//! the [`AgentConfig`] the agent runs with. The binary's flags override both.
//!
//! Environment overrides, as `kelp server` has them: `KELP_AGENT_<KEY>` sets a top-level
//! key and `KELP_AGENT_<SECTION>__<KEY>` a key of a section (upper-case, `__` between
//! levels), for example `KELP_AGENT_SERVER=http://kelp:3100`,
//! `KELP_AGENT_BATCH__MAX_IN_FLIGHT=4`, `KELP_AGENT_SINK__KIND=loki`. Values are read as
//! YAML scalars. A variable naming no key is ignored with a warning (unlike an unknown
//! key in the file): the `KELP_AGENT_` prefix is also used by the test suite's own knobs.
//!
//! A new part of the agent adds its section here: a struct with `#[serde(default)]`, a
//! field of [`AgentFileConfig`], and its lines in `into_agent_config`.

use std::path::PathBuf;
use std::time::Duration;

use kelp_client::RetryPolicy;
use serde::{Deserialize, Serialize};
use serde_yaml_ng::{Mapping, Value};

use crate::sink::{SinkConfig, SinkKind};
use crate::{AgentConfig, AgentError};

/// The prefix of environment overrides.
pub const ENV_PREFIX: &str = "KELP_AGENT_";
/// Where `/metrics` and `/ready` are served unless configured.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:3101";

/// Everything the config file may hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentFileConfig {
    /// The kubelet's pod log directory (`/var/log/pods`).
    pub pods_dir: PathBuf,
    /// Where checkpoints are kept (`/var/lib/kelp-agent`).
    pub state_dir: PathBuf,
    /// The server's base URL (`http://127.0.0.1:3100`), for the `kelp`, `loki` and
    /// `elasticsearch` sinks; for server replicas, URLs separated by commas or
    /// `dns+http://<headless service>:<port>` (`kelp` and `loki` sinks).
    pub server: String,
    /// The `node` label (default: `$NODE_NAME`, then the host name).
    pub node_name: Option<String>,
    /// Address of `/metrics` and `/ready` (`0.0.0.0:3101`; `none` turns them off).
    pub listen: String,
    /// Default `tracing` filter when `RUST_LOG` is unset (`info`).
    pub log_level: String,
    /// Finding and reading files.
    pub source: SourceSection,
    /// Cutting batches and sending them.
    pub batch: BatchSection,
    /// Retries of failed requests.
    pub retry: RetrySection,
    /// Where batches go.
    pub sink: SinkSection,
    /// Multi-line joining rules ([`crate::MultilineConfig`]; none by default), kept as YAML
    /// until [`AgentFileConfig::into_agent_config`] reads them.
    pub multiline: Value,
    /// Include/exclude, drop and redaction rules ([`crate::PolicyConfig`]; none by
    /// default), kept as YAML likewise.
    pub policy: Value,
    /// Pod labels and owners from the Kubernetes API (off by default).
    pub kubernetes: KubernetesSection,
    /// Resource metrics (issue #7): [`crate::resources::ResourcesSection`].
    pub resources: crate::resources::ResourcesSection,
    /// The node's systemd journal: [`crate::journal::JournalSection`] (off by default).
    pub journal: crate::journal::JournalSection,
    /// The control plane's log files under the node's `/var/log` (off by default).
    pub control_plane: ControlPlaneSection,
}

/// The control plane's log files where it runs outside static pods (`kube-apiserver.log`,
/// `kube-scheduler.log`, `kube-controller-manager.log`, `etcd.log` under `/var/log`),
/// followed like `--node-logs` files with `job="control-plane"`; `kelp agent
/// --control-plane-logs` turns this on with the default patterns.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ControlPlaneSection {
    /// Whether the files are read (false; the manifests in `deploy/` turn it on).
    pub enabled: bool,
    /// Absolute file patterns, wildcards in the file name only
    /// ([`crate::CONTROL_PLANE_GLOBS`]: `/var/log/kube-*.log`, `/var/log/etcd.log`).
    pub files: Vec<String>,
}

impl Default for ControlPlaneSection {
    fn default() -> Self {
        Self {
            enabled: false,
            files: crate::CONTROL_PLANE_GLOBS.map(String::from).to_vec(),
        }
    }
}

impl ControlPlaneSection {
    /// The file sources, when enabled; a bad pattern is an error naming it.
    pub fn into_sources(self) -> Result<Vec<crate::FileSource>, AgentError> {
        if !self.enabled {
            return Ok(Vec::new());
        }
        if self.files.is_empty() {
            return Err(AgentError::Config(
                "control_plane.enabled with no control_plane.files".into(),
            ));
        }
        self.files
            .iter()
            .map(|f| crate::FileSource::new(f, &[], "control-plane"))
            .collect()
    }
}

/// Finding and reading files.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SourceSection {
    /// How often the pods directory is listed (500).
    pub scan_interval_ms: u64,
    /// How long the reader sleeps when no file had anything new (10).
    pub poll_interval_ms: u64,
    /// How long a rotated-away file is kept open after its last byte (250).
    pub rotate_wait_ms: u64,
    /// How long a finished container's last file must be quiet before it is let go (2000).
    pub finish_wait_ms: u64,
}

/// Cutting batches and sending them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchSection {
    /// A batch is sent once its lines reach this many bytes (1 MiB) …
    pub max_bytes: usize,
    /// … or once its oldest line waited this long (200).
    pub max_wait_ms: u64,
    /// Batches waiting between the reader and the senders (4).
    pub queue_batches: usize,
    /// Batches sent at the same time (2).
    pub max_in_flight: usize,
}

/// Retries of failed requests: exponential backoff with jitter, `Retry-After` honoured.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySection {
    /// First backoff (100).
    pub min_backoff_ms: u64,
    /// Longest backoff, and longest `Retry-After` honoured (10000).
    pub max_backoff_ms: u64,
    /// Attempts before a batch is given up and the agent stops (unset: forever).
    pub max_attempts: Option<u32>,
    /// Timeout of one request (30000).
    pub timeout_ms: u64,
}

/// Pod labels and owners from the Kubernetes API ([`crate::kube`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesSection {
    /// Whether the node's pods are listed and watched (false).
    pub enabled: bool,
    /// The API server's URL (unset: in-cluster, from `KUBERNETES_SERVICE_HOST`).
    pub api_server: Option<String>,
    /// Bearer token file (unset: the service account's, in-cluster; none otherwise).
    pub token_file: Option<PathBuf>,
    /// The API server's CA bundle (unset: the service account's, in-cluster).
    pub ca_file: Option<PathBuf>,
    /// Pod labels whose values become stream labels (`app`, `app.kubernetes.io/name`,
    /// `app.kubernetes.io/instance`, `app.kubernetes.io/component`, `k8s-app`).
    pub pod_labels: Vec<String>,
    /// How long a deleted pod's metadata is kept for its last lines (600).
    pub keep_deleted_secs: u64,
    /// Whether each container termination the pod watch shows becomes an entry of
    /// `{source="kubernetes-termination"}` (true).
    pub terminations: bool,
    /// The cluster's Events, stored by one agent elected through a Lease.
    pub events: EventsSection,
}

/// The cluster's Events ([`crate::kube::events`]) and the Lease electing the one agent
/// that stores them ([`crate::kube::lease`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsSection {
    /// Whether this agent takes part in the election (true; needs `kubernetes.enabled`).
    pub enabled: bool,
    /// The Lease's name (`kelp-events`).
    pub lease_name: String,
    /// The Lease's namespace (unset: the service account's namespace, in-cluster;
    /// else `$POD_NAMESPACE`, else `default`).
    pub lease_namespace: Option<String>,
    /// This agent's `holderIdentity` (unset: `<node>_<process id>`).
    pub identity: Option<String>,
    /// How long a Lease not renewed stays another agent's (15).
    pub lease_duration_secs: u64,
    /// How long the leader tries to renew before it stops leading (10).
    pub renew_deadline_secs: u64,
    /// How often agents try to take or renew the Lease (2).
    pub retry_period_secs: u64,
}

impl Default for EventsSection {
    fn default() -> Self {
        Self {
            enabled: true,
            lease_name: "kelp-events".into(),
            lease_namespace: None,
            identity: None,
            lease_duration_secs: 15,
            renew_deadline_secs: 10,
            retry_period_secs: 2,
        }
    }
}

impl EventsSection {
    fn into_config(self, node: &str) -> Result<Option<crate::kube::LeaseConfig>, AgentError> {
        if !self.enabled {
            return Ok(None);
        }
        if self.lease_name.is_empty() {
            return Err(AgentError::Config(
                "kubernetes.events.lease_name must not be empty".into(),
            ));
        }
        // client-go's rules: the leader stops before the Lease expires, and tries to
        // renew more than once before it stops.
        if !(self.retry_period_secs >= 1
            && self.retry_period_secs * 2 <= self.renew_deadline_secs
            && self.renew_deadline_secs < self.lease_duration_secs)
        {
            return Err(AgentError::Config(
                "kubernetes.events: need 1 <= 2 × retry_period_secs <= renew_deadline_secs < lease_duration_secs".into(),
            ));
        }
        let namespace = self.lease_namespace.unwrap_or_else(|| {
            let file = std::path::Path::new(crate::kube::SERVICE_ACCOUNT_DIR).join("namespace");
            std::fs::read_to_string(file)
                .map(|s| s.trim().to_owned())
                .ok()
                .filter(|s| !s.is_empty())
                .or_else(|| std::env::var("POD_NAMESPACE").ok())
                .unwrap_or_else(|| "default".into())
        });
        let identity = self
            .identity
            .unwrap_or_else(|| format!("{node}_{}", std::process::id()));
        let mut l = crate::kube::LeaseConfig::new(namespace, self.lease_name, identity);
        l.lease_duration = Duration::from_secs(self.lease_duration_secs);
        l.renew_deadline = Duration::from_secs(self.renew_deadline_secs);
        l.retry_period = Duration::from_secs(self.retry_period_secs);
        Ok(Some(l))
    }
}

impl Default for KubernetesSection {
    fn default() -> Self {
        Self {
            enabled: false,
            api_server: None,
            token_file: None,
            ca_file: None,
            pod_labels: [
                "app",
                "app.kubernetes.io/name",
                "app.kubernetes.io/instance",
                "app.kubernetes.io/component",
                "k8s-app",
            ]
            .map(String::from)
            .to_vec(),
            keep_deleted_secs: 600,
            terminations: true,
            events: EventsSection::default(),
        }
    }
}

impl KubernetesSection {
    /// The watch's settings for `node`, when enabled.
    fn into_config(self, node: &str) -> Result<Option<crate::kube::KubeConfig>, AgentError> {
        if !self.enabled {
            return Ok(None);
        }
        let mut k = crate::kube::KubeConfig::in_cluster(node.to_owned());
        if let Some(url) = self.api_server {
            k.api_server = url.trim_end_matches('/').to_owned();
            k.token_file = None;
            k.ca_file = None;
        }
        k.token_file = self.token_file.or(k.token_file);
        k.ca_file = self.ca_file.or(k.ca_file);
        k.pod_labels = self.pod_labels;
        k.keep_deleted = Duration::from_secs(self.keep_deleted_secs);
        k.terminations = self.terminations;
        k.events = self.events.into_config(node)?;
        Ok(Some(k))
    }
}

/// Where batches go.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SinkSection {
    /// `kelp` (default), `loki`, `elasticsearch`, `file`, `stdout` or `null`.
    pub kind: String,
    /// `X-Scope-OrgID` sent with every request (unset: none).
    pub tenant: Option<String>,
    /// zstd level of the `kelp` sink (1).
    pub zstd_level: i32,
    /// Index of the `elasticsearch` sink (`kelp`).
    pub es_index: String,
    /// File of the `file` sink.
    pub path: Option<PathBuf>,
    /// File holding the bearer token for the server (a mounted Secret; unset: none).
    pub token_file: Option<PathBuf>,
    /// PEM CA of an `https://` server (unset: the Mozilla roots).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for a server that requires mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// PEM key of the client certificate.
    pub key_file: Option<PathBuf>,
}

fn defaults() -> AgentConfig {
    AgentConfig::new(
        "/var/log/pods".into(),
        "/var/lib/kelp-agent".into(),
        "http://127.0.0.1:3100".into(),
        String::new(),
    )
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

impl Default for AgentFileConfig {
    fn default() -> Self {
        let d = defaults();
        Self {
            pods_dir: d.pods_dir,
            state_dir: d.state_dir,
            server: d.server,
            node_name: None,
            listen: DEFAULT_LISTEN.into(),
            log_level: "info".into(),
            source: SourceSection::default(),
            batch: BatchSection::default(),
            retry: RetrySection::default(),
            sink: SinkSection::default(),
            multiline: Value::Null,
            policy: Value::Null,
            kubernetes: KubernetesSection::default(),
            resources: Default::default(),
            journal: Default::default(),
            control_plane: Default::default(),
        }
    }
}

impl Default for SourceSection {
    fn default() -> Self {
        let d = defaults();
        Self {
            scan_interval_ms: ms(d.scan_interval),
            poll_interval_ms: ms(d.poll_interval),
            rotate_wait_ms: ms(d.rotate_wait),
            finish_wait_ms: ms(d.finish_wait),
        }
    }
}

impl Default for BatchSection {
    fn default() -> Self {
        let d = defaults();
        Self {
            max_bytes: d.batch_bytes,
            max_wait_ms: ms(d.batch_wait),
            queue_batches: d.queue_batches,
            max_in_flight: d.max_in_flight,
        }
    }
}

impl Default for RetrySection {
    fn default() -> Self {
        let d = RetryPolicy::default();
        Self {
            min_backoff_ms: ms(d.min_backoff),
            max_backoff_ms: ms(d.max_backoff),
            max_attempts: d.max_attempts,
            timeout_ms: ms(d.timeout),
        }
    }
}

impl Default for SinkSection {
    fn default() -> Self {
        let d = SinkConfig::default();
        Self {
            kind: d.kind.as_str().into(),
            tenant: d.tenant,
            zstd_level: d.zstd_level,
            es_index: d.es_index,
            path: d.path,
            token_file: d.token_file,
            ca_file: d.tls.ca_file,
            cert_file: d.tls.cert_file,
            key_file: d.tls.key_file,
        }
    }
}

impl AgentFileConfig {
    /// Parses YAML text (empty text gives the defaults), then applies `env` overrides
    /// (name, value pairs; pass `std::env::vars()`).
    pub fn from_yaml(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, AgentError> {
        let bad = |e: serde_yaml_ng::Error| AgentError::Config(e.to_string());
        let mut root: Value = serde_yaml_ng::from_str(text).map_err(bad)?;
        if root.is_null() {
            root = Value::Mapping(Mapping::new());
        }
        // The keys that exist, from the defaults written out.
        let known = serde_yaml_ng::to_value(Self::default()).map_err(bad)?;
        for (name, value) in env {
            let Some(path) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let path = path.to_ascii_lowercase();
            if !has_path(&known, &path) {
                tracing::warn!(%name, "environment variable names no config key; ignored");
                continue;
            }
            let value: Value = serde_yaml_ng::from_str(&value).unwrap_or(Value::String(value));
            let named = |reason: String| AgentError::Config(format!("{name}: {reason}"));
            // Checked alone on the defaults, so that an error names the variable.
            let mut alone = known.clone();
            set_path(&mut alone, &path, value.clone()).map_err(named)?;
            serde_yaml_ng::from_value::<Self>(alone).map_err(|e| named(e.to_string()))?;
            set_path(&mut root, &path, value).map_err(named)?;
        }
        serde_yaml_ng::from_value(root).map_err(bad)
    }

    /// The agent's configuration; `node` is the node name to use when the file names none.
    pub fn into_agent_config(self, node: String) -> Result<AgentConfig, AgentError> {
        let mut c = AgentConfig::new(
            self.pods_dir,
            self.state_dir,
            self.server,
            self.node_name.unwrap_or(node),
        );
        c.kubernetes = self.kubernetes.into_config(&c.node)?;
        c.journal = self.journal.into_config();
        c.files = self.control_plane.into_sources()?;
        let d = Duration::from_millis;
        c.scan_interval = d(self.source.scan_interval_ms);
        c.poll_interval = d(self.source.poll_interval_ms);
        c.rotate_wait = d(self.source.rotate_wait_ms);
        c.finish_wait = d(self.source.finish_wait_ms);
        c.batch_bytes = self.batch.max_bytes;
        c.batch_wait = d(self.batch.max_wait_ms);
        c.queue_batches = self.batch.queue_batches;
        c.max_in_flight = self.batch.max_in_flight;
        c.retry = RetryPolicy {
            min_backoff: d(self.retry.min_backoff_ms),
            max_backoff: d(self.retry.max_backoff_ms),
            max_attempts: self.retry.max_attempts,
            timeout: d(self.retry.timeout_ms),
        };
        c.sink = SinkConfig {
            kind: SinkKind::parse(&self.sink.kind)?,
            tenant: self.sink.tenant,
            zstd_level: self.sink.zstd_level,
            es_index: self.sink.es_index,
            path: self.sink.path,
            token_file: self.sink.token_file,
            tls: kelp_client::TlsOptions {
                ca_file: self.sink.ca_file,
                cert_file: self.sink.cert_file,
                key_file: self.sink.key_file,
            },
        };
        fn section<T: serde::de::DeserializeOwned>(
            v: Value,
            name: &str,
        ) -> Result<Option<T>, AgentError> {
            if v.is_null() {
                return Ok(None);
            }
            serde_yaml_ng::from_value(v)
                .map(Some)
                .map_err(|e| AgentError::Config(format!("{name}: {e}")))
        }
        if let Some(m) = section(self.multiline, "multiline")? {
            c.multiline = m;
        }
        if let Some(p) = section(self.policy, "policy")? {
            c.policy = p;
        }
        c.validate()?;
        Ok(c)
    }
}

fn has_path(root: &Value, path: &str) -> bool {
    let mut node = root;
    for part in path.split("__") {
        match node.get(part) {
            Some(v) => node = v,
            None => return false,
        }
    }
    true
}

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
    fn defaults_file_and_environment() {
        let c = AgentFileConfig::from_yaml("", env(&[])).unwrap();
        assert_eq!(c.listen, DEFAULT_LISTEN);
        let a = c.into_agent_config("n".into()).unwrap();
        assert_eq!(a.node, "n");
        assert_eq!(a.max_in_flight, 2);
        let c = AgentFileConfig::from_yaml(
            "server: http://x:1\nbatch:\n  max_bytes: 1000\nsink:\n  kind: elasticsearch\n",
            env(&[
                ("KELP_AGENT_BATCH__MAX_IN_FLIGHT", "4"),
                ("KELP_AGENT_SINK__TENANT", "t1"),
                ("KELP_AGENT_NODE_NAME", "node-7"),
                ("KELP_AGENT_KILLS", "20"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap();
        let a = c.into_agent_config("n".into()).unwrap();
        assert_eq!(
            (a.server.as_str(), a.batch_bytes, a.max_in_flight),
            ("http://x:1", 1000, 4)
        );
        assert_eq!(a.node, "node-7");
        assert_eq!(a.sink.kind, SinkKind::Elasticsearch);
        assert_eq!(a.sink.tenant.as_deref(), Some("t1"));
    }

    #[test]
    fn refuses_what_cannot_work() {
        assert!(AgentFileConfig::from_yaml("nope: 1\n", env(&[])).is_err());
        assert!(AgentFileConfig::from_yaml("batch:\n  bogus: 1\n", env(&[])).is_err());
        assert!(AgentFileConfig::from_yaml("[1, 2]", env(&[])).is_err());
        let c = AgentFileConfig::from_yaml("", env(&[("KELP_AGENT_BATCH__MAX_BYTES", "x")]));
        assert!(c.is_err());
        for yaml in [
            "sink:\n  kind: kafka\n",
            "batch:\n  max_in_flight: 0\n",
            "batch:\n  max_bytes: 0\n",
            "sink:\n  zstd_level: 40\n",
            "retry:\n  min_backoff_ms: 0\n",
        ] {
            let c = AgentFileConfig::from_yaml(yaml, env(&[])).unwrap();
            assert!(c.into_agent_config("n".into()).is_err(), "{yaml}");
        }
    }

    #[test]
    fn kubernetes_metadata_is_off_unless_enabled() {
        let a = AgentFileConfig::from_yaml("", env(&[]))
            .unwrap()
            .into_agent_config("n".into())
            .unwrap();
        assert!(a.kubernetes.is_none());
        // In a pod: the service account's token and CA.
        let c = AgentFileConfig::from_yaml(
            "kubernetes:\n  pod_labels: [team]\n",
            env(&[("KELP_AGENT_KUBERNETES__ENABLED", "true")]),
        )
        .unwrap();
        let k = c
            .into_agent_config("node-a".into())
            .unwrap()
            .kubernetes
            .unwrap();
        assert_eq!(k.node, "node-a");
        assert_eq!(k.pod_labels, vec!["team".to_owned()]);
        let sa = std::path::Path::new(crate::kube::SERVICE_ACCOUNT_DIR);
        assert_eq!(k.token_file.as_deref(), Some(sa.join("token").as_path()));
        assert_eq!(k.ca_file.as_deref(), Some(sa.join("ca.crt").as_path()));
        assert_eq!(k.keep_deleted, Duration::from_secs(600));
        // Elsewhere (kubectl proxy): no credentials unless given.
        let c = AgentFileConfig::from_yaml(
            "kubernetes:\n  enabled: true\n  api_server: http://127.0.0.1:8001/\n",
            env(&[]),
        )
        .unwrap();
        let k = c.into_agent_config("n".into()).unwrap().kubernetes.unwrap();
        assert_eq!(k.api_server, "http://127.0.0.1:8001");
        assert!(k.token_file.is_none() && k.ca_file.is_none());
        assert!(AgentFileConfig::from_yaml("kubernetes:\n  labels: [a]\n", env(&[])).is_err());
    }

    /// Issue 10: the control plane's files as file sources, from the file or the
    /// environment, off by default; bad patterns refused at start.
    #[test]
    fn control_plane_files_are_off_unless_enabled() {
        let a = AgentFileConfig::from_yaml("", env(&[]))
            .unwrap()
            .into_agent_config("n".into())
            .unwrap();
        assert!(a.files.is_empty());
        let c =
            AgentFileConfig::from_yaml("", env(&[("KELP_AGENT_CONTROL_PLANE__ENABLED", "true")]))
                .unwrap();
        let a = c.into_agent_config("n".into()).unwrap();
        let dirs: Vec<_> = a.files.iter().map(|f| f.glob.dir().to_owned()).collect();
        assert_eq!(dirs.len(), crate::CONTROL_PLANE_GLOBS.len());
        assert!(dirs.iter().all(|d| d == std::path::Path::new("/var/log")));
        for f in &a.files {
            assert!(f
                .labels
                .contains(&("job".to_owned(), "control-plane".to_owned())));
        }
        let c = AgentFileConfig::from_yaml(
            "control_plane:\n  enabled: true\n  files: [/host/log/kube-apiserver*.log]\n",
            env(&[]),
        )
        .unwrap();
        let a = c.into_agent_config("n".into()).unwrap();
        assert_eq!(a.files.len(), 1);
        assert_eq!(a.files[0].glob.dir(), std::path::Path::new("/host/log"));
        for bad in [
            "control_plane:\n  enabled: true\n  files: [kube-*.log]\n",
            "control_plane:\n  enabled: true\n  files: [/var/*/kube.log]\n",
            "control_plane:\n  enabled: true\n  files: []\n",
        ] {
            let c = AgentFileConfig::from_yaml(bad, env(&[])).unwrap();
            assert!(c.into_agent_config("n".into()).is_err(), "{bad}");
        }
        assert!(AgentFileConfig::from_yaml("control_plane:\n  globs: []\n", env(&[])).is_err());
    }

    #[test]
    fn events_lease_defaults_and_rules() {
        let yaml = "kubernetes:\n  enabled: true\n  api_server: http://127.0.0.1:8001\n";
        let k = AgentFileConfig::from_yaml(yaml, env(&[]))
            .unwrap()
            .into_agent_config("node-a".into())
            .unwrap()
            .kubernetes
            .unwrap();
        assert!(k.terminations);
        let l = k.events.unwrap();
        assert_eq!(l.name, "kelp-events");
        assert_eq!(l.identity, format!("node-a_{}", std::process::id()));
        assert_eq!(
            (l.lease_duration, l.renew_deadline, l.retry_period),
            (
                Duration::from_secs(15),
                Duration::from_secs(10),
                Duration::from_secs(2)
            )
        );
        let c = AgentFileConfig::from_yaml(
            yaml,
            env(&[
                ("KELP_AGENT_KUBERNETES__EVENTS__LEASE_NAMESPACE", "logging"),
                ("KELP_AGENT_KUBERNETES__EVENTS__IDENTITY", "agent-7"),
                ("KELP_AGENT_KUBERNETES__TERMINATIONS", "false"),
            ]),
        )
        .unwrap();
        let k = c.into_agent_config("n".into()).unwrap().kubernetes.unwrap();
        assert!(!k.terminations);
        let l = k.events.unwrap();
        assert_eq!(
            (l.namespace.as_str(), l.identity.as_str()),
            ("logging", "agent-7")
        );
        for bad in [
            "    lease_duration_secs: 10\n",
            "    retry_period_secs: 0\n",
            "    retry_period_secs: 6\n",
            "    lease_name: ''\n",
        ] {
            let y = format!("{yaml}  events:\n{bad}");
            let c = AgentFileConfig::from_yaml(&y, env(&[])).unwrap();
            assert!(c.into_agent_config("n".into()).is_err(), "{bad}");
        }
        let off = format!("{yaml}  events:\n    enabled: false\n");
        let c = AgentFileConfig::from_yaml(&off, env(&[])).unwrap();
        assert!(c
            .into_agent_config("n".into())
            .unwrap()
            .kubernetes
            .unwrap()
            .events
            .is_none());
    }
}
