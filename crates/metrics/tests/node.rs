//! Node figures: fixture roots for each source, and this machine's real ones.

use std::fs;
use std::path::Path;

use kelp_metrics::cgroup::Usage;
use kelp_metrics::node::{
    detect, read_cgroup_v1, read_cgroup_v2, read_node, read_proc, NodeSource,
};
use kelp_metrics::MetricsError;

#[test]
fn v2_root_emulates_memory_current() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    crate::fixture::cgroup_root(root);
    fs::write(
        root.join("cpu.stat"),
        "usage_usec 1234560000\nuser_usec 1\nsystem_usec 2\n",
    )
    .unwrap();
    fs::write(
        root.join("memory.stat"),
        "anon 1000000000\nfile 1000000000\nkernel 5\ninactive_file 121455616\n",
    )
    .unwrap();
    assert_eq!(detect(root), NodeSource::CgroupV2);
    let s = read_node(root, Path::new("/nonexistent")).unwrap();
    assert_eq!(s.source, NodeSource::CgroupV2);
    // anon + file − inactive_file
    assert_eq!(
        s.usage,
        Usage {
            cpu_ns: 1_234_560_000_000,
            memory_working_set: 1_878_544_384
        }
    );
    fs::write(root.join("memory.stat"), "anon 1\ninactive_file 0\n").unwrap();
    assert_eq!(
        read_cgroup_v2(root).unwrap_err().to_string(),
        format!(
            "{} has no \"file\" field",
            root.join("memory.stat").display()
        )
    );
}

#[test]
fn v1_roots() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::create_dir_all(root.join("cpu,cpuacct")).unwrap();
    fs::create_dir_all(root.join("memory")).unwrap();
    fs::write(root.join("cpu,cpuacct/cpuacct.usage"), "18402526435635\n").unwrap();
    fs::write(root.join("memory/memory.usage_in_bytes"), "23239221248\n").unwrap();
    fs::write(
        root.join("memory/memory.stat"),
        "cache 1\ninactive_file 5\ntotal_cache 2\ntotal_inactive_file 8324124672\n",
    )
    .unwrap();
    assert_eq!(detect(root), NodeSource::CgroupV1);
    assert_eq!(
        read_cgroup_v1(root).unwrap(),
        Usage {
            cpu_ns: 18_402_526_435_635,
            memory_working_set: 14_915_096_576
        }
    );
}

#[test]
fn proc_fallback() {
    let tmp = tempfile::tempdir().unwrap();
    let proc = tmp.path();
    fs::write(proc.join("stat"), "cpu  1484364 129188 218031 643504 9616 0 3725 2396 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 1\n").unwrap();
    fs::write(proc.join("meminfo"), "MemTotal:       24684092 kB\nMemFree:         1305988 kB\nMemAvailable:   19691860 kB\nInactive(file):  7965496 kB\n").unwrap();
    assert_eq!(detect(tmp.path()), NodeSource::Proc);
    // (1484364 + 129188 + 218031 + 0 + 3725 + 2396) jiffies × 10 ms
    assert_eq!(
        read_proc(proc).unwrap(),
        Usage {
            cpu_ns: 1_837_704 * 10_000_000,
            memory_working_set: (24_684_092 - 1_305_988 - 7_965_496) * 1024
        }
    );
    fs::write(proc.join("stat"), "cpu  1 2 3\n").unwrap();
    assert!(matches!(read_proc(proc), Err(MetricsError::Parse { .. })));
    fs::write(proc.join("stat"), "intr 1\n").unwrap();
    assert!(matches!(
        read_proc(proc),
        Err(MetricsError::MissingKey { key: "cpu", .. })
    ));
}

fn mem_total() -> u64 {
    let m = fs::read_to_string("/proc/meminfo").unwrap();
    let line = m.lines().find(|l| l.starts_with("MemTotal:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// CPU time the machine can have spent since boot, with margin.
fn cpu_budget_ns() -> u64 {
    let up: f64 = fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let cpus = std::thread::available_parallelism().unwrap().get() as f64;
    // available_parallelism can be lower than the online CPUs inside a cgroup quota.
    let online = fs::read_to_string("/proc/stat")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count() as f64;
    (up * cpus.max(online) * 1e9 * 1.05) as u64
}

fn sane(u: Usage, what: &str) {
    println!(
        "{what}: cpu {} s, working set {} MiB",
        u.cpu_ns / 1_000_000_000,
        u.memory_working_set >> 20
    );
    assert!(u.cpu_ns > 0 && u.cpu_ns < cpu_budget_ns(), "{what}: {u:?}");
    assert!(
        u.memory_working_set > 0 && u.memory_working_set < mem_total(),
        "{what}: {u:?}"
    );
}

#[test]
fn real_proc() {
    sane(read_proc(Path::new("/proc")).unwrap(), "/proc");
}

#[test]
fn real_node_from_sys_fs_cgroup() {
    let root = Path::new("/sys/fs/cgroup");
    let s = read_node(root, Path::new("/proc")).unwrap();
    println!("source: {:?}", s.source);
    sane(s.usage, "read_node");
    let proc = read_proc(Path::new("/proc")).unwrap();
    if s.source != NodeSource::Proc {
        // The root cgroup and /proc count the same CPU time and about the same memory.
        let (a, b) = (s.usage.cpu_ns as f64, proc.cpu_ns as f64);
        assert!((a - b).abs() / b < 0.2, "cgroup {a} vs proc {b}");
        let (a, b) = (
            s.usage.memory_working_set as f64,
            proc.memory_working_set as f64,
        );
        assert!(
            (a - b).abs() / (mem_total() as f64) < 0.2,
            "cgroup {a} vs proc {b}"
        );
    }
    match detect(root) {
        NodeSource::CgroupV2 => sane(read_cgroup_v2(root).unwrap(), "cgroup v2 root"),
        other => println!(
            "cgroup v2 root check skipped: /sys/fs/cgroup is not cgroup v2 here ({other:?})"
        ),
    }
}

/// A hybrid v1 host mounts an empty-controller v2 tree at `unified`: CPU is there, memory
/// is not, and that is a clear error.
#[test]
fn real_unified_hierarchy_without_memory() {
    let unified = Path::new("/sys/fs/cgroup/unified");
    if !unified.join("cpu.stat").is_file() || unified.join("memory.stat").is_file() {
        println!("skipped: no memory-less /sys/fs/cgroup/unified on this machine");
        return;
    }
    let err = read_cgroup_v2(unified).unwrap_err();
    assert!(matches!(err, MetricsError::Io { .. }), "{err}");
    println!("{err}");
}
