//! # kelp-sim
//!
//! A simulated Kubernetes node for testing log agents: it writes the pod log tree exactly as
//! containerd and the kubelet do, fast, from real log lines.
//!
//! - A **runtime** thread plays containerd: it writes each container's output as CRI records
//!   (`<RFC3339Nano> <stream> <P|F> <content>`, lines over 16 KiB split into 16384-byte `P`
//!   records) into `<root>/var/log/pods/<ns>_<pod>_<uid>/<container>/<restart>.log`, and makes
//!   the `<root>/var/log/containers/<pod>_<ns>_<container>-<id>.log` symlinks.
//! - A **kubelet** thread rotates live files that reached the maximum size (gzip and all,
//!   spec §3.2), asks for container restarts and pod deletions on schedule, and garbage-
//!   collects dead instances and deleted pods.
//! - Content is replayed from the corpus embedded in the binary (access logs, JSON, Java
//!   stack traces, klog, syslog) or from a directory; everything is derived from a seed.
//! - A **ledger** (JSON Lines, [`LedgerEntry`]) lists every logical line written with its
//!   SHA-256, so a test can prove an agent lost nothing; [`verify`] reads a tree back.
//!
//! - Optionally, a fake cgroup v2 tree ([`cgroups`]) whose counters follow the running
//!   containers, for the resource metrics collector.
//!
//! Main types: [`SimConfig`] (what to simulate), [`Simulator`] (runs it), [`Report`] (progress
//! and totals), [`SimError`].
//!
//! ```
//! use std::sync::atomic::AtomicBool;
//! use kelp_sim::{SimConfig, Simulator, StopReason};
//!
//! let dir = tempfile::tempdir()?;
//! let config = SimConfig {
//!     root: dir.path().to_path_buf(),
//!     pods: 3,
//!     lines: Some(2_000),
//!     seed: 7,
//!     ..SimConfig::default()
//! };
//! let sim = Simulator::new(config)?;
//! let stop = AtomicBool::new(false); // raise it from another thread to stop early
//! let report = sim.run(&stop, |progress| eprintln!("{progress}"))?;
//! assert_eq!(report.lines, 2_000);
//! assert_eq!(report.stopped_by, Some(StopReason::Lines));
//!
//! let tree = kelp_sim::verify::scan(dir.path())?;
//! assert_eq!(tree.pods.len(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod cgroups;
mod clock;
mod config;
mod corpus;
mod error;
mod feed;
mod fsx;
mod kubelet;
mod ledger;
mod names;
mod protocol;
mod report;
mod rng;
mod rotate;
mod runtime;
mod sim;
pub mod verify;

pub use clock::ClockJump;
pub use config::SimConfig;
pub use corpus::NOTICE;
pub use error::SimError;
pub use ledger::LedgerEntry;
pub use report::{Report, StopReason};
pub use sim::Simulator;

#[cfg(test)]
mod tests;
