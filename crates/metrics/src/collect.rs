//! One collection: node figures, the cgroup scan and the log tree, joined, and turned into
//! the points metrics-server would decode from the kubelet.

use std::path::PathBuf;

use kelp_model::Timestamp;

use crate::cgroup::{self, Skipped};
use crate::error::MetricsError;
use crate::mapping::{self, Joined, LogIndex};
use crate::node::{self, NodeSample};
use crate::rate::{Batch, PodPoints, Point};

/// Where a collection reads from (paths so tests and a containerised agent can point
/// elsewhere).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    /// The cgroup hierarchy root (`/sys/fs/cgroup`).
    pub cgroup_root: PathBuf,
    /// `/proc`.
    pub proc_root: PathBuf,
    /// The kubelet's `podLogsDir` (`/var/log/pods`).
    pub pods_dir: PathBuf,
    /// `/var/log/containers`.
    pub containers_dir: PathBuf,
}

impl Default for Sources {
    fn default() -> Self {
        Self {
            cgroup_root: cgroup::DEFAULT_ROOT.into(),
            proc_root: "/proc".into(),
            pods_dir: kelp_k8s::path::POD_LOGS_DIR.into(),
            containers_dir: kelp_k8s::path::CONTAINER_LOGS_DIR.into(),
        }
    }
}

/// What one collection found.
#[derive(Debug)]
pub struct Collection {
    /// The node's figures.
    pub node: NodeSample,
    /// Named pods and containers.
    pub joined: Joined,
    /// Cgroups that could not be read.
    pub skipped: Vec<Skipped>,
}

/// Reads the node and the log tree, then the pod cgroups and the cgroups of containers
/// that have a log, and names them.
///
/// # Errors
///
/// Those of [`node::read_node`], [`cgroup::scan`] and [`LogIndex::read`].
pub fn collect(src: &Sources) -> Result<Collection, MetricsError> {
    let node = node::read_node(&src.cgroup_root, &src.proc_root)?;
    let index = LogIndex::read(&src.pods_dir, &src.containers_dir)?;
    // Containers without a log (the sandboxes) count at pod level only: not read.
    let scan = cgroup::scan_filtered(&src.cgroup_root, &mut Timestamp::now, &|id| {
        index.has_container(id)
    })?;
    let joined = mapping::join(&scan, &index);
    Ok(Collection {
        node,
        joined,
        skipped: scan.skipped,
    })
}

/// Collections taken again and again from the same sources (the agent's loop): what
/// can be kept between collections is kept here.
#[derive(Debug)]
pub struct Collector {
    sources: Sources,
}

impl Collector {
    /// A collector reading `sources`.
    pub fn new(sources: Sources) -> Self {
        Self { sources }
    }

    /// The sources.
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// One collection, as [`collect`].
    ///
    /// # Errors
    ///
    /// Those of [`collect`].
    pub fn collect(&mut self) -> Result<Collection, MetricsError> {
        collect(&self.sources)
    }
}

impl Collection {
    /// The batch metrics-server would decode from this node's `/metrics/resource`:
    /// sample times cut to milliseconds as the kubelet prints them, so windows read
    /// `15.004s` as metrics-server's do.
    pub fn to_batch(&self, node_name: &str) -> Batch {
        let node = Point {
            start_time: Timestamp(0),
            timestamp: millis(self.node.time),
            cpu_ns: self.node.usage.cpu_ns,
            memory: self.node.usage.memory_working_set,
        };
        Batch {
            nodes: vec![(node_name.to_owned(), node)],
            pods: self
                .joined
                .pods
                .iter()
                .map(|p| PodPoints {
                    namespace: p.namespace.clone(),
                    name: p.pod.clone(),
                    containers: p
                        .containers
                        .iter()
                        .map(|c| {
                            let point = Point {
                                start_time: c.start_time.unwrap_or(Timestamp(0)),
                                timestamp: millis(c.time),
                                cpu_ns: c.usage.cpu_ns,
                                memory: c.usage.memory_working_set,
                            };
                            (c.name.clone(), point)
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

/// `t` cut to whole milliseconds.
fn millis(t: Timestamp) -> Timestamp {
    Timestamp(t.0 - t.0.rem_euclid(1_000_000))
}
