//! The kubelet's pod and container cgroups on a cgroup v2 hierarchy (spec §5.2).
//!
//! [`scan`] walks `<root>/kubepods.slice` (systemd driver) or `<root>/kubepods` (cgroupfs
//! driver), Guaranteed pods directly below it and Burstable and BestEffort pods one level
//! down, and reads each pod cgroup and each container cgroup in it (containerd's
//! `cri-containerd-<id>.scope` or `<id>`, CRI-O's `crio-<id>.scope` or `crio-<id>`;
//! CRI-O's `crio-conmon-*` is not a container). Per cgroup:
//! - CPU: `cpu.stat` `usage_usec` × 1000 (cumulative nanoseconds);
//! - memory working set: `max(0, memory.current − memory.stat inactive_file)`.
//!
//! A pod or container whose files are missing or malformed is left out and listed in
//! [`Scan::skipped`] with the error; nothing panics. The pod sandbox (pause) container
//! has a cgroup like any other: it is listed here, and the mapping
//! ([`crate::mapping`]) leaves it out of the containers since it has no log.

mod files;
mod names;
mod scan;

pub(crate) use files::Reader;
pub use files::{working_set, Usage};
pub use names::{Driver, Qos, Runtime};
pub(crate) use scan::ScanState;
pub use scan::{scan, scan_filtered, scan_with_clock, ContainerCgroup, PodCgroup, Scan, Skipped};

pub(crate) use names::is_container_id;

/// Where the unified cgroup hierarchy is mounted on a cgroup v2 node.
pub const DEFAULT_ROOT: &str = "/sys/fs/cgroup";
