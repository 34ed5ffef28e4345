//! Node-level CPU and memory working set, from the root cgroup as the kubelet takes them
//! (spec §5.2), with `/proc` as Kelp's last resort.
//!
//! | source | CPU (cumulative ns) | working set |
//! |---|---|---|
//! | cgroup v2 root | `cpu.stat` `usage_usec` × 1000 | `anon + file` of `memory.stat` (the root has no `memory.current`; runc emulates it so) − `inactive_file` |
//! | cgroup v1 root | `cpuacct/cpuacct.usage` | `memory/memory.usage_in_bytes` − `memory.stat` `total_inactive_file` |
//! | `/proc` (Kelp's fallback, not upstream) | `/proc/stat` `cpu` line: (user + nice + system + irq + softirq + steal) jiffies × 10 ms | `/proc/meminfo` (MemTotal − MemFree) − Inactive(file) |
//!
//! Working sets are `max(0, usage − inactive_file)`. `/proc/stat` counts in `USER_HZ`,
//! which is 100 on every Linux architecture the kubelet runs on.

use std::path::{Path, PathBuf};

use kelp_model::Timestamp;

use crate::cgroup::{working_set, Reader, Usage};
use crate::error::MetricsError;

/// Where node figures were read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeSource {
    /// The root of a cgroup v2 hierarchy.
    CgroupV2,
    /// The roots of the v1 `cpuacct` and `memory` hierarchies.
    CgroupV1,
    /// `/proc/stat` and `/proc/meminfo`.
    Proc,
}

/// One node sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeSample {
    /// Where the figures come from.
    pub source: NodeSource,
    /// Cumulative CPU and working set.
    pub usage: Usage,
    /// When they were read.
    pub time: Timestamp,
}

/// Which source [`read_node`] uses for `cgroup_root`: v2 when it has `cgroup.controllers`,
/// v1 when it has `cpuacct/cpuacct.usage`, otherwise `/proc`.
pub fn detect(cgroup_root: &Path) -> NodeSource {
    if cgroup_root.join("cgroup.controllers").is_file() {
        NodeSource::CgroupV2
    } else if v1_cpuacct(cgroup_root).is_some() {
        NodeSource::CgroupV1
    } else {
        NodeSource::Proc
    }
}

/// Reads the node figures from the source [`detect`] picks (`cgroup_root` is normally
/// `/sys/fs/cgroup`, `proc_root` `/proc`).
///
/// # Errors
///
/// Those of [`read_cgroup_v2`], [`read_cgroup_v1`] or [`read_proc`]; the chosen source
/// failing is an error, there is no silent fallback.
pub fn read_node(cgroup_root: &Path, proc_root: &Path) -> Result<NodeSample, MetricsError> {
    read_with(
        &mut Reader::default(),
        detect(cgroup_root),
        cgroup_root,
        proc_root,
    )
}

/// [`read_node`] from a `source` detected before, with a reader kept between
/// collections (the collector's).
pub(crate) fn read_with(
    r: &mut Reader,
    source: NodeSource,
    cgroup_root: &Path,
    proc_root: &Path,
) -> Result<NodeSample, MetricsError> {
    let usage = match source {
        NodeSource::CgroupV2 => v2_with(r, cgroup_root)?,
        NodeSource::CgroupV1 => v1_with(r, cgroup_root)?,
        NodeSource::Proc => proc_with(r, proc_root)?,
    };
    Ok(NodeSample {
        source,
        usage,
        time: Timestamp::now(),
    })
}

/// The v2 root cgroup: `cpu.stat` `usage_usec`, and `memory.stat` `anon + file −
/// inactive_file`.
///
/// # Errors
///
/// [`MetricsError::Io`], [`MetricsError::Parse`] or [`MetricsError::MissingKey`] for
/// `cpu.stat` and `memory.stat`.
pub fn read_cgroup_v2(root: &Path) -> Result<Usage, MetricsError> {
    v2_with(&mut Reader::default(), root)
}

fn v2_with(r: &mut Reader, root: &Path) -> Result<Usage, MetricsError> {
    let [usage_usec] = r.keyed(&root.join("cpu.stat"), ["usage_usec"], ' ')?;
    let [anon, file, inactive] = r.keyed(
        &root.join("memory.stat"),
        ["anon", "file", "inactive_file"],
        ' ',
    )?;
    Ok(Usage {
        cpu_ns: usage_usec.saturating_mul(1000),
        memory_working_set: working_set(anon.saturating_add(file), inactive),
    })
}

/// The v1 roots: `cpuacct.usage`, and `memory.usage_in_bytes − total_inactive_file`.
///
/// # Errors
///
/// [`MetricsError::Io`] when there is no `cpuacct` hierarchy, and those of reading
/// `cpuacct.usage`, `memory.usage_in_bytes` and `memory.stat`.
pub fn read_cgroup_v1(root: &Path) -> Result<Usage, MetricsError> {
    v1_with(&mut Reader::default(), root)
}

fn v1_with(r: &mut Reader, root: &Path) -> Result<Usage, MetricsError> {
    let cpuacct = v1_cpuacct(root).unwrap_or_else(|| root.join("cpuacct/cpuacct.usage"));
    let cpu_ns = r.single(&cpuacct)?;
    let memory = root.join("memory");
    let usage = r.single(&memory.join("memory.usage_in_bytes"))?;
    let [inactive] = r.keyed(&memory.join("memory.stat"), ["total_inactive_file"], ' ')?;
    Ok(Usage {
        cpu_ns,
        memory_working_set: working_set(usage, inactive),
    })
}

/// `/proc/stat` and `/proc/meminfo` under `proc_root`.
///
/// # Errors
///
/// [`MetricsError::Io`], or [`MetricsError::Parse`]/[`MetricsError::MissingKey`] when a
/// file lacks the `cpu` line or a meminfo field.
pub fn read_proc(proc_root: &Path) -> Result<Usage, MetricsError> {
    proc_with(&mut Reader::default(), proc_root)
}

fn proc_with(r: &mut Reader, proc_root: &Path) -> Result<Usage, MetricsError> {
    const NS_PER_JIFFY: u64 = 1_000_000_000 / 100;
    let stat = proc_root.join("stat");
    let text = r.read(&stat)?;
    let line = text
        .lines()
        .find(|l| l.starts_with("cpu "))
        .ok_or_else(|| MetricsError::MissingKey {
            path: stat.clone(),
            key: "cpu",
        })?;
    let fields: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| MetricsError::parse(&stat, "cpu line: expected unsigned integers"))?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]; guest time is
    // already counted in user.
    if fields.len() < 8 {
        return Err(MetricsError::parse(
            &stat,
            format!("cpu line: {} fields, expected at least 8", fields.len()),
        ));
    }
    let busy: u64 = [0, 1, 2, 5, 6, 7].iter().map(|&i| fields[i]).sum();
    let [total, free, inactive] = r.keyed(
        &proc_root.join("meminfo"),
        ["MemTotal", "MemFree", "Inactive(file)"],
        ':',
    )?;
    Ok(Usage {
        cpu_ns: busy.saturating_mul(NS_PER_JIFFY),
        memory_working_set: working_set(total.saturating_sub(free), inactive).saturating_mul(1024),
    })
}

/// The v1 `cpuacct.usage` file: `cpuacct/` or the combined `cpu,cpuacct/`.
fn v1_cpuacct(root: &Path) -> Option<PathBuf> {
    ["cpuacct", "cpu,cpuacct"]
        .iter()
        .map(|d| root.join(d).join("cpuacct.usage"))
        .find(|p| p.is_file())
}
