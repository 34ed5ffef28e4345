//! Kubernetes metadata for the node's streams: a thread lists and watches the pods of the
//! agent's node (`fieldSelector=spec.nodeName=<node>`) on the Kubernetes API and keeps,
//! per pod UID, the pod labels the config selects and the pod's owner, the workload that
//! made it (a ReplicaSet's Deployment, a StatefulSet, a DaemonSet, a Job). The reader
//! adds them to a container log's stream labels when it opens the log, or as soon as the
//! pod is known if the log appeared first.
//!
//! - [`KubeConfig`]: the API server, credentials, labels to keep, how long a deleted
//!   pod's metadata is kept (its last lines are often read after the API said it is gone).
//! - [`PodCache`]: the metadata by UID (also by a static pod's config hash, the UID its
//!   log directory is named after).
//! - [`spawn`]: the list/watch thread ([`watch`]).
//!
//! - [`termination`]: an entry for each container termination the pod watch shows.
//! - [`lease`] and [`events`]: one agent of the cluster, elected through a Lease, stores
//!   the cluster's Events ([`spawn_with`] starts both).
//!
//! Labels added: every selected pod label, its name made a valid label name (`.`, `/`,
//! `-` become `_`: `app.kubernetes.io/name` is `app_kubernetes_io_name`), and `owner_kind`
//! and `owner_name`. They never replace the agent's own labels (`namespace`, `pod`, ...).

mod api;
pub mod events;
#[doc(hidden)]
pub mod fake;
pub mod lease;
mod ship;
pub mod termination;
mod watch;

#[cfg(test)]
mod election_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::AgentError;

pub use lease::LeaseConfig;
pub use watch::Watcher;

/// The service account's files in a pod.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Where and how to watch the node's pods.
#[derive(Debug, Clone)]
pub struct KubeConfig {
    /// The API server's base URL (`https://10.96.0.1:443`; `http://` for tests and
    /// `kubectl proxy`).
    pub api_server: String,
    /// A bearer token file, read again at every connection (bound tokens rotate).
    pub token_file: Option<PathBuf>,
    /// The PEM CA bundle that signed the API server's certificate.
    pub ca_file: Option<PathBuf>,
    /// The node whose pods are watched.
    pub node: String,
    /// Pod label names whose values become stream labels.
    pub pod_labels: Vec<String>,
    /// How long a deleted pod's metadata stays available.
    pub keep_deleted: Duration,
    /// Server-side timeout of one watch request; the watch is then restarted.
    pub watch_timeout: Duration,
    /// Whether container terminations become entries ([`termination`]).
    pub terminations: bool,
    /// The Lease through which one agent is elected to store the cluster's Events
    /// (`None`: this agent never does).
    pub events: Option<LeaseConfig>,
}

impl KubeConfig {
    /// The in-cluster settings: the API server from `KUBERNETES_SERVICE_HOST` and
    /// `KUBERNETES_SERVICE_PORT` (else `https://kubernetes.default.svc`), the service
    /// account's token and CA.
    pub fn in_cluster(node: String) -> KubeConfig {
        let api_server = match std::env::var("KUBERNETES_SERVICE_HOST") {
            Ok(host) => {
                let port =
                    std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host
                };
                format!("https://{host}:{port}")
            }
            Err(_) => "https://kubernetes.default.svc".into(),
        };
        let sa = PathBuf::from(SERVICE_ACCOUNT_DIR);
        KubeConfig {
            api_server,
            token_file: Some(sa.join("token")),
            ca_file: Some(sa.join("ca.crt")),
            node,
            pod_labels: Vec::new(),
            keep_deleted: Duration::from_secs(600),
            watch_timeout: Duration::from_secs(300),
            terminations: true,
            events: None,
        }
    }
}

/// The workload a pod belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// `Deployment`, `ReplicaSet`, `StatefulSet`, `DaemonSet`, `Job`, `Node` (a static
    /// pod's mirror), ...
    pub kind: String,
    /// Its name.
    pub name: String,
}

/// What the agent keeps of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodMeta {
    /// The pod's UID.
    pub uid: String,
    /// Selected pod labels, as (stream label name, value), sorted by name.
    pub labels: Vec<(String, String)>,
    /// The controlling owner, resolved to the workload.
    pub owner: Option<Owner>,
}

impl PodMeta {
    /// The stream labels this metadata adds.
    pub fn stream_labels(&self) -> Vec<(String, String)> {
        let mut out = self.labels.clone();
        if let Some(o) = &self.owner {
            out.push(("owner_kind".into(), o.kind.clone()));
            out.push(("owner_name".into(), o.name.clone()));
        }
        out
    }
}

/// A pod as the API returns it; only what the agent reads.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Pod {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub status: Option<termination::PodStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ObjectMeta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub owner_references: Vec<OwnerReference>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct OwnerReference {
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub controller: bool,
}

/// A static pod's mirror names the config hash (its log directory's UID) here.
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// `app.kubernetes.io/name` → `app_kubernetes_io_name`: a valid stream label name.
pub fn label_name(pod_label: &str) -> String {
    let mut out: String = pod_label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The workload of a pod: its controlling owner, a ReplicaSet named
/// `<deployment>-<pod-template-hash>` resolved to its Deployment.
pub(crate) fn owner_of(meta: &ObjectMeta) -> Option<Owner> {
    let r = meta.owner_references.iter().find(|r| r.controller)?;
    if r.kind == "ReplicaSet" {
        if let Some(hash) = meta.labels.get("pod-template-hash") {
            if let Some(deployment) = r.name.strip_suffix(&format!("-{hash}")) {
                return Some(Owner {
                    kind: "Deployment".into(),
                    name: deployment.into(),
                });
            }
        }
    }
    Some(Owner {
        kind: r.kind.clone(),
        name: r.name.clone(),
    })
}

fn meta_of(pod: &Pod, keep: &[String]) -> PodMeta {
    let mut labels: Vec<(String, String)> = keep
        .iter()
        .filter_map(|k| Some((label_name(k), pod.metadata.labels.get(k)?.clone())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    labels.sort();
    labels.dedup_by(|a, b| a.0 == b.0);
    PodMeta {
        uid: pod.metadata.uid.clone(),
        labels,
        owner: owner_of(&pod.metadata),
    }
}

#[derive(Debug)]
struct Entry {
    meta: Arc<PodMeta>,
    /// When the pod was seen deleted (or missing from a new list).
    deleted: Option<Instant>,
    /// The static pod's config hash, also a key.
    alias: Option<String>,
}

/// Pod metadata by UID, shared by the watch thread and the reader.
#[derive(Debug)]
pub struct PodCache {
    keep: Vec<String>,
    keep_deleted: Duration,
    pods: Mutex<HashMap<String, Entry>>,
    aliases: Mutex<HashMap<String, String>>,
    listed: AtomicBool,
}

impl PodCache {
    /// An empty cache keeping the pod labels `keep`, and deleted pods for `keep_deleted`.
    pub fn new(keep: Vec<String>, keep_deleted: Duration) -> PodCache {
        PodCache {
            keep,
            keep_deleted,
            pods: Mutex::default(),
            aliases: Mutex::default(),
            listed: AtomicBool::new(false),
        }
    }

    /// The metadata of the pod whose log directory carries `uid` (a pod UID, or a static
    /// pod's config hash), deleted pods included until they expire.
    pub fn get(&self, uid: &str) -> Option<Arc<PodMeta>> {
        let pods = lock(&self.pods);
        if let Some(e) = pods.get(uid) {
            return Some(e.meta.clone());
        }
        let real = lock(&self.aliases).get(uid).cloned()?;
        pods.get(&real).map(|e| e.meta.clone())
    }

    /// Whether the pod is known and was deleted.
    pub fn is_deleted(&self, uid: &str) -> bool {
        lock(&self.pods)
            .get(uid)
            .is_some_and(|e| e.deleted.is_some())
    }

    /// Whether a first list has filled the cache.
    pub fn listed(&self) -> bool {
        self.listed.load(Ordering::SeqCst)
    }

    /// Pods known, deleted ones included.
    pub fn len(&self) -> usize {
        lock(&self.pods).len()
    }

    /// Whether no pod is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A pod was added or modified.
    pub(crate) fn upsert(&self, pod: &Pod) {
        if pod.metadata.uid.is_empty() {
            return;
        }
        let meta = Arc::new(meta_of(pod, &self.keep));
        let alias = pod.metadata.annotations.get(MIRROR_ANNOTATION).cloned();
        if let Some(a) = &alias {
            lock(&self.aliases).insert(a.clone(), meta.uid.clone());
        }
        lock(&self.pods).insert(
            meta.uid.clone(),
            Entry {
                meta,
                deleted: None,
                alias,
            },
        );
    }

    /// A pod was deleted: kept for `keep_deleted` from `now`.
    pub(crate) fn delete(&self, pod: &Pod, now: Instant) {
        self.upsert(pod);
        if let Some(e) = lock(&self.pods).get_mut(&pod.metadata.uid) {
            e.deleted = Some(now);
        }
    }

    /// A full list replaces the watch's view: pods missing from it were deleted while
    /// no watch was running.
    pub(crate) fn relisted(&self, pods: &[Pod], now: Instant) {
        for p in pods {
            self.upsert(p);
        }
        let present: std::collections::HashSet<&str> =
            pods.iter().map(|p| p.metadata.uid.as_str()).collect();
        for (uid, e) in lock(&self.pods).iter_mut() {
            if !present.contains(uid.as_str()) && e.deleted.is_none() {
                e.deleted = Some(now);
            }
        }
        self.listed.store(true, Ordering::SeqCst);
    }

    /// Forgets pods deleted more than `keep_deleted` before `now`.
    pub fn expire(&self, now: Instant) {
        let mut gone = Vec::new();
        lock(&self.pods).retain(|_, e| {
            let keep = e
                .deleted
                .is_none_or(|at| now.saturating_duration_since(at) < self.keep_deleted);
            if !keep {
                gone.extend(e.alias.clone());
            }
            keep
        });
        let mut aliases = lock(&self.aliases);
        for a in gone {
            aliases.remove(&a);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep using it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long [`spawn`] waits for the first list, so that the lines read at start carry
/// their pods' labels (an unreachable API only delays the start by this much).
pub const FIRST_LIST_WAIT: Duration = Duration::from_secs(5);

/// Starts the pod watch thread and waits up to [`FIRST_LIST_WAIT`] for its first list;
/// the cache it fills. The thread is not joined: it may be waiting on a watch, and it
/// holds nothing that needs closing.
pub fn spawn(config: KubeConfig, stop: Arc<AtomicBool>) -> Result<Arc<PodCache>, AgentError> {
    spawn_with(config, None, Arc::default(), stop).map(|k| k.pods)
}

/// What [`spawn_with`] started.
pub struct Started {
    /// The node's pods.
    pub pods: Arc<PodCache>,
    /// The Lease elector's thread, when events are on: join it after `stop` so that a
    /// leader releases the Lease before the process exits.
    pub elector: Option<std::thread::JoinHandle<()>>,
}

/// [`spawn`], and with a sink: the termination entries (when `config.terminations`)
/// and the Lease election with the events watch of its leader (when `config.events`),
/// counted in `stats`.
pub fn spawn_with(
    config: KubeConfig,
    sink: Option<Arc<dyn crate::sink::Sink>>,
    stats: Arc<crate::stats::Stats>,
    stop: Arc<AtomicBool>,
) -> Result<Started, AgentError> {
    let cache = Arc::new(PodCache::new(
        config.pod_labels.clone(),
        config.keep_deleted,
    ));
    let mut watcher = Watcher::new(config.clone(), cache.clone())?;
    let mut elector = None;
    if let Some(sink) = sink {
        if config.terminations {
            let out = ship::spawn(
                "kelp-agent-terminations",
                sink.clone(),
                ship::Acked::default(),
                (stats.clone(), |s| &s.terminations_shipped),
                stop.clone(),
            )?;
            watcher =
                watcher.with_terminations(termination::Terminations::new(config.node.clone(), out));
        }
        if let Some(lease) = &config.events {
            elector = Some(events::spawn(
                &config,
                lease.clone(),
                sink,
                stats,
                stop.clone(),
            )?);
        }
    }
    thread("kelp-agent-kube", {
        let stop = stop.clone();
        move || watcher.run(&stop)
    })?;
    let until = Instant::now() + FIRST_LIST_WAIT;
    while !cache.listed() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    if !cache.listed() {
        tracing::warn!("no list of the node's pods yet; reading without their labels meanwhile");
    }
    Ok(Started {
        pods: cache,
        elector,
    })
}

/// Starts a named thread.
pub(crate) fn thread(
    name: &str,
    f: impl FnOnce() + Send + 'static,
) -> Result<std::thread::JoinHandle<()>, AgentError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|source| AgentError::Io {
            path: name.into(),
            source,
        })
}
