//! Builders for cgroup v2 and pod log trees, as the kubelet and runtimes lay them out.

use std::fs;
use std::path::{Path, PathBuf};

use kelp_metrics::cgroup::{Driver, Qos, Runtime};
use kelp_metrics::collect::Sources;

/// A node under `dir`: the cgroup root (with its controller files, see [`cgroup_root`]),
/// `proc`, `pods` and `containers`, and the root's `cpu.stat` and `memory.stat`.
pub fn node(dir: &Path, root_usage_usec: u64, root_memory_stat: &str) -> Sources {
    let src = Sources {
        cgroup_root: dir.join("cg"),
        proc_root: dir.join("proc"),
        pods_dir: dir.join("pods"),
        containers_dir: dir.join("containers"),
    };
    cgroup_root(&src.cgroup_root);
    fs::write(
        src.cgroup_root.join("cpu.stat"),
        format!("usage_usec {root_usage_usec}\n"),
    )
    .unwrap();
    fs::write(src.cgroup_root.join("memory.stat"), root_memory_stat).unwrap();
    src
}

/// A 64-hex container id made from `n`.
pub fn id(n: u32) -> String {
    format!("{n:08x}").repeat(8)
}

/// A pod UID made from `n`.
pub fn uid(n: u32) -> String {
    format!("{n:08x}-2b4d-4e5f-8a6b-7c8d9e0f1a2b")
}

/// Writes a cgroup's `cpu.stat`, `memory.current` and `memory.stat` (with the noise of
/// the real files around the keys read).
pub fn cgroup(dir: &Path, usage_usec: u64, current: u64, inactive_file: u64) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("cgroup.procs"), "").unwrap();
    fs::write(
        dir.join("cpu.stat"),
        format!("usage_usec {usage_usec}\nuser_usec 1\nsystem_usec 2\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n"),
    )
    .unwrap();
    fs::write(dir.join("memory.current"), format!("{current}\n")).unwrap();
    fs::write(
        dir.join("memory.stat"),
        format!("anon 100\nfile 200\nactive_anon 0\ninactive_anon 0\nactive_file 1\ninactive_file {inactive_file}\nworkingset_refault_file 0\n"),
    )
    .unwrap();
}

/// The pod cgroup directory, relative to the cgroup root.
pub fn pod_dir(driver: Driver, qos: Qos, uid: &str) -> PathBuf {
    let u = uid.replace('-', "_");
    match (driver, qos) {
        (Driver::Systemd, Qos::Guaranteed) => format!("kubepods.slice/kubepods-pod{u}.slice"),
        (Driver::Systemd, Qos::Burstable) => {
            format!("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice")
        }
        (Driver::Systemd, Qos::BestEffort) => {
            format!("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{u}.slice")
        }
        (Driver::Cgroupfs, Qos::Guaranteed) => format!("kubepods/pod{uid}"),
        (Driver::Cgroupfs, Qos::Burstable) => format!("kubepods/burstable/pod{uid}"),
        (Driver::Cgroupfs, Qos::BestEffort) => format!("kubepods/besteffort/pod{uid}"),
    }
    .into()
}

/// The container cgroup's name inside its pod cgroup.
pub fn container_dir(driver: Driver, runtime: Runtime, id: &str) -> String {
    match (driver, runtime) {
        (Driver::Systemd, Runtime::Containerd) => format!("cri-containerd-{id}.scope"),
        (Driver::Systemd, Runtime::CriO) => format!("crio-{id}.scope"),
        (Driver::Cgroupfs, Runtime::Containerd) => id.to_owned(),
        (Driver::Cgroupfs, Runtime::CriO) => format!("crio-{id}"),
    }
}

/// A cgroup v2 root with the kernel's marker file.
pub fn cgroup_root(root: &Path) {
    fs::create_dir_all(root).unwrap();
    fs::write(
        root.join("cgroup.controllers"),
        "cpuset cpu io memory pids\n",
    )
    .unwrap();
}

/// A container's log file and legacy symlink: `<pods>/<ns>_<pod>_<uid>/<c>/<restart>.log`
/// and `<containers>/<pod>_<ns>_<c>-<id>.log` pointing at it.
pub fn log(
    [pods, containers]: [&Path; 2],
    ns: &str,
    pod: &str,
    uid: &str,
    c: &str,
    restart: u32,
    id: &str,
) {
    let dir = pods.join(format!("{ns}_{pod}_{uid}")).join(c);
    fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{restart}.log"));
    fs::write(&file, "").unwrap();
    fs::create_dir_all(containers).unwrap();
    std::os::unix::fs::symlink(&file, containers.join(format!("{pod}_{ns}_{c}-{id}.log"))).unwrap();
}
