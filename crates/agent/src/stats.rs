//! The agent's own counters, for `/metrics` and `/ready`: relaxed atomics bumped once per
//! batch or per file event (never per line), rendered as Prometheus text on demand.
//!
//! One [`Stats`] per running agent, created by the caller and passed to
//! [`crate::run_with`]; the HTTP endpoint that serves [`Stats::render`] is the binary's.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use kelp_client::ClientStats;
use kelp_model::StreamEntries;

use crate::checkpoint::Mark;

/// Counters and gauges of one agent.
#[derive(Debug, Default)]
pub struct Stats {
    /// Logical lines read and handed to a batch.
    pub lines_read: AtomicU64,
    /// Bytes of those lines (content, without the CRI framing).
    pub bytes_read: AtomicU64,
    /// Lines acknowledged by the sink.
    pub lines_shipped: AtomicU64,
    /// Bytes of those lines.
    pub bytes_shipped: AtomicU64,
    /// Batches acknowledged by the sink.
    pub batches_shipped: AtomicU64,
    /// Batches being sent right now.
    pub batches_in_flight: AtomicU64,
    /// Files the agent holds open (updated every discovery scan).
    pub open_files: AtomicU64,
    /// Unix time in milliseconds of the last acknowledged batch (0: none yet).
    pub last_push_unix_ms: AtomicU64,
    /// Checkpoint files that could not be written.
    pub checkpoint_errors: AtomicU64,
    /// Batches a sink refused for good (the agent stops).
    pub sink_errors: AtomicU64,
    /// Entries the server refused inside a batch it otherwise stored (`N entries
    /// rejected: ...`, say older than its out-of-order window after the node's clock
    /// stepped back): counted and logged, the batch acknowledged (a retry cannot help).
    pub entries_rejected: AtomicU64,
    /// Records that did not parse, in chains let go …
    pub bad_records_done: AtomicU64,
    /// … and in the chains open at the last discovery scan.
    pub bad_records_live: AtomicU64,
    /// Held files let go of unread over `max_held_files` / `max_held_bytes` (a loss),
    /// their bytes and lines (updated every discovery scan).
    pub shed_files: AtomicU64,
    /// See `shed_files`.
    pub shed_bytes: AtomicU64,
    /// See `shed_files`.
    pub shed_lines: AtomicU64,
    /// inotify event-queue overflows (each followed by a full rescan).
    pub inotify_overflows: AtomicU64,
    /// Journal entries (or files) that could not be read and were skipped.
    pub journal_errors: AtomicU64,
    /// Journal entries without a `MESSAGE` field, skipped.
    pub journal_no_message: AtomicU64,
    /// Set once checkpoints are loaded and the first discovery scan ran.
    pub ready: AtomicBool,
    /// Whether this agent holds the events Lease and stores the cluster's Events.
    pub events_leader: AtomicBool,
    /// Kubernetes Events entries the sink acknowledged.
    pub events_shipped: AtomicU64,
    /// Container termination entries the sink acknowledged.
    pub terminations_shipped: AtomicU64,
    client: Mutex<Option<Arc<ClientStats>>>,
    /// The acknowledged resume point of every file, for the lag.
    acked: Mutex<BTreeMap<String, Mark>>,
}

impl Stats {
    /// Counts a batch cut by the reader.
    pub(crate) fn read(&self, streams: &[StreamEntries]) {
        let (lines, bytes) = size(streams);
        self.lines_read.fetch_add(lines, Relaxed);
        self.bytes_read.fetch_add(bytes, Relaxed);
    }

    /// Counts a batch the sink acknowledged.
    pub(crate) fn shipped(&self, streams: &[StreamEntries]) {
        let (lines, bytes) = size(streams);
        self.lines_shipped.fetch_add(lines, Relaxed);
        self.bytes_shipped.fetch_add(bytes, Relaxed);
        self.batches_shipped.fetch_add(1, Relaxed);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        self.last_push_unix_ms
            .store(now.as_millis() as u64, Relaxed);
    }

    /// Records acknowledged resume points.
    pub(crate) fn acked<'a>(&self, marks: impl IntoIterator<Item = (&'a String, &'a Mark)>) {
        let mut acked = self.acked.lock().unwrap_or_else(|p| p.into_inner());
        for (k, m) in marks {
            acked.insert(k.clone(), m.clone());
        }
    }

    /// Reports the sink's HTTP client counters too.
    pub(crate) fn set_client(&self, client: Option<Arc<ClientStats>>) {
        *self.client.lock().unwrap_or_else(|p| p.into_inner()) = client;
    }

    /// The lag of every file with an acknowledged resume point: bytes of its container log
    /// not acknowledged yet (the live file's size minus the acknowledged offset when that is
    /// in the live file; plus the rest of a rotated file still there when it is in one).
    pub fn lag(&self, pods_dir: &Path) -> Vec<(String, u64)> {
        let acked = self.acked.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut out = Vec::with_capacity(acked.len());
        for (key, mark) in acked {
            let live = pods_dir.join(&key);
            let Ok(meta) = std::fs::metadata(&live) else {
                continue;
            };
            let lag = if (meta.dev(), meta.ino()) == (mark.dev, mark.ino) {
                meta.len().saturating_sub(mark.offset)
            } else {
                let rest = live
                    .parent()
                    .and_then(|d| std::fs::read_dir(d).ok())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter_map(|e| e.metadata().ok())
                    .find(|m| (m.dev(), m.ino()) == (mark.dev, mark.ino) && m.is_file())
                    .map_or(0, |m| m.len().saturating_sub(mark.offset));
                meta.len() + rest
            };
            out.push((key, lag));
        }
        out
    }

    /// Prometheus text exposition of every metric; `pods_dir` for the per-file lag.
    pub fn render(&self, pods_dir: &Path) -> String {
        let mut s = String::with_capacity(4096);
        let mut one = |name: &str, kind: &str, help: &str, v: u64| {
            let _ = write!(
                s,
                "# HELP kelp_agent_{name} {help}\n# TYPE kelp_agent_{name} {kind}\nkelp_agent_{name} {v}\n"
            );
        };
        let g = |a: &AtomicU64| a.load(Relaxed);
        one(
            "lines_read_total",
            "counter",
            "Log lines read from files.",
            g(&self.lines_read),
        );
        one(
            "bytes_read_total",
            "counter",
            "Bytes of log lines read from files.",
            g(&self.bytes_read),
        );
        one(
            "lines_shipped_total",
            "counter",
            "Log lines the sink acknowledged.",
            g(&self.lines_shipped),
        );
        one(
            "bytes_shipped_total",
            "counter",
            "Bytes of log lines the sink acknowledged.",
            g(&self.bytes_shipped),
        );
        one(
            "batches_shipped_total",
            "counter",
            "Batches the sink acknowledged.",
            g(&self.batches_shipped),
        );
        one(
            "batches_in_flight",
            "gauge",
            "Batches being sent now.",
            g(&self.batches_in_flight),
        );
        one(
            "open_files",
            "gauge",
            "Log files held open.",
            g(&self.open_files),
        );
        one(
            "events_leader",
            "gauge",
            "1 while this agent holds the events Lease and stores the cluster's Events.",
            u64::from(self.events_leader.load(Relaxed)),
        );
        one(
            "kubernetes_events_shipped_total",
            "counter",
            "Kubernetes Events entries the sink acknowledged.",
            g(&self.events_shipped),
        );
        one(
            "terminations_shipped_total",
            "counter",
            "Container termination entries the sink acknowledged.",
            g(&self.terminations_shipped),
        );
        let last = g(&self.last_push_unix_ms);
        let _ = write!(
            s,
            "# HELP kelp_agent_last_push_timestamp_seconds Unix time of the last acknowledged batch.\n\
             # TYPE kelp_agent_last_push_timestamp_seconds gauge\n\
             kelp_agent_last_push_timestamp_seconds {}.{:03}\n",
            last / 1000,
            last % 1000
        );
        let client = self
            .client
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let c = |f: fn(&ClientStats) -> &AtomicU64| client.as_deref().map_or(0, |c| g(f(c)));
        let _ = write!(
            s,
            "# HELP kelp_agent_retries_total Requests to the sink that were retried.\n\
             # TYPE kelp_agent_retries_total counter\nkelp_agent_retries_total {}\n",
            c(|c| &c.retries)
        );
        let _ = write!(
            s,
            "# HELP kelp_agent_replica_failovers_total Server replicas marked down (their streams went to the next replica).\n\
             # TYPE kelp_agent_replica_failovers_total counter\nkelp_agent_replica_failovers_total {}\n",
            c(|c| &c.failovers)
        );
        s.push_str("# HELP kelp_agent_errors_total Failures by kind.\n# TYPE kelp_agent_errors_total counter\n");
        for (kind, v) in [
            ("transport", c(|c| &c.transport_errors)),
            ("throttled", c(|c| &c.throttled)),
            ("server", c(|c| &c.server_errors)),
            ("rejected", c(|c| &c.rejected)),
            ("sink", g(&self.sink_errors)),
            ("checkpoint", g(&self.checkpoint_errors)),
            ("journal", g(&self.journal_errors)),
            (
                "bad_record",
                g(&self.bad_records_done) + g(&self.bad_records_live),
            ),
        ] {
            let _ = writeln!(s, "kelp_agent_errors_total{{kind=\"{kind}\"}} {v}");
        }
        for (name, help, v) in [
            (
                "shed_files_total",
                "Held files let go of unread over the held-file bound (lost).",
                g(&self.shed_files),
            ),
            (
                "shed_bytes_total",
                "Unread bytes of those files (lost).",
                g(&self.shed_bytes),
            ),
            (
                "shed_lines_total",
                "Unread lines of those files (lost).",
                g(&self.shed_lines),
            ),
            (
                "entries_rejected_total",
                "Entries the server refused inside batches it stored (too old for its out-of-order window, too long).",
                g(&self.entries_rejected),
            ),
            (
                "inotify_overflows_total",
                "inotify event-queue overflows, each followed by a full rescan.",
                g(&self.inotify_overflows),
            ),
            (
                "journal_no_message_total",
                "Journal entries without a MESSAGE field, skipped.",
                g(&self.journal_no_message),
            ),
        ] {
            let _ = write!(
                s,
                "# HELP kelp_agent_{name} {help}\n# TYPE kelp_agent_{name} counter\nkelp_agent_{name} {v}\n"
            );
        }
        // Multi-line joining and policy (`process.rs`): `kelp_agent_<name>_total`.
        for (name, v) in crate::process::counters().snapshot() {
            let _ = write!(
                s,
                "# HELP kelp_agent_{name}_total Processing on the node: {}.\n# TYPE kelp_agent_{name}_total counter\nkelp_agent_{name}_total {v}\n",
                name.replace('_', " ")
            );
        }
        s.push_str("# HELP kelp_agent_file_lag_bytes Bytes of a container log not acknowledged yet.\n# TYPE kelp_agent_file_lag_bytes gauge\n");
        for (key, lag) in self.lag(pods_dir) {
            let _ = writeln!(
                s,
                "kelp_agent_file_lag_bytes{{file=\"{}\"}} {lag}",
                escape(&key)
            );
        }
        s
    }
}

fn size(streams: &[StreamEntries]) -> (u64, u64) {
    let mut lines = 0;
    let mut bytes = 0;
    for s in streams {
        lines += s.entries.len() as u64;
        bytes += s.entries.iter().map(|e| e.line.len() as u64).sum::<u64>();
    }
    (lines, bytes)
}

/// A Prometheus label value.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
