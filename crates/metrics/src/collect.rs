//! One collection: node figures, the cgroup scan and the log tree, joined, and turned into
//! the points metrics-server would decode from the kubelet.

use std::path::{Path, PathBuf};

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
    Collector::with_kept_files(src.clone(), false).collect()
}

/// Collections taken again and again from the same sources (the agent's loop), keeping
/// what can be kept: on a real cgroup v2 mount (`cgroup2` in `/proc/self/mountinfo`) every
/// cgroup file stays open and is read again with one `pread`, one system call instead of
/// three; each container's start time is read once; the driver is found once.
#[derive(Debug)]
pub struct Collector {
    sources: Sources,
    state: cgroup::ScanState,
}

impl Collector {
    /// A collector reading `sources`; files are kept open when the cgroup root is a
    /// `cgroup2` mount.
    pub fn new(sources: Sources) -> Self {
        let keep = is_cgroup2_mount(&sources.cgroup_root);
        Self::with_kept_files(sources, keep)
    }

    /// A collector that keeps cgroup files open or not, whatever the mount: only for
    /// files that are never replaced by rename (cgroupfs, or a benchmark's fixture).
    pub fn with_kept_files(sources: Sources, keep: bool) -> Self {
        let state = if keep {
            cgroup::ScanState::keeping_files_open()
        } else {
            cgroup::ScanState::default()
        };
        Self { sources, state }
    }

    /// The sources.
    pub fn sources(&self) -> &Sources {
        &self.sources
    }

    /// Cgroup files held open.
    pub fn open_files(&self) -> usize {
        self.state.open_files()
    }

    /// One collection, as [`collect`].
    ///
    /// # Errors
    ///
    /// Those of [`collect`].
    pub fn collect(&mut self) -> Result<Collection, MetricsError> {
        let src = &self.sources;
        let node = node::read_node(&src.cgroup_root, &src.proc_root)?;
        let index = LogIndex::read(&src.pods_dir, &src.containers_dir)?;
        let by_pod = index.ids_by_pod();
        // A pod cgroup is listed again when its log tree shows a container that the last
        // listing did not find.
        let must_list = |uid: &str, listed: &[&str]| {
            index.pod(uid).is_none_or(|p| {
                by_pod
                    .get(&(p.namespace.as_str(), p.pod.as_str()))
                    .is_some_and(|ids| ids.iter().any(|id| !listed.contains(id)))
            })
        };
        let scan = self.state.scan(
            &src.cgroup_root,
            &mut Timestamp::now,
            &|id| index.has_container(id),
            &must_list,
        )?;
        let joined = mapping::join(&scan, &index);
        Ok(Collection {
            node,
            joined,
            skipped: scan.skipped,
        })
    }
}

/// Whether `path` is on a `cgroup2` mount, by `/proc/self/mountinfo` (the mount point
/// that is the longest prefix of its canonical path; field 9 after ` - ` is the type).
pub fn is_cgroup2_mount(path: &Path) -> bool {
    let Ok(path) = path.canonicalize() else {
        return false;
    };
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let mut best: Option<(usize, bool)> = None;
    for line in info.lines() {
        let mut fields = line.split(' ');
        let Some(mount) = fields.nth(4) else { continue };
        let Some((_, after)) = line.split_once(" - ") else {
            continue;
        };
        let fstype = after.split(' ').next().unwrap_or("");
        // Mount points escape spaces as \040; cgroup roots have none.
        if path.starts_with(mount) && best.is_none_or(|(len, _)| mount.len() >= len) {
            best = Some((mount.len(), fstype == "cgroup2"));
        }
    }
    best.is_some_and(|(_, v)| v)
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
