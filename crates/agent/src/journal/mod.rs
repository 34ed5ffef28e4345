//! The node's systemd journal: the kubelet's and the container runtime's logs.
//!
//! Journal files (`<dir>/<machine-id>/system.journal`, archived `system@….journal`,
//! `*.journal~` left by an unclean stop) are read with `sdjournal`, a pure-Rust reader
//! (no libsystemd: the agent's image is static) built without memory mapping, so a file
//! cut or deleted under the agent is an error or a vanished file, never a `SIGBUS`. The
//! format (header, objects, entry arrays, DATA compressed with XZ, LZ4 or ZSTD, compact
//! mode, keyed hash) is its job; see `docs/agent.md`, "The systemd journal".
//!
//! Every `poll_interval` the directory is opened again (new, rotated and vacuumed files
//! are seen that way, and an online file's new entries), entries of the configured units
//! (`_SYSTEMD_UNIT`) strictly after the last one handed out are read in time order across
//! files (`__REALTIME_TIMESTAMP`, then seqnum, file id, offset) and batched. A batch
//! carries the cursor of its last entry as a [`JournalMark`]; the committer writes it to
//! the checkpoint file only once the sink acknowledged the batch and every earlier one, so
//! a restart resumes after the last acknowledged entry: nothing lost, nothing repeated.
//!
//! An entry becomes a line of the stream `{source="journal", unit, level, node}`: `MESSAGE`
//! is the line, `__REALTIME_TIMESTAMP` the time, `PRIORITY` the `level` label (syslog's
//! names: `emerg` … `debug`; absent when the entry has none), `_BOOT_ID` and `_PID`
//! structured metadata (`boot_id`, `pid`). Entries without `MESSAGE` are skipped (their
//! cursor still moves).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kelp_model::{Entry, LabelPair, Labels, StreamEntries, Timestamp};
use sdjournal::{Cursor, EntryRef, Journal, SdJournalError};

use crate::checkpoint::JournalMark;
use crate::stats::Stats;
use crate::{AgentError, Batch};

/// Most objects followed along one `next_*` chain of a journal file (sdjournal's default
/// is 1,000,000).
const MAX_CHAIN_STEPS: usize = 10_000;

/// The units read by default: the kubelet and the container runtimes.
pub const DEFAULT_UNITS: [&str; 4] = [
    "kubelet.service",
    "containerd.service",
    "crio.service",
    "docker.service",
];

/// Where the journal is and what of it to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalConfig {
    /// The journal directory: its `*.journal` files and those of its `<machine-id>/`
    /// subdirectories are read (`/var/log/journal`).
    pub dir: PathBuf,
    /// Entries whose `_SYSTEMD_UNIT` is one of these; empty: every entry.
    pub units: Vec<String>,
    /// Without a checkpoint, entries younger than this are read (Promtail's `max_age`).
    pub max_age: Duration,
    /// How often the directory is read again for new entries and files.
    pub poll_interval: Duration,
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("/var/log/journal"),
            units: DEFAULT_UNITS.iter().map(|u| (*u).to_owned()).collect(),
            max_age: Duration::from_secs(7 * 3600),
            poll_interval: Duration::from_secs(1),
        }
    }
}

impl JournalConfig {
    /// Checks values that cannot work.
    pub fn validate(&self) -> Result<(), AgentError> {
        if self.poll_interval.is_zero() {
            return Err(AgentError::Config(
                "journal.poll_interval_ms must be > 0".into(),
            ));
        }
        if self.units.len() > 60 {
            return Err(AgentError::Config("journal.units: at most 60 units".into()));
        }
        for u in &self.units {
            if u.is_empty() || u.contains('\n') {
                return Err(AgentError::Config(format!("journal.units: bad unit {u:?}")));
            }
        }
        Ok(())
    }
}

/// The `journal:` section of the config file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalSection {
    /// Whether the journal is read (false; the manifests in `deploy/` turn it on).
    pub enabled: bool,
    /// The journal directory (`/var/log/journal`).
    pub dir: PathBuf,
    /// `_SYSTEMD_UNIT`s to read (kubelet, containerd, crio, docker); empty: every entry.
    pub units: Vec<String>,
    /// Without a checkpoint, entries this young are read (25200: 7 h).
    pub max_age_secs: u64,
    /// How often new entries and files are looked for (1000).
    pub poll_interval_ms: u64,
}

impl Default for JournalSection {
    fn default() -> Self {
        let d = JournalConfig::default();
        Self {
            enabled: false,
            dir: d.dir,
            units: d.units,
            max_age_secs: d.max_age.as_secs(),
            poll_interval_ms: d.poll_interval.as_millis() as u64,
        }
    }
}

impl JournalSection {
    /// The reader's settings, when enabled.
    pub fn into_config(self) -> Option<JournalConfig> {
        self.enabled.then(|| JournalConfig {
            dir: self.dir,
            units: self.units,
            max_age: Duration::from_secs(self.max_age_secs),
            poll_interval: Duration::from_millis(self.poll_interval_ms),
        })
    }
}

/// Syslog's priority names, by `PRIORITY` value.
const LEVELS: [&str; 8] = [
    "emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
];

/// Reading stops after this many errors in one pass (a damaged file yields one per entry
/// it cannot read); the next pass starts again after the last good entry.
const MAX_ERRORS_PER_PASS: usize = 64;

/// The stream of a journal entry: `unit` and `level`.
type StreamKey = (String, Option<u8>);

/// Entries read and not yet handed to the senders.
struct Pending {
    streams: Vec<StreamEntries>,
    index: HashMap<StreamKey, usize>,
    bytes: usize,
    /// The last entry taken (also one skipped for having no `MESSAGE`).
    mark: Option<JournalMark>,
}

impl Pending {
    fn new() -> Self {
        Self {
            streams: Vec::new(),
            index: HashMap::new(),
            bytes: 0,
            mark: None,
        }
    }

    fn take(&mut self) -> Option<Batch> {
        let journal = self.mark.take()?;
        self.index.clear();
        self.bytes = 0;
        Some(Batch {
            streams: std::mem::take(&mut self.streams),
            marks: Vec::new(),
            journal: Some(journal),
        })
    }
}

/// What one entry becomes: its stream's key and labels, and the entry, or `None` when it
/// has no `MESSAGE`.
pub(crate) fn convert(entry: &EntryRef, node: &str) -> Option<(StreamKey, Labels, Entry)> {
    let line = entry.get("MESSAGE")?;
    let unit = entry
        .get("_SYSTEMD_UNIT")
        .map(|u| String::from_utf8_lossy(u).into_owned())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    let level = entry
        .get("PRIORITY")
        .and_then(|p| std::str::from_utf8(p).ok())
        .and_then(|p| p.trim().parse::<u8>().ok())
        .filter(|p| (*p as usize) < LEVELS.len());
    let mut pairs = vec![
        ("source", "journal"),
        ("unit", unit.as_str()),
        ("node", node),
    ];
    if let Some(l) = level {
        pairs.push(("level", LEVELS[l as usize]));
    }
    // The names are fixed and valid; a value is any UTF-8 (an empty one is dropped).
    let labels = Labels::from_pairs(pairs).ok()?;
    let mut metadata = vec![LabelPair {
        name: "boot_id".into(),
        value: hex::encode(entry.boot_id()),
    }];
    if let Some(pid) = entry.get("_PID").filter(|p| !p.is_empty()) {
        metadata.push(LabelPair {
            name: "pid".into(),
            value: String::from_utf8_lossy(pid).into_owned(),
        });
    }
    let nanos = i64::try_from(entry.realtime_usec())
        .unwrap_or(i64::MAX)
        .saturating_mul(1000);
    let e = Entry {
        timestamp: Timestamp::from_unix_nanos(nanos),
        line: Bytes::copy_from_slice(line),
        metadata,
    };
    Some(((unit, level), labels, e))
}

/// The journal reader, run by its own thread.
pub(crate) struct JournalReader {
    config: JournalConfig,
    node: String,
    batch_bytes: usize,
    stats: Arc<Stats>,
    /// Resume strictly after this entry; `None`: from `max_age` ago.
    after: Option<JournalMark>,
    /// Whether the last pass failed, so an outage is logged once.
    failing: bool,
}

impl JournalReader {
    pub(crate) fn new(
        config: JournalConfig,
        node: String,
        batch_bytes: usize,
        start: Option<JournalMark>,
        stats: Arc<Stats>,
    ) -> Self {
        Self {
            config,
            node,
            batch_bytes,
            stats,
            after: start,
            failing: false,
        }
    }

    /// Reads until `stop`, handing batches to `tx`; the last one is sent before returning.
    pub(crate) fn run(mut self, stop: &AtomicBool, tx: &SyncSender<Batch>) {
        while !stop.load(Ordering::SeqCst) {
            let began = Instant::now();
            let mut gone = false;
            // A long backlog is left at a batch boundary when the agent stops: the batch
            // handed over is sent, the rest is read again after the restart.
            self.pass(&mut |batch| {
                if tx.send(batch).is_err() {
                    gone = true;
                }
                !gone && !stop.load(Ordering::SeqCst)
            });
            if gone {
                return;
            }
            while !stop.load(Ordering::SeqCst) && began.elapsed() < self.config.poll_interval {
                std::thread::sleep(Duration::from_millis(20).min(self.config.poll_interval));
            }
        }
    }

    /// One pass: every entry after the resume point, in batches of about `batch_bytes`,
    /// the last one partial. `send` returns false to end the pass there (the senders are
    /// gone, or the agent stops); the next pass resumes after the batch it was given.
    pub(crate) fn pass(&mut self, send: &mut dyn FnMut(Batch) -> bool) {
        let cfg = sdjournal::JournalConfig {
            include_journal_tilde: true,
            // A damaged file whose entry-array chain loops was walked a million steps
            // (seconds) before sdjournal gave up (fuzz/regressions/journal_file). journald
            // doubles each new entry array, so real chains are a few dozen long.
            max_object_chain_steps: MAX_CHAIN_STEPS,
            ..sdjournal::JournalConfig::default()
        };
        let journal = match Journal::open_dir_with_config(&self.config.dir, cfg) {
            Ok(j) => j,
            Err(SdJournalError::NotFound) => {
                self.report(None);
                return;
            }
            Err(e) => {
                self.report(Some(&e));
                return;
            }
        };
        // Units are filtered here, not with sdjournal's matches: a match walks the whole
        // entry array of the unit's DATA object in every file before the time bound
        // applies, which made the idle pass (nothing new) cost 0.5 s over 200,000 entries
        // (bench/RESULTS.md); without one, each file seeks to the resume time.
        let mut query = journal.query();
        match &self.after {
            Some(m) => match Cursor::parse(&m.cursor) {
                Ok(c) => {
                    query.since_realtime(m.realtime_usec).after_cursor(c);
                }
                Err(e) => {
                    // Written by this agent, so only a damaged file gets here: read from
                    // the entry's time on (the store drops the duplicates).
                    tracing::warn!(cursor = %m.cursor, error = %e, "journal: bad checkpoint cursor, resuming at its time");
                    query.since_realtime(m.realtime_usec);
                }
            },
            None => {
                let since = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .saturating_sub(self.config.max_age)
                    .as_micros() as u64;
                query.since_realtime(since);
            }
        }
        let iter = match query.iter() {
            Ok(i) => i,
            Err(e) => {
                self.report(Some(&e));
                return;
            }
        };
        let mut pending = Pending::new();
        let mut errors = 0;
        for item in iter {
            let entry = match item {
                Ok(e) => e,
                Err(e) => {
                    errors += 1;
                    self.stats.journal_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "journal: entry skipped");
                    if errors >= MAX_ERRORS_PER_PASS {
                        break;
                    }
                    continue;
                }
            };
            let cursor = match entry.cursor() {
                Ok(c) => c,
                Err(e) => {
                    errors += 1;
                    self.stats.journal_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "journal: entry without a cursor skipped");
                    continue;
                }
            };
            let mark = JournalMark {
                cursor: cursor.to_string(),
                realtime_usec: entry.realtime_usec(),
            };
            let wanted = self.config.units.is_empty()
                || entry
                    .get("_SYSTEMD_UNIT")
                    .is_some_and(|u| self.config.units.iter().any(|w| w.as_bytes() == u));
            if !wanted {
                // Another unit's entry: nothing to ship, but the resume point moves.
            } else if let Some((key, labels, e)) = convert(&entry, &self.node) {
                pending.bytes += e.line.len() + 64;
                let i = *pending.index.entry(key).or_insert_with(|| {
                    pending.streams.push(StreamEntries {
                        labels,
                        entries: Vec::new(),
                    });
                    pending.streams.len() - 1
                });
                pending.streams[i].entries.push(e);
            } else {
                self.stats
                    .journal_no_message
                    .fetch_add(1, Ordering::Relaxed);
            }
            self.after = Some(mark.clone());
            pending.mark = Some(mark);
            if pending.bytes >= self.batch_bytes {
                if let Some(b) = pending.take() {
                    self.stats.read(&b.streams);
                    if !send(b) {
                        return;
                    }
                }
            }
        }
        if errors == 0 {
            self.report(None);
        }
        if let Some(b) = pending.take() {
            self.stats.read(&b.streams);
            send(b);
        }
    }

    /// Logs the start and the end of an outage once each.
    fn report(&mut self, error: Option<&SdJournalError>) {
        match error {
            Some(e) if !self.failing => {
                tracing::warn!(dir = %self.config.dir.display(), error = %e, "journal: cannot read, retrying");
                self.failing = true;
            }
            Some(_) => {}
            None if self.failing => {
                tracing::info!(dir = %self.config.dir.display(), "journal: reading again");
                self.failing = false;
            }
            None => {}
        }
    }
}

/// Starts the journal thread.
pub(crate) fn spawn(
    reader: JournalReader,
    tx: SyncSender<Batch>,
    stop: Arc<AtomicBool>,
) -> Result<JoinHandle<()>, AgentError> {
    std::thread::Builder::new()
        .name("kelp-agent-journal".into())
        .spawn(move || reader.run(&stop, &tx))
        .map_err(|source| AgentError::Io {
            path: "journal thread".into(),
            source,
        })
}

#[doc(hidden)]
pub mod export;
#[cfg(test)]
pub(crate) mod tests;
