//! Counters shared by the simulator's threads, and the [`Report`] built from them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Live counters: the runtime thread adds written lines, the kubelet thread its actions.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) lines: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) records: AtomicU64,
    pub(crate) partial_records: AtomicU64,
    pub(crate) long_lines: AtomicU64,
    pub(crate) unterminated_lines: AtomicU64,
    pub(crate) rotations: AtomicU64,
    pub(crate) rotations_skipped: AtomicU64,
    pub(crate) gzipped: AtomicU64,
    pub(crate) rotated_deleted: AtomicU64,
    pub(crate) restarts: AtomicU64,
    pub(crate) instances_collected: AtomicU64,
    pub(crate) deletions: AtomicU64,
    pub(crate) containers: AtomicU64,
}

/// Adds `n` to a counter.
pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Relaxed);
}

/// Why a simulation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// The line limit ([`crate::SimConfig::lines`]) was reached.
    Lines,
    /// The time limit ([`crate::SimConfig::duration`]) passed.
    Duration,
    /// The caller's stop flag was raised (Ctrl-C, SIGTERM, `kelp demo` ending).
    Stopped,
}

/// What the simulation has done so far (progress) or in total (final report).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    /// The seed used.
    pub seed: u64,
    /// Seconds since the simulation started.
    pub elapsed_secs: f64,
    /// Logical lines written.
    pub lines: u64,
    /// Bytes written to log files (CRI records with their framing).
    pub bytes: u64,
    /// Write rate in MB/s (10^6 bytes) over the whole run.
    pub mb_per_sec: f64,
    /// CRI records written (a long line is several).
    pub records: u64,
    /// `P` records among them.
    pub partial_records: u64,
    /// Logical lines over 16 KiB (split into `P` records).
    pub long_lines: u64,
    /// Lines left unterminated by a container exit (ending in a `P` record).
    pub unterminated_lines: u64,
    /// Log rotations done.
    pub rotations: u64,
    /// Rotations put off because the rotated name (one-second resolution) was taken.
    pub rotations_skipped: u64,
    /// Rotated files compressed.
    pub gzipped: u64,
    /// Rotated files deleted to keep `max_files`.
    pub rotated_deleted: u64,
    /// Container restarts.
    pub restarts: u64,
    /// Dead container instances removed by garbage collection.
    pub instances_collected: u64,
    /// Pods deleted (and replaced).
    pub deletions: u64,
    /// Pods on the node.
    pub pods: u64,
    /// Containers on the node.
    pub containers: u64,
    /// Why the simulation ended (`None` while it runs).
    pub stopped_by: Option<StopReason>,
}

impl Counters {
    /// A report of the counters now.
    pub(crate) fn report(
        &self,
        seed: u64,
        pods: u32,
        elapsed: Duration,
        stopped_by: Option<StopReason>,
    ) -> Report {
        let get = |c: &AtomicU64| c.load(Relaxed);
        let secs = elapsed.as_secs_f64();
        let bytes = get(&self.bytes);
        Report {
            seed,
            elapsed_secs: secs,
            lines: get(&self.lines),
            bytes,
            mb_per_sec: if secs > 0.0 {
                bytes as f64 / 1e6 / secs
            } else {
                0.0
            },
            records: get(&self.records),
            partial_records: get(&self.partial_records),
            long_lines: get(&self.long_lines),
            unterminated_lines: get(&self.unterminated_lines),
            rotations: get(&self.rotations),
            rotations_skipped: get(&self.rotations_skipped),
            gzipped: get(&self.gzipped),
            rotated_deleted: get(&self.rotated_deleted),
            restarts: get(&self.restarts),
            instances_collected: get(&self.instances_collected),
            deletions: get(&self.deletions),
            pods: u64::from(pods),
            containers: get(&self.containers),
            stopped_by,
        }
    }
}

impl std::fmt::Display for Report {
    /// One line: `lines 1200000  287.1 MB  61.3 MB/s  rotations 12  restarts 1  deletions 0`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "lines {}  {:.1} MB  {:.1} MB/s  rotations {}  gzipped {}  restarts {}  deletions {}",
            self.lines,
            self.bytes as f64 / 1e6,
            self.mb_per_sec,
            self.rotations,
            self.gzipped,
            self.restarts,
            self.deletions
        )
    }
}
