//! metrics-server's storage and rate rules (spec §5.3), so Kelp's numbers are the ones
//! `kubectl top` would show for the same samples.
//!
//! - Decoding: a node point with CPU 0 or memory 0 is dropped; a pod is dropped from a
//!   batch when any of its containers has CPU 0 or memory 0.
//! - Storage: the last and previous point per node and per container. Every stored batch
//!   replaces `last` (nodes and pods missing from it are forgotten); the old `last`
//!   becomes `prev` when the new point is newer, otherwise the old `prev` is kept if it is
//!   older than the new point. A start time at or after the stored last timestamp is a
//!   restart: the history is reset. A container started between 10 s and the metric
//!   resolution ago gets a synthetic previous point at its start time with CPU 0.
//! - Rate: `(cpu_last − cpu_prev) / window` in float seconds, truncated to integer
//!   nanocores; `window = t_last − t_prev`, `timestamp = t_last`; memory is the last
//!   working set. A decreasing CPU counter or start time skips the metric.
//! - A pod is returned only when every container has both points; its timestamp and
//!   window are those of its container with the earliest timestamp.
//!
//! metrics-server iterates Go maps, so ties between containers with the same earliest
//! timestamp are settled at random there; here containers are visited by name.

use std::collections::{BTreeMap, HashMap};

use kelp_model::{GoDuration, Timestamp};

/// A fresh container younger than this gets no synthetic previous point.
const FRESH_CONTAINER_MIN: i64 = 10_000_000_000;

/// One sample of a node or a container, as metrics-server decodes the kubelet's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    /// Container start time (`Timestamp(0)` when unknown, as for nodes).
    pub start_time: Timestamp,
    /// When the sample was taken.
    pub timestamp: Timestamp,
    /// Cumulative CPU in nanoseconds.
    pub cpu_ns: u64,
    /// Working set in bytes.
    pub memory: u64,
}

/// One pod's container points in a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodPoints {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// Container name and point.
    pub containers: Vec<(String, Point)>,
}

/// What one scrape of every node gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// Node name and point.
    pub nodes: Vec<(String, Point)>,
    /// Pods.
    pub pods: Vec<PodPoints>,
}

/// A computed usage: what a `usage` object and `timestamp`/`window` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// CPU in nanocores.
    pub cpu_nanocores: u64,
    /// Working set in bytes (the last point's).
    pub memory: u64,
    /// The last point's timestamp.
    pub timestamp: Timestamp,
    /// `t_last − t_prev`.
    pub window: GoDuration,
}

/// A pod's usage: per container, with the pod's timestamp and window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRate {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// The earliest container timestamp.
    pub timestamp: Timestamp,
    /// That container's window.
    pub window: GoDuration,
    /// Container name and usage, by name; containers whose rate failed are left out.
    pub containers: Vec<(String, Rate)>,
}

/// Why a rate was not computed (metrics-server logs these and skips the metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// The start time went down between the two points.
    #[error("unexpected decrease in startTime of node/container")]
    StartTimeDecreased,
    /// The cumulative CPU counter went down.
    #[error("unexpected decrease in cumulative CPU usage value")]
    CpuDecreased,
    /// The last point is not newer than the previous one (never from [`Storage`]).
    #[error("last point is not newer than the previous one")]
    EmptyWindow,
}

type PodKey = (String, String);

/// The last and previous points per node and container.
#[derive(Debug, Clone)]
pub struct Storage {
    resolution: i64,
    last_nodes: HashMap<String, Point>,
    prev_nodes: HashMap<String, Point>,
    last_pods: HashMap<PodKey, BTreeMap<String, Point>>,
    prev_pods: HashMap<PodKey, BTreeMap<String, Point>>,
}

impl Storage {
    /// A storage for scrapes every `metric_resolution` (15 s in metrics-server's manifest).
    pub fn new(metric_resolution: GoDuration) -> Self {
        Self {
            resolution: metric_resolution.as_nanos(),
            last_nodes: HashMap::new(),
            prev_nodes: HashMap::new(),
            last_pods: HashMap::new(),
            prev_pods: HashMap::new(),
        }
    }

    /// Stores a scrape of every node.
    pub fn store(&mut self, batch: &Batch) {
        self.store_nodes(batch);
        self.store_pods(batch);
    }

    fn store_nodes(&mut self, batch: &Batch) {
        let mut last = HashMap::new();
        let mut prev = HashMap::new();
        for (name, new) in &batch.nodes {
            if new.cpu_ns == 0 || new.memory == 0 || last.contains_key(name) {
                continue;
            }
            last.insert(name.clone(), *new);
            let Some(old) = self.last_nodes.get(name) else {
                continue;
            };
            if new.start_time >= old.timestamp {
                continue; // restarted
            }
            if new.timestamp > old.timestamp {
                prev.insert(name.clone(), *old);
            } else if let Some(p) = self
                .prev_nodes
                .get(name)
                .filter(|p| p.timestamp < new.timestamp)
            {
                prev.insert(name.clone(), *p);
            }
        }
        self.last_nodes = last;
        self.prev_nodes = prev;
    }

    fn store_pods(&mut self, batch: &Batch) {
        let mut last_pods = HashMap::new();
        let mut prev_pods = HashMap::new();
        for pod in &batch.pods {
            let key = (pod.namespace.clone(), pod.name.clone());
            let dropped = pod
                .containers
                .iter()
                .any(|(_, p)| p.cpu_ns == 0 || p.memory == 0);
            if dropped || last_pods.contains_key(&key) {
                continue;
            }
            let mut last = BTreeMap::new();
            let mut prev = BTreeMap::new();
            for (name, new) in &pod.containers {
                if last.contains_key(name) {
                    continue;
                }
                last.insert(name.clone(), *new);
                let age = new.timestamp.0.saturating_sub(new.start_time.0);
                if new.start_time < new.timestamp
                    && age < self.resolution
                    && age >= FRESH_CONTAINER_MIN
                {
                    let synthetic = Point {
                        timestamp: new.start_time,
                        cpu_ns: 0,
                        ..*new
                    };
                    prev.insert(name.clone(), synthetic);
                    continue;
                }
                let Some(old) = self.last_pods.get(&key).and_then(|p| p.get(name)) else {
                    continue;
                };
                if new.start_time >= old.timestamp {
                    continue; // restarted
                }
                if new.timestamp > old.timestamp {
                    prev.insert(name.clone(), *old);
                } else if let Some(p) = self
                    .prev_pods
                    .get(&key)
                    .and_then(|p| p.get(name))
                    .filter(|p| p.timestamp < new.timestamp)
                {
                    prev.insert(name.clone(), *p);
                }
            }
            if !prev.is_empty() {
                prev_pods.insert(key.clone(), prev);
            }
            last_pods.insert(key, last);
        }
        self.last_pods = last_pods;
        self.prev_pods = prev_pods;
    }

    /// The node's usage, if it has two points (`Some(Err)` when metrics-server would
    /// skip it).
    pub fn node(&self, name: &str) -> Option<Result<Rate, RateError>> {
        let last = self.last_nodes.get(name)?;
        let prev = self.prev_nodes.get(name)?;
        Some(rate(last, prev))
    }

    /// Every node with a usage, by name.
    pub fn nodes(&self) -> Vec<(String, Rate)> {
        let mut out: Vec<_> = self
            .last_nodes
            .keys()
            .filter_map(|n| Some((n.clone(), self.node(n)?.ok()?)))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The pod's usage, when every container has two points and at least one rate could
    /// be computed.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<PodRate> {
        let key = (namespace.to_owned(), name.to_owned());
        let last = self.last_pods.get(&key)?;
        let prev = self.prev_pods.get(&key)?;
        let mut containers = Vec::with_capacity(last.len());
        let mut earliest: Option<Rate> = None;
        for (c, l) in last {
            let p = prev.get(c)?;
            let Ok(r) = rate(l, p) else { continue };
            containers.push((c.clone(), r));
            if earliest.is_none_or(|e| e.timestamp > r.timestamp) {
                earliest = Some(r);
            }
        }
        let e = earliest?;
        Some(PodRate {
            namespace: namespace.into(),
            name: name.into(),
            timestamp: e.timestamp,
            window: e.window,
            containers,
        })
    }

    /// Every pod with a usage, by namespace and name.
    pub fn pods(&self) -> Vec<PodRate> {
        let mut keys: Vec<_> = self.last_pods.keys().collect();
        keys.sort();
        keys.into_iter()
            .filter_map(|(ns, n)| self.pod(ns, n))
            .collect()
    }
}

/// metrics-server's `resourceUsage`.
pub fn rate(last: &Point, prev: &Point) -> Result<Rate, RateError> {
    if last.start_time < prev.start_time {
        return Err(RateError::StartTimeDecreased);
    }
    if last.cpu_ns < prev.cpu_ns {
        return Err(RateError::CpuDecreased);
    }
    let window = last.timestamp.0.saturating_sub(prev.timestamp.0);
    if window <= 0 {
        return Err(RateError::EmptyWindow);
    }
    // Go's Duration.Seconds(), then float64 division and a truncating conversion.
    let secs = (window / 1_000_000_000) as f64 + (window % 1_000_000_000) as f64 / 1e9;
    let cpu = (last.cpu_ns - prev.cpu_ns) as f64 / secs;
    Ok(Rate {
        cpu_nanocores: cpu as u64,
        memory: last.memory,
        timestamp: last.timestamp,
        window: GoDuration::from_nanos(window),
    })
}
