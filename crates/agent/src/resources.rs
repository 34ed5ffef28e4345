//! Resource metrics (issue #7): every `interval`, one collection with `kelp-metrics`
//! (node, pod and container cgroups, named from the pod log tree), spooled on disk and
//! pushed to the Kelp server's `/kelp/api/v1/resources/push` until acknowledged.
//!
//! Delivery matches the logs': a collection is on disk (`<state_dir>/resources/`, see
//! [`spool`]) before it is sent, and deleted only once the server answered 200 (the
//! samples durable); a crash or an outage loses nothing up to `max_spooled` collections
//! (past it the oldest are dropped and counted). The server stores each sample once per
//! series and timestamp, so resending after a lost answer adds nothing. Two threads: the
//! collector (never blocked by the network) and the sender.

mod spool;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kelp_client::replicas::KeyedSender;
use kelp_client::RetryPolicy;
use kelp_metrics::collect::{Collector, Sources};
use kelp_wire::resources::{
    Capacity, Collection, ContainerSample, NodeSample, PodSample, ResourcePush,
};

use crate::kube::{NodeInfo, PodCache};
use crate::AgentError;
use spool::Spool;

/// How the collector runs.
#[derive(Debug, Clone)]
pub struct ResourcesConfig {
    /// Between collections; zero turns collection off.
    pub interval: Duration,
    /// Where cgroups, `/proc` and the log tree are read.
    pub sources: Sources,
    /// Where the spool lives (`<state_dir>/resources`).
    pub spool_dir: PathBuf,
    /// At most this many collections wait on disk (a day at 15 s).
    pub max_spooled: usize,
    /// At most this many collections per push.
    pub batch: usize,
    /// The server's base URL.
    pub server: String,
    /// `X-Scope-OrgID`, if any.
    pub tenant: Option<String>,
    /// The node's name.
    pub node: String,
    /// Retries of a push (the sender keeps going after the attempts run out).
    pub retry: RetryPolicy,
    /// The bearer token file and TLS settings of the agent's sink, used for pushes too.
    pub sink: crate::sink::SinkConfig,
}

impl ResourcesConfig {
    /// Defaults: every 15 s, `/sys/fs/cgroup`, `/proc`, the log tree beside `pods_dir`.
    pub fn new(pods_dir: PathBuf, state_dir: PathBuf, server: String, node: String) -> Self {
        let containers_dir = pods_dir.parent().map_or_else(
            || PathBuf::from(kelp_k8s::path::CONTAINER_LOGS_DIR),
            |p| p.join("containers"),
        );
        Self {
            interval: Duration::from_secs(15),
            sources: Sources {
                pods_dir,
                containers_dir,
                ..Sources::default()
            },
            spool_dir: state_dir.join("resources"),
            max_spooled: 5_760,
            batch: 40,
            server,
            tenant: None,
            node,
            retry: RetryPolicy::default(),
            sink: crate::sink::SinkConfig::default(),
        }
    }
}

/// The config file's `resources` section (`KELP_AGENT_RESOURCES__<KEY>` overrides).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResourcesSection {
    /// Between collections, a Go duration (`15s`); `0` turns collection off.
    pub interval: String,
    /// The cgroup hierarchy (`/sys/fs/cgroup`; `/host/sys/fs/cgroup` in a container).
    pub cgroup_root: PathBuf,
    /// `/proc` (for node figures without a root cgroup).
    pub proc_root: PathBuf,
    /// At most this many collections wait on disk for the server (5760: a day at 15 s).
    pub max_spooled: usize,
}

impl Default for ResourcesSection {
    fn default() -> Self {
        let d = Sources::default();
        Self {
            interval: "15s".into(),
            cgroup_root: d.cgroup_root,
            proc_root: d.proc_root,
            max_spooled: 5_760,
        }
    }
}

impl ResourcesSection {
    /// The collector's config for an agent with `agent`'s directories, server and node.
    ///
    /// # Errors
    ///
    /// An interval that is not a duration; a zero `max_spooled`.
    pub fn into_config(self, agent: &crate::AgentConfig) -> Result<ResourcesConfig, AgentError> {
        let interval = if self.interval.trim() == "0" {
            Duration::ZERO
        } else {
            kelp_model::GoDuration::parse_prometheus(&self.interval)
                .map_err(|e| {
                    AgentError::Config(format!("resources.interval {:?}: {e}", self.interval))
                })?
                .to_std()
        };
        if self.max_spooled == 0 {
            return Err(AgentError::Config(
                "resources.max_spooled must be > 0".into(),
            ));
        }
        let mut c = ResourcesConfig::new(
            agent.pods_dir.clone(),
            agent.state_dir.clone(),
            agent.server.clone(),
            agent.node.clone(),
        );
        c.interval = interval;
        c.sources.cgroup_root = self.cgroup_root;
        c.sources.proc_root = self.proc_root;
        c.max_spooled = self.max_spooled;
        c.tenant = agent.sink.tenant.clone();
        c.retry = agent.retry.clone();
        c.sink = agent.sink.clone();
        Ok(c)
    }
}

/// Counters for the agent's `/metrics`.
#[derive(Debug, Default)]
pub struct ResourceStats {
    /// Collections taken.
    pub collections: AtomicU64,
    /// Collections that failed (the cgroup root, `/proc` or the log tree unreadable).
    pub collect_errors: AtomicU64,
    /// Cgroups left out of the last collection (unreadable or malformed files).
    pub skipped_cgroups: AtomicU64,
    /// Pod cgroups without a pod log directory in the last collection.
    pub unknown_pods: AtomicU64,
    /// CPU time of the last collection, nanoseconds.
    pub collect_cpu_ns: AtomicU64,
    /// Collections acknowledged by the server.
    pub pushed: AtomicU64,
    /// Pushes that failed (each is retried).
    pub push_errors: AtomicU64,
    /// Collections waiting in the spool.
    pub spooled: AtomicU64,
    /// Collections dropped: past `max_spooled`, or unreadable spool files.
    pub dropped: AtomicU64,
}

impl ResourceStats {
    /// Prometheus text of the counters.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed).to_string();
        let cpu = format!(
            "{}",
            self.collect_cpu_ns.load(Ordering::Relaxed) as f64 / 1e9
        );
        for (name, kind, help, value) in [
            (
                "resource_collections_total",
                "counter",
                "Resource collections taken.",
                g(&self.collections),
            ),
            (
                "resource_collect_errors_total",
                "counter",
                "Resource collections that failed.",
                g(&self.collect_errors),
            ),
            (
                "resource_skipped_cgroups",
                "gauge",
                "Cgroups left out of the last collection (unreadable files).",
                g(&self.skipped_cgroups),
            ),
            (
                "resource_unknown_pods",
                "gauge",
                "Pod cgroups without a pod log directory in the last collection.",
                g(&self.unknown_pods),
            ),
            (
                "resource_collect_cpu_seconds",
                "gauge",
                "CPU time of the last collection (the collector thread's time on a CPU).",
                cpu,
            ),
            (
                "resource_pushed_total",
                "counter",
                "Resource collections the server acknowledged.",
                g(&self.pushed),
            ),
            (
                "resource_push_errors_total",
                "counter",
                "Resource pushes that failed (retried).",
                g(&self.push_errors),
            ),
            (
                "resource_spooled",
                "gauge",
                "Resource collections waiting on disk.",
                g(&self.spooled),
            ),
            (
                "resource_dropped_total",
                "counter",
                "Resource collections dropped: spool bound, unreadable spool files.",
                g(&self.dropped),
            ),
        ] {
            let _ = write!(
                s,
                "# HELP kelp_agent_{name} {help}\n# TYPE kelp_agent_{name} {kind}\nkelp_agent_{name} {value}\n"
            );
        }
        s
    }
}

/// The node's CPUs (`cpu<N>` lines of `<proc>/stat`) and memory (`MemTotal` of
/// `<proc>/meminfo`), read once at start.
pub fn capacity(proc_root: &std::path::Path) -> Option<Capacity> {
    let stat = std::fs::read_to_string(proc_root.join("stat")).ok()?;
    let cpus = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count() as u64;
    let meminfo = std::fs::read_to_string(proc_root.join("meminfo")).ok()?;
    let kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    (cpus > 0).then_some(Capacity {
        cpu_millis: cpus * 1000,
        memory: kb * 1024,
    })
}

/// The node's capacity: from the Node object when the agent reads the API (its
/// `status.capacity`), else from `/proc` (read once at start).
fn node_capacity(proc: Option<Capacity>, node: Option<&NodeInfo>) -> Option<Capacity> {
    let api = node.and_then(|n| {
        Some(Capacity {
            cpu_millis: n.capacity_cpu_millis?,
            memory: n.capacity_memory?,
        })
    });
    api.or(proc)
}

/// The wire form of a collection: pod labels from `pods` (the Kubernetes API watch, by
/// pod UID), node labels and allocatable from its Node object, when the agent has them.
pub fn to_wire(
    seq: u64,
    c: &kelp_metrics::collect::Collection,
    capacity: Option<Capacity>,
    pods: Option<&PodCache>,
) -> Collection {
    let node = pods.and_then(PodCache::node);
    let node = node.as_deref();
    Collection {
        seq,
        node: NodeSample {
            time: c.node.time.0,
            cpu_ns: c.node.usage.cpu_ns,
            memory: c.node.usage.memory_working_set,
            capacity: node_capacity(capacity, node),
            allocatable: node.and_then(|n| {
                Some(Capacity {
                    cpu_millis: n.allocatable_cpu_millis?,
                    memory: n.allocatable_memory?,
                })
            }),
            labels: node.map(|n| n.labels.clone()).unwrap_or_default(),
        },
        pods: c
            .joined
            .pods
            .iter()
            .map(|p| PodSample {
                namespace: p.namespace.clone(),
                pod: p.pod.clone(),
                uid: p.uid.clone(),
                labels: pods
                    .and_then(|cache| cache.get(&p.uid))
                    .map(|m| m.pod_labels.clone())
                    .unwrap_or_default(),
                time: p.time.0,
                cpu_ns: p.usage.cpu_ns,
                memory: p.usage.memory_working_set,
                containers: p
                    .containers
                    .iter()
                    .map(|ct| ContainerSample {
                        name: ct.name.clone(),
                        time: ct.time.0,
                        start_time: ct.start_time.map(|t| t.0),
                        cpu_ns: ct.usage.cpu_ns,
                        memory: ct.usage.memory_working_set,
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// CPU time of the calling thread in nanoseconds: the first field of
/// `/proc/thread-self/schedstat` (time on a CPU, ns; `stat`'s ticks are too coarse for a
/// millisecond of work).
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Starts the collector and the sender; they stop when `stop` is set. Nothing is
/// started when the interval is zero. `pods` is where the agent shares its Kubernetes
/// pod cache ([`crate::run_with_pods`]), when it watches the API: samples then carry
/// every pod label, and the node's labels and allocatable.
///
/// # Errors
///
/// The spool directory cannot be created or listed; the server URL is not valid.
pub fn spawn(
    config: ResourcesConfig,
    stats: Arc<ResourceStats>,
    stop: Arc<AtomicBool>,
    pods: Option<crate::PodShare>,
) -> Result<Vec<JoinHandle<()>>, AgentError> {
    if config.interval.is_zero() {
        return Ok(Vec::new());
    }
    let spool = Arc::new(Spool::open(&config.spool_dir, config.max_spooled)?);
    stats.spooled.store(spool.len() as u64, Ordering::Relaxed);
    // One attempt per post: the sender's loop retries, and can stop while it waits.
    let policy = RetryPolicy {
        max_attempts: Some(1),
        ..config.retry.clone()
    };
    let auth = crate::sink::SinkConfig {
        tenant: config.tenant.clone(),
        ..config.sink.clone()
    };
    // With several replicas, the node's samples go to the one its name hashes to, or to
    // the next while that one is down.
    let client = crate::sink::keyed_sender(&config.server, &config.node, policy, &auth)?;
    let config = Arc::new(config);
    let collector = {
        let (config, spool, stats, stop) =
            (config.clone(), spool.clone(), stats.clone(), stop.clone());
        std::thread::Builder::new()
            .name("kelp-resources".into())
            .spawn(move || collect_loop(&config, &spool, &stats, &stop, pods.as_ref()))
            .map_err(|e| AgentError::Config(format!("starting the resource collector: {e}")))?
    };
    let sender = std::thread::Builder::new()
        .name("kelp-resources-send".into())
        .spawn(move || send_loop(&config, &client, &spool, &stats, &stop))
        .map_err(|e| AgentError::Config(format!("starting the resource sender: {e}")))?;
    Ok(vec![collector, sender])
}

fn collect_loop(
    config: &ResourcesConfig,
    spool: &Spool,
    stats: &ResourceStats,
    stop: &AtomicBool,
    pods: Option<&crate::PodShare>,
) {
    let mut collector = Collector::new(config.sources.clone());
    let cap = capacity(&config.sources.proc_root);
    let mut last_error: Option<String> = None;
    let mut next = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        if now < next {
            std::thread::sleep((next - now).min(Duration::from_millis(100)));
            continue;
        }
        next += config.interval;
        if next < now {
            // Far behind (a suspended machine): start again from now.
            next = now + config.interval;
        }
        let cpu0 = thread_cpu_ns();
        let collected = collector.collect();
        if let (Some(a), Some(b)) = (cpu0, thread_cpu_ns()) {
            stats
                .collect_cpu_ns
                .store(b.saturating_sub(a), Ordering::Relaxed);
        }
        stats.collections.fetch_add(1, Ordering::Relaxed);
        let c = match collected {
            Ok(c) => {
                last_error = None;
                c
            }
            Err(e) => {
                stats.collect_errors.fetch_add(1, Ordering::Relaxed);
                // A node without a cgroup v2 `kubepods` fails every time: said once.
                let text = e.to_string();
                if last_error.as_deref() == Some(text.as_str()) {
                    tracing::debug!(error = %text, "resource collection failed again");
                } else {
                    tracing::warn!(error = %text, "resource collection failed");
                    last_error = Some(text);
                }
                continue;
            }
        };
        stats
            .skipped_cgroups
            .store(c.skipped.len() as u64, Ordering::Relaxed);
        stats
            .unknown_pods
            .store(c.joined.unknown_pods.len() as u64, Ordering::Relaxed);
        for s in &c.skipped {
            tracing::debug!(path = %s.path.display(), error = %s.error, "cgroup skipped");
        }
        // The agent's watch fills the share once started.
        let cache = pods.and_then(|p| p.get()).map(Arc::as_ref);
        match spool.add(&to_wire(spool.next_seq(), &c, cap, cache)) {
            Ok(dropped) if dropped > 0 => {
                stats.dropped.fetch_add(dropped, Ordering::Relaxed);
                tracing::warn!(dropped, "resource spool full: oldest collections dropped");
            }
            Ok(_) => {}
            Err(e) => {
                stats.collect_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "cannot spool a resource collection");
            }
        }
        stats.spooled.store(spool.len() as u64, Ordering::Relaxed);
    }
}

fn send_loop(
    config: &ResourcesConfig,
    client: &KeyedSender,
    spool: &Spool,
    stats: &ResourceStats,
    stop: &AtomicBool,
) {
    let mut failures = 0u32;
    loop {
        let (batch, bad) = spool.take(config.batch, Duration::from_millis(200));
        if bad > 0 {
            stats.dropped.fetch_add(bad, Ordering::Relaxed);
        }
        if batch.is_empty() {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            continue;
        }
        let seqs: Vec<u64> = batch.iter().map(|c| c.seq).collect();
        let body = kelp_wire::resources::encode(
            &ResourcePush {
                node: config.node.clone(),
                collections: batch,
            },
            3,
        );
        let sent = client.post(
            kelp_wire::resources::PUSH_PATH,
            kelp_wire::resources::CONTENT_TYPE,
            Some(kelp_wire::resources::CONTENT_ENCODING),
            &body,
        );
        match sent {
            Ok(_) => {
                spool.ack(&seqs);
                stats.pushed.fetch_add(seqs.len() as u64, Ordering::Relaxed);
                stats.spooled.store(spool.len() as u64, Ordering::Relaxed);
                failures = 0;
            }
            Err(e) => {
                spool.release();
                stats.push_errors.fetch_add(1, Ordering::Relaxed);
                failures += 1;
                tracing::warn!(error = %e, "resource push failed; kept on disk, retrying");
                if stop.load(Ordering::SeqCst) {
                    return;
                }
                let wait = config
                    .retry
                    .backoff(failures, None, u64::from(failures) * 7919);
                let until = Instant::now() + wait;
                while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }
}
