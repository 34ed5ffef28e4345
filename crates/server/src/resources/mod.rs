//! Resource metrics in the server (issue #7): the series store (`kelp-series`) fed by the
//! agents' pushes, and what the routes compute from it: metrics-server's current
//! figures ([`view`]), chart series ([`range`]) and the kubelet's exposition ([`prom`]).
//! Routes: `routes/resources.rs`. Design: `docs/metrics.md`.

pub mod prom;
pub mod range;
pub mod replicas;
pub mod selector;
pub mod view;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use kelp_model::{TenantId, Timestamp};
use kelp_series::{Kind, Sample, SeriesConfig, SeriesKey, SeriesStore};
use kelp_wire::resources::{Capacity, PushAck, ResourcePush};

use crate::error::ApiError;

/// A node's resources as its agent last reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeResources {
    /// CPUs and `MemTotal` (`/proc`).
    pub capacity: Option<Capacity>,
    /// `status.allocatable` of the Node object (when the agent reads the API).
    pub allocatable: Option<Capacity>,
}

/// What the store does not keep on disk: containers' start times and nodes' capacities
/// (labels are kept by the store, with their series).
#[derive(Debug, Default)]
struct Meta {
    start_times: HashMap<SeriesKey, i64>,
    nodes: HashMap<(String, String), NodeResources>,
}

/// The series store and the metadata beside it.
#[derive(Debug)]
pub struct Resources {
    store: SeriesStore,
    meta: Mutex<Meta>,
    maintained: std::sync::atomic::AtomicU64,
}

/// A sample time cut to milliseconds, as the kubelet prints them.
fn millis(t: i64) -> i64 {
    t - t.rem_euclid(1_000_000)
}

fn series_error(e: kelp_series::SeriesError) -> ApiError {
    ApiError::Internal(format!("resource series store: {e}"))
}

impl Resources {
    /// Opens the store (recovery).
    ///
    /// # Errors
    ///
    /// The store's.
    pub fn open(
        config: SeriesConfig,
    ) -> Result<(Self, kelp_series::Recovery), kelp_series::SeriesError> {
        let (store, rec) = SeriesStore::open(config, Timestamp::now().as_unix_nanos())?;
        Ok((
            Self {
                store,
                meta: Mutex::default(),
                maintained: Default::default(),
            },
            rec,
        ))
    }

    /// The series store.
    pub fn store(&self) -> &SeriesStore {
        &self.store
    }

    fn meta(&self) -> std::sync::MutexGuard<'_, Meta> {
        // Plain maps: a panic elsewhere cannot leave them half-updated.
        self.meta.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores a push's samples (durable when this returns); a retry stores nothing twice.
    ///
    /// # Errors
    ///
    /// Names that cannot be a series (empty node, pod or container name): 400; the
    /// store's I/O errors: 500.
    pub fn ingest(&self, tenant: &TenantId, push: &ResourcePush) -> Result<PushAck, ApiError> {
        if push.node.is_empty() {
            return Err(ApiError::bad("resource push: node must not be empty"));
        }
        let t = tenant.as_str();
        let node = push.node.as_str();
        let mut samples = Vec::new();
        let mut labels = Vec::new();
        let mut starts = Vec::new();
        let mut resources = NodeResources::default();
        for c in &push.collections {
            resources.capacity = c.node.capacity.or(resources.capacity);
            resources.allocatable = c.node.allocatable.or(resources.allocatable);
            let s = |time: i64, cpu_ns, memory| Sample {
                t: millis(time),
                cpu_ns,
                memory,
            };
            let key = SeriesKey::node(t, node);
            samples.push((key.clone(), s(c.node.time, c.node.cpu_ns, c.node.memory)));
            labels.push((key, c.node.labels.clone()));
            for p in &c.pods {
                if p.namespace.is_empty() || p.pod.is_empty() {
                    return Err(ApiError::bad(format!(
                        "resource push: collection {}: a pod needs a namespace and a name",
                        c.seq
                    )));
                }
                let key = SeriesKey::new(t, Kind::Pod, node, &p.namespace, &p.pod, "");
                samples.push((key.clone(), s(p.time, p.cpu_ns, p.memory)));
                labels.push((key, p.labels.clone()));
                for ct in &p.containers {
                    if ct.name.is_empty() {
                        return Err(ApiError::bad(format!(
                            "resource push: pod {}/{}: a container needs a name",
                            p.namespace, p.pod
                        )));
                    }
                    let key =
                        SeriesKey::new(t, Kind::Container, node, &p.namespace, &p.pod, &ct.name);
                    if let Some(st) = ct.start_time {
                        starts.push((key.clone(), st));
                    }
                    samples.push((key, s(ct.time, ct.cpu_ns, ct.memory)));
                }
            }
        }
        let out = self.store.append(&samples).map_err(series_error)?;
        // The newest collection's labels win (the store writes only changes).
        self.store.set_labels(&labels).map_err(series_error)?;
        let mut meta = self.meta();
        meta.start_times.extend(starts);
        if resources != NodeResources::default() {
            meta.nodes
                .insert((t.to_owned(), node.to_owned()), resources);
        }
        Ok(PushAck {
            stored: out.stored,
            duplicates: out.duplicates,
            refused: out.refused,
        })
    }

    /// A series' labels (a pod's or a node's), as last pushed.
    pub fn labels(&self, key: &SeriesKey) -> BTreeMap<String, String> {
        self.store
            .labels(key)
            .map(|l| l.as_ref().clone())
            .unwrap_or_default()
    }

    /// Every node's capacity and allocatable, as last pushed, by name.
    pub fn capacities(&self, tenant: &str) -> BTreeMap<String, NodeResources> {
        self.meta()
            .nodes
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|((_, n), c)| (n.clone(), *c))
            .collect()
    }

    /// A container's start time, as last pushed.
    pub fn start_time(&self, key: &SeriesKey) -> Option<i64> {
        self.meta().start_times.get(key).copied()
    }

    /// Cuts and applies retention (called every few seconds).
    ///
    /// # Errors
    ///
    /// The store's.
    pub fn maintain(&self) -> Result<(), kelp_series::SeriesError> {
        self.store
            .maintain(Timestamp::now().as_unix_nanos(), false)?;
        // Metadata of series that retention removed goes too (a bound on memory): when
        // there is more of it than series, or every 60th call (10 minutes).
        let calls = self
            .maintained
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let held = self.meta().start_times.len();
        if held > self.store.stats().series as usize || calls % 60 == 59 {
            let keys: std::collections::HashSet<SeriesKey> =
                self.store.series(|_| true).into_iter().collect();
            self.meta().start_times.retain(|k, _| keys.contains(k));
        }
        Ok(())
    }

    /// Flushes every open chunk (at shutdown).
    ///
    /// # Errors
    ///
    /// The store's.
    pub fn close(&self) -> Result<(), kelp_series::SeriesError> {
        self.store.close(Timestamp::now().as_unix_nanos())
    }
}
