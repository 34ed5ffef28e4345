//! One collection: node figures, the cgroup scan and the log tree, joined, and turned into
//! the points metrics-server would decode from the kubelet.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

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
    /// The node's files' reader (keeping them open when the cgroup files are kept) and
    /// source, found at the first collection.
    node_reader: cgroup::Reader,
    node_source: Option<node::NodeSource>,
    index: Option<CachedIndex>,
    listings: u64,
}

/// The log tree's index with the two directories' modification times when it was read.
#[derive(Debug)]
struct CachedIndex {
    pods_mtime: SystemTime,
    containers_mtime: SystemTime,
    /// When the directories were listed.
    listed_at: SystemTime,
    /// Collections that used it.
    uses: u32,
    index: LogIndex,
    /// For each pod UID, the ids of the containers with a log in a pod of its namespace
    /// and name (what the cgroup scan asks: did a pod gain a container?).
    ids_by_uid: HashMap<String, Vec<String>>,
}

/// The log tree is listed again at least every this many collections.
const RELIST_INDEX_EVERY: u32 = 20;

/// A directory modified less than this before it was listed may have changed again in
/// the same clock tick without its mtime moving (git's "racy" entries): listed again.
const RACY: Duration = Duration::from_secs(2);

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
        let (state, node_reader) = if keep {
            (
                cgroup::ScanState::keeping_files_open(),
                cgroup::Reader::keep_open(),
            )
        } else {
            (cgroup::ScanState::default(), cgroup::Reader::default())
        };
        Self {
            sources,
            state,
            node_reader,
            node_source: None,
            index: None,
            listings: 0,
        }
    }

    /// How many times the log tree was listed (at most once per collection; less while
    /// it does not change).
    pub fn log_tree_listings(&self) -> u64 {
        self.listings
    }

    /// The log tree's index: the one read before while neither directory's mtime moved
    /// (two `statx` instead of two listings and 150 name parses), else read again.
    fn refresh_index(&mut self) -> Result<(), MetricsError> {
        let src = &self.sources;
        let mtime = |dir: &Path| -> Result<SystemTime, MetricsError> {
            std::fs::metadata(dir)
                .and_then(|m| m.modified())
                .map_err(|e| MetricsError::io(dir, e))
        };
        let (pods_mtime, containers_mtime) = (mtime(&src.pods_dir)?, mtime(&src.containers_dir)?);
        let fresh = self.index.as_ref().is_some_and(|c| {
            c.pods_mtime == pods_mtime
                && c.containers_mtime == containers_mtime
                && c.uses < RELIST_INDEX_EVERY
                && [pods_mtime, containers_mtime]
                    .iter()
                    .all(|m| c.listed_at.duration_since(*m).is_ok_and(|d| d >= RACY))
        });
        if !fresh {
            let listed_at = SystemTime::now();
            let index = LogIndex::read(&src.pods_dir, &src.containers_dir)?;
            self.listings += 1;
            let by_pod = index.ids_by_pod();
            let ids_by_uid = index
                .pods()
                .filter_map(|p| {
                    let ids = by_pod.get(&(p.namespace.as_str(), p.pod.as_str()))?;
                    Some((p.uid.clone(), ids.iter().map(|s| s.to_string()).collect()))
                })
                .collect();
            self.index = Some(CachedIndex {
                pods_mtime,
                containers_mtime,
                listed_at,
                uses: 0,
                index,
                ids_by_uid,
            });
        }
        if let Some(c) = self.index.as_mut() {
            c.uses += 1;
        }
        Ok(())
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
        let source = *self
            .node_source
            .get_or_insert_with(|| node::detect(&self.sources.cgroup_root));
        let node = node::read_with(
            &mut self.node_reader,
            source,
            &self.sources.cgroup_root,
            &self.sources.proc_root,
        )?;
        self.node_reader.next_generation();
        self.refresh_index()?;
        let src = &self.sources;
        let Some(cached) = &self.index else {
            // refresh_index sets it or fails.
            return Err(MetricsError::io(
                &src.pods_dir,
                std::io::ErrorKind::NotFound.into(),
            ));
        };
        let (index, ids_by_uid) = (&cached.index, &cached.ids_by_uid);
        // A pod cgroup is listed again when its log tree shows a container that the last
        // listing did not find.
        let must_list = |uid: &str, listed: &[&str]| {
            index.pod(uid).is_none()
                || ids_by_uid
                    .get(uid)
                    .is_some_and(|ids| ids.iter().any(|id| !listed.contains(&id.as_str())))
        };
        let scan = self.state.scan(
            &src.cgroup_root,
            &mut Timestamp::now,
            &|id| index.has_container(id),
            &must_list,
        )?;
        let joined = mapping::join(&scan, index);
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
