//! Walking `kubepods` and reading every pod and container cgroup.

use std::collections::HashMap;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use kelp_model::Timestamp;
use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use super::files::{read_v2, Reader, Usage};
use super::names::{container_dir, pod_dir, qos_dir, Driver, Qos, Runtime};
use crate::error::MetricsError;

/// One container cgroup inside a pod cgroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerCgroup {
    /// The runtime's container id, 64 lowercase hex digits.
    pub id: String,
    /// Which runtime's naming the cgroup has.
    pub runtime: Runtime,
    /// Cumulative CPU and working set.
    pub usage: Usage,
    /// When the files were read.
    pub time: Timestamp,
    /// The cgroup directory's modification time, which the runtime sets when it creates
    /// the cgroup: Kelp's stand-in for the container's start time (restart detection).
    pub start_time: Option<Timestamp>,
}

/// One pod cgroup and its container cgroups (the sandbox's included), sorted by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodCgroup {
    /// The pod UID with its dashes (systemd's `_` turned back into `-`).
    pub uid: String,
    /// The QoS class, from the cgroup's level.
    pub qos: Qos,
    /// The pod cgroup directory.
    pub path: PathBuf,
    /// The pod cgroup's own values: all its containers, the sandbox included.
    pub usage: Usage,
    /// When the pod cgroup's files were read.
    pub time: Timestamp,
    /// The container cgroups that were read.
    pub containers: Vec<ContainerCgroup>,
    /// Ids of container cgroups the filter of [`scan_filtered`] passed over (unread).
    pub unread: Vec<String>,
}

/// A pod or container cgroup left out of a scan, and why.
#[derive(Debug)]
pub struct Skipped {
    /// The cgroup directory.
    pub path: PathBuf,
    /// What could not be read.
    pub error: MetricsError,
}

/// What one scan of a cgroup root found.
#[derive(Debug)]
pub struct Scan {
    /// The driver the `kubepods` directory's name shows.
    pub driver: Driver,
    /// Pod cgroups, sorted by UID.
    pub pods: Vec<PodCgroup>,
    /// Cgroups that were found but could not be read.
    pub skipped: Vec<Skipped>,
}

/// Scans the cgroup v2 hierarchy at `root` (normally [`super::DEFAULT_ROOT`]); samples
/// are stamped with the wall clock.
///
/// # Errors
///
/// [`MetricsError::NotCgroupV2`] when `root` has no `cgroup.controllers`,
/// [`MetricsError::NoKubepods`] when there is no `kubepods.slice` or `kubepods`, and
/// [`MetricsError::Io`] when a `kubepods` or QoS directory cannot be listed. Unreadable
/// pods and containers are not errors: they are listed in [`Scan::skipped`].
pub fn scan(root: &Path) -> Result<Scan, MetricsError> {
    scan_with_clock(root, &mut Timestamp::now)
}

/// [`scan`] with the clock that stamps each sample (tests pass a fixed one).
///
/// # Errors
///
/// As [`scan`].
pub fn scan_with_clock(
    root: &Path,
    clock: &mut dyn FnMut() -> Timestamp,
) -> Result<Scan, MetricsError> {
    scan_filtered(root, clock, &|_| true)
}

/// [`scan_with_clock`] reading only the container cgroups whose id `read_container`
/// accepts; the others are listed in [`PodCgroup::unread`]. A collection passes the ids
/// that have a log, so the sandboxes' files are not read (they count at pod level only).
///
/// # Errors
///
/// As [`scan`].
pub fn scan_filtered(
    root: &Path,
    clock: &mut dyn FnMut() -> Timestamp,
    read_container: &dyn Fn(&str) -> bool,
) -> Result<Scan, MetricsError> {
    ScanState::default().scan(root, clock, read_container, &|_, _| true)
}

/// Each pod cgroup's container directories (name, path) and the scan that listed them,
/// by the pod cgroup's path bytes.
type Listings = HashMap<Box<[u8]>, (Vec<(String, PathBuf)>, u64), Xxh3DefaultBuilder>;

/// Each container's start time by id, with the scan that last saw it.
type Starts = HashMap<String, (Option<Timestamp>, u64), Xxh3DefaultBuilder>;

/// A pod cgroup's children are listed again at least every this many scans, even when
/// the log tree shows no new container (a safety net for sandboxes and cut names).
const RELIST_EVERY: u64 = 20;

/// What repeated scans of one root keep: the driver, the readers' open files (when
/// kept), and each container's start time (its cgroup directory's mtime never changes,
/// so it is read once per container, not once per collection).
#[derive(Debug, Default)]
pub(crate) struct ScanState {
    reader: Reader,
    driver: Option<Driver>,
    starts: Starts,
    /// Each pod cgroup's container directories (name, path) and the scan that listed them.
    children: Listings,
    scans: u64,
}

impl ScanState {
    /// State whose reader keeps files open between scans (cgroupfs only).
    pub(crate) fn keeping_files_open() -> Self {
        Self {
            reader: Reader::keep_open(),
            ..Self::default()
        }
    }

    /// Files held open.
    pub(crate) fn open_files(&self) -> usize {
        self.reader.kept_len()
    }

    /// [`scan_filtered`] with this state. A pod cgroup's directory is listed only when
    /// `must_list(uid, ids)` says so, given the container ids its last listing found
    /// (the collector asks: does the log tree show a container of this pod that is not
    /// among them?), or when it was never listed or not for [`RELIST_EVERY`] scans.
    pub(crate) fn scan(
        &mut self,
        root: &Path,
        clock: &mut dyn FnMut() -> Timestamp,
        read_container: &dyn Fn(&str) -> bool,
        must_list: &dyn Fn(&str, &[&str]) -> bool,
    ) -> Result<Scan, MetricsError> {
        let driver = match self.driver {
            Some(d) => d,
            None => {
                if !root.join("cgroup.controllers").is_file() {
                    return Err(MetricsError::NotCgroupV2 { path: root.into() });
                }
                [Driver::Systemd, Driver::Cgroupfs]
                    .into_iter()
                    .find(|d| root.join(d.top_dir()).is_dir())
                    .ok_or_else(|| MetricsError::NoKubepods { path: root.into() })?
            }
        };
        self.reader.next_generation();
        self.scans += 1;
        let mut children =
            HashMap::with_capacity_and_hasher(self.children.len(), Xxh3DefaultBuilder::new());
        let mut walk = Walk {
            driver,
            reader: &mut self.reader,
            clock,
            read_container,
            must_list,
            starts: &mut self.starts,
            cached: &mut self.children,
            children: &mut children,
            scan_no: self.scans,
            scan: Scan {
                driver,
                pods: Vec::new(),
                skipped: Vec::new(),
            },
        };
        let top = root.join(driver.top_dir());
        for (name, path) in subdirs(&top)? {
            if let Some(qos) = qos_dir(driver, &name) {
                for (name, path) in subdirs(&path)? {
                    walk.pod(qos, &name, path);
                }
            } else {
                walk.pod(Qos::Guaranteed, &name, path);
            }
        }
        let mut scan = walk.scan;
        // Start times and listings of what is gone are forgotten.
        let scan_no = self.scans;
        self.starts.retain(|_, (_, seen)| *seen == scan_no);
        self.children = children;
        self.driver = Some(driver);
        scan.pods.sort_by(|a, b| a.uid.cmp(&b.uid));
        Ok(scan)
    }
}

struct Walk<'c> {
    driver: Driver,
    reader: &'c mut Reader,
    clock: &'c mut dyn FnMut() -> Timestamp,
    read_container: &'c dyn Fn(&str) -> bool,
    must_list: &'c dyn Fn(&str, &[&str]) -> bool,
    starts: &'c mut Starts,
    cached: &'c mut Listings,
    children: &'c mut Listings,
    scan_no: u64,
    scan: Scan,
}

impl Walk<'_> {
    fn pod(&mut self, qos: Qos, name: &str, path: PathBuf) {
        let Some(uid) = pod_dir(self.driver, qos, name) else {
            return;
        };
        let usage = match read_v2(self.reader, &path) {
            Ok(u) => u,
            Err(error) => return self.scan.skipped.push(Skipped { path, error }),
        };
        let time = (self.clock)();
        let cached = self
            .cached
            .remove(path.as_os_str().as_bytes())
            .filter(|(list, at)| {
                let ids: Vec<&str> = list
                    .iter()
                    .filter_map(|(n, _)| container_dir(self.driver, n).map(|(_, id)| id))
                    .collect();
                self.scan_no - at < RELIST_EVERY && !(self.must_list)(&uid, &ids)
            });
        let listed = cached.is_none();
        let (children, at) = match cached {
            Some(c) => c,
            None => match subdirs(&path) {
                Ok(c) => (c, self.scan_no),
                Err(error) => return self.scan.skipped.push(Skipped { path, error }),
            },
        };
        let mut containers = Vec::new();
        let mut unread = Vec::new();
        let mut gone = false;
        for (name, dir) in &children {
            let Some((runtime, id)) = container_dir(self.driver, name) else {
                continue;
            };
            if !(self.read_container)(id) {
                unread.push(id.to_owned());
                continue;
            }
            match read_v2(self.reader, dir) {
                Ok(usage) => {
                    let start_time = match self.starts.get_mut(id) {
                        Some((t, seen)) => {
                            *seen = self.scan_no;
                            *t
                        }
                        None => {
                            let t = modified(dir);
                            self.starts.insert(id.to_owned(), (t, self.scan_no));
                            t
                        }
                    };
                    containers.push(ContainerCgroup {
                        id: id.to_owned(),
                        runtime,
                        usage,
                        time: (self.clock)(),
                        start_time,
                    })
                }
                // Listed by an earlier scan and removed since: gone, not unreadable.
                Err(MetricsError::Io { source, .. })
                    if !listed && source.kind() == std::io::ErrorKind::NotFound =>
                {
                    gone = true;
                }
                Err(error) => self.scan.skipped.push(Skipped {
                    path: dir.clone(),
                    error,
                }),
            }
        }
        // A container that went away: list the pod again at the next scan.
        let at = if gone { 0 } else { at };
        self.children
            .insert(path.as_os_str().as_bytes().into(), (children, at));
        containers.sort_by(|a, b| a.id.cmp(&b.id));
        unread.sort();
        self.scan.pods.push(PodCgroup {
            uid,
            qos,
            path,
            usage,
            time,
            containers,
            unread,
        });
    }
}

/// The subdirectories of `dir` as (UTF-8 name, path); other names cannot be Kubernetes
/// cgroups and are passed over.
fn subdirs(dir: &Path) -> Result<Vec<(String, PathBuf)>, MetricsError> {
    let entries = std::fs::read_dir(dir).map_err(|e| MetricsError::io(dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| MetricsError::io(dir, e))?;
        // cgroupfs has no symlinks; a directory is what a cgroup is.
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        if let Ok(name) = entry.file_name().into_string() {
            out.push((name, entry.path()));
        }
    }
    Ok(out)
}

fn modified(dir: &Path) -> Option<Timestamp> {
    let t = std::fs::metadata(dir).ok()?.modified().ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(Timestamp(i64::try_from(d.as_nanos()).ok()?))
}
