//! An optional fake cgroup v2 tree beside the pod log tree, for resource metrics
//! (issue #7): `<root>/sys/fs/cgroup`, laid out as the kubelet's systemd driver and
//! containerd make it, so that `kelp agent --cgroup-root <root>/sys/fs/cgroup` collects
//! through its real path.
//!
//! It follows the log tree rather than the simulator's internals: every container whose
//! `/var/log/containers` symlink leads to the newest restart's existing log file is
//! running, and gets `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope`
//! with `cpu.stat` (`usage_usec` growing at a rate drawn per container, 5m to 300m, ±20 %
//! per update), `memory.current` and `memory.stat` (a working set of 16 to 216 MiB, page
//! aligned, wobbling). Each pod also has a sandbox scope (1m, 1 MiB) without a log, and its
//! pod cgroup holds the sums; the root holds the node's (pods plus a 150m, 1.5 GiB system
//! share) and `cgroup.controllers`. Cgroups of containers that stopped are removed.
//! Files are written to a temp file and renamed, so a reader never sees half a file.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kelp_k8s::path::ContainerLogLink;

use crate::rng::Rng;
use crate::SimError;

const MIB: u64 = 1 << 20;
const PAGE: u64 = 4096;

#[derive(Debug, Clone)]
struct Fake {
    millicores: u64,
    base_memory: u64,
    cpu_usec: u64,
    memory: u64,
}

#[derive(Debug, Default)]
struct PodFake {
    cpu_usec: u64,
}

/// The fake tree and the counters behind it.
#[derive(Debug)]
pub struct FakeCgroups {
    root: PathBuf,
    cgroup_root: PathBuf,
    seed: u64,
    containers: HashMap<String, Fake>,
    pods: HashMap<String, PodFake>,
    node_cpu_usec: u64,
    last: Option<Instant>,
    draws: u64,
}

/// A running container found in the log tree.
struct Running {
    uid: String,
    id: String,
}

impl FakeCgroups {
    /// A tree for the node simulated under `root` (the simulator's `root`).
    pub fn new(root: &Path, seed: u64) -> Self {
        Self {
            root: root.to_path_buf(),
            cgroup_root: root.join("sys/fs/cgroup"),
            seed,
            containers: HashMap::new(),
            pods: HashMap::new(),
            node_cpu_usec: 1_000_000_000,
            last: None,
            draws: 0,
        }
    }

    /// `<root>/sys/fs/cgroup`, for `kelp agent --cgroup-root`.
    pub fn cgroup_root(&self) -> &Path {
        &self.cgroup_root
    }

    /// Reads the log tree, advances every counter by the time since the last update and
    /// writes the tree. Returns the number of running containers.
    ///
    /// # Errors
    ///
    /// [`SimError::Io`] when the tree cannot be written.
    pub fn update(&mut self) -> Result<usize, SimError> {
        let now = Instant::now();
        let elapsed_us = self
            .last
            .map_or(0, |l| now.duration_since(l).as_micros() as u64);
        self.last = Some(now);
        let running = self.running();
        let kube = self
            .cgroup_root
            .join("kubepods.slice/kubepods-burstable.slice");
        fs::create_dir_all(&kube).map_err(SimError::io("create", &kube))?;
        let mut by_pod: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in &running {
            by_pod.entry(r.uid.clone()).or_default().push(r.id.clone());
        }
        let (mut node_mem, mut node_delta) = (3 * MIB * 512, 150 * elapsed_us / 1000);
        for (uid, ids) in &by_pod {
            let pod_dir = kube.join(format!(
                "kubepods-burstable-pod{}.slice",
                uid.replace('-', "_")
            ));
            let sandbox = sandbox_id(self.seed, uid);
            let (mut pod_delta, mut pod_mem) = (elapsed_us / 1000, MIB);
            for id in ids.iter().chain(std::iter::once(&sandbox)) {
                let is_sandbox = *id == sandbox;
                let mut rng = Rng::derive(self.seed, "cgroup", &[hash(id), self.draws]);
                self.draws += 1;
                let fake = self.containers.entry(id.clone()).or_insert_with(|| {
                    let mut r = Rng::derive(self.seed, "container", &[hash(id)]);
                    let (millicores, base_memory) = if is_sandbox {
                        (1, MIB)
                    } else {
                        (5 + r.below(296), (16 + r.below(200)) * MIB)
                    };
                    Fake {
                        millicores,
                        base_memory,
                        cpu_usec: 0,
                        memory: base_memory,
                    }
                });
                // ±20 % around the container's rate.
                let jitter = 80 + rng.below(41);
                let delta = fake.millicores * elapsed_us / 1000 * jitter / 100;
                fake.cpu_usec += delta;
                if !is_sandbox {
                    let wobble = rng.below(8 * MIB / PAGE) * PAGE;
                    fake.memory = fake.base_memory + wobble;
                    pod_delta += delta;
                    pod_mem += fake.memory;
                }
                let dir = pod_dir.join(format!("cri-containerd-{id}.scope"));
                write_cgroup(&dir, fake.cpu_usec, fake.memory)?;
            }
            let pod = self.pods.entry(uid.clone()).or_default();
            pod.cpu_usec += pod_delta;
            node_delta += pod_delta;
            node_mem += pod_mem;
            write_cgroup(&pod_dir, pod.cpu_usec, pod_mem)?;
            // Scopes of containers that stopped.
            remove_stale(&pod_dir, |name| {
                name.strip_prefix("cri-containerd-")
                    .and_then(|n| n.strip_suffix(".scope"))
                    .is_some_and(|id| !ids.iter().any(|i| i == id) && id != sandbox)
            })?;
        }
        remove_stale(&kube, |name| {
            name.strip_prefix("kubepods-burstable-pod")
                .and_then(|n| n.strip_suffix(".slice"))
                .is_some_and(|u| !by_pod.contains_key(&u.replace('_', "-")))
        })?;
        self.node_cpu_usec += node_delta;
        write(
            &self.cgroup_root.join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )?;
        write(
            &self.cgroup_root.join("cpu.stat"),
            &format!(
                "usage_usec {}\nuser_usec {}\nsystem_usec {}\n",
                self.node_cpu_usec,
                self.node_cpu_usec / 2,
                self.node_cpu_usec / 2
            ),
        )?;
        let inactive = 200 * MIB;
        write(
            &self.cgroup_root.join("memory.stat"),
            &format!(
                "anon {}\nfile {}\ninactive_file {inactive}\n",
                node_mem / 4 * 3,
                node_mem / 4 + inactive
            ),
        )?;
        Ok(running.len())
    }

    /// The running containers: per pod UID and container name, the newest restart whose
    /// log file exists.
    fn running(&self) -> Vec<Running> {
        let links = self.root.join("var/log/containers");
        let Ok(entries) = fs::read_dir(&links) else {
            return Vec::new();
        };
        let mut newest: BTreeMap<(String, String), (u64, String)> = BTreeMap::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(link) = ContainerLogLink::parse(&name) else {
                continue;
            };
            let Ok(target) = fs::read_link(e.path()) else {
                continue;
            };
            let target = if target.is_absolute() {
                target
            } else {
                links.join(target)
            };
            if !target.exists() {
                continue;
            }
            let restart = target
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok());
            let uid = target
                .parent()
                .and_then(Path::parent)
                .and_then(|p| p.file_name())
                .and_then(|n| n.to_str())
                .and_then(|n| n.rsplit('_').next())
                .map(str::to_owned);
            let (Some(restart), Some(uid)) = (restart, uid) else {
                continue;
            };
            let slot = newest
                .entry((uid, link.container.to_owned()))
                .or_insert((restart, link.container_id.to_owned()));
            if restart >= slot.0 {
                *slot = (restart, link.container_id.to_owned());
            }
        }
        newest
            .into_iter()
            .map(|((uid, _), (_, id))| Running { uid, id })
            .collect()
    }
}

/// Updates `root`'s fake tree every `interval` until `stop` is set, on a thread.
///
/// # Errors
///
/// The thread cannot be started.
pub fn spawn(
    root: &Path,
    seed: u64,
    interval: Duration,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, SimError> {
    let mut fake = FakeCgroups::new(root, seed);
    let dir = fake.cgroup_root().to_path_buf();
    std::thread::Builder::new()
        .name("kelp-sim-cgroups".into())
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                if let Err(e) = fake.update() {
                    eprintln!("fake cgroups: {e}");
                }
                std::thread::sleep(interval);
            }
        })
        .map_err(SimError::io("spawn a thread for", dir))
}

fn hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// A 64-hex id for a pod's sandbox.
fn sandbox_id(seed: u64, uid: &str) -> String {
    let mut r = Rng::derive(seed, "sandbox", &[hash(uid)]);
    (0..4).map(|_| format!("{:016x}", r.next_u64())).collect()
}

fn write_cgroup(dir: &Path, cpu_usec: u64, working_set: u64) -> Result<(), SimError> {
    fs::create_dir_all(dir).map_err(SimError::io("create", dir))?;
    let inactive = working_set / 10 / PAGE * PAGE;
    write(
        &dir.join("cpu.stat"),
        &format!("usage_usec {cpu_usec}\nuser_usec {}\nsystem_usec {}\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n", cpu_usec / 3 * 2, cpu_usec / 3),
    )?;
    write(
        &dir.join("memory.current"),
        &format!("{}\n", working_set + inactive),
    )?;
    write(
        &dir.join("memory.stat"),
        &format!(
            "anon {}\nfile {}\nkernel 0\nactive_file 0\ninactive_file {inactive}\n",
            working_set, inactive
        ),
    )
}

fn write(path: &Path, text: &str) -> Result<(), SimError> {
    let tmp = path.with_extension("tmp~");
    fs::write(&tmp, text).map_err(SimError::io("write", &tmp))?;
    fs::rename(&tmp, path).map_err(SimError::io("rename", path))
}

fn remove_stale(dir: &Path, stale: impl Fn(&str) -> bool) -> Result<(), SimError> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if stale(&name) {
            fs::remove_dir_all(e.path()).map_err(SimError::io("remove", e.path()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage_usec(dir: &Path) -> u64 {
        let s = fs::read_to_string(dir.join("cpu.stat")).unwrap();
        s.lines().next().unwrap()[11..].parse().unwrap()
    }

    #[test]
    fn follows_the_log_tree_and_counters_grow() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let uid = "0f3e9c1a-2b4d-4e5f-8a6b-7c8d9e0f1a2b";
        let id = "a".repeat(64);
        let dir = root.join(format!("var/log/pods/shop_web-1_{uid}/app"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("0.log"), "").unwrap();
        let links = root.join("var/log/containers");
        fs::create_dir_all(&links).unwrap();
        std::os::unix::fs::symlink(
            dir.join("0.log"),
            links.join(format!("web-1_shop_app-{id}.log")),
        )
        .unwrap();
        let mut fake = FakeCgroups::new(root, 1);
        assert_eq!(fake.update().unwrap(), 1);
        let pod = fake
            .cgroup_root()
            .join("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f3e9c1a_2b4d_4e5f_8a6b_7c8d9e0f1a2b.slice");
        let scope = pod.join(format!("cri-containerd-{id}.scope"));
        let first = usage_usec(&scope);
        std::thread::sleep(Duration::from_millis(50));
        fake.update().unwrap();
        assert!(usage_usec(&scope) > first);
        assert!(usage_usec(&pod) >= usage_usec(&scope));
        assert!(usage_usec(fake.cgroup_root()) > usage_usec(&pod));
        let current: u64 = fs::read_to_string(scope.join("memory.current"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(current >= 16 * MIB && current % PAGE == 0, "{current}");
        // Two scopes: the container and the sandbox.
        assert_eq!(
            fs::read_dir(&pod)
                .unwrap()
                .filter(|e| e.as_ref().unwrap().path().is_dir())
                .count(),
            2
        );
        // The container's log gone (pod deleted): its cgroups go too.
        fs::remove_dir_all(root.join("var/log/pods")).unwrap();
        assert_eq!(fake.update().unwrap(), 0);
        assert!(!pod.exists());
    }
}
