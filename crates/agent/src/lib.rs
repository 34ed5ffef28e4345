//! # kelp-agent
//!
//! The node agent: follows every container log under the kubelet's pod log directory
//! through rotation, compression, restarts and deletion, decodes CRI records, joins
//! partial lines, labels them with the pod's identity and ships them to a Kelp server,
//! advancing a file's checkpoint only once the server acknowledged its lines as durable.
//! The store drops exact duplicates, so lines resent after a crash are harmless. Design:
//! `docs/agent.md`.
//!
//! - [`AgentConfig`]: where to read, where to send, how to batch, and what to do with the
//!   lines on the node ([`MultilineConfig`], [`PolicyConfig`]); [`config::AgentFileConfig`]
//!   reads it from YAML and the environment.
//! - [`run`] / [`run_with`]: runs until the stop flag is set (a reader thread, and
//!   `max_in_flight` sender threads that apply checkpoints in batch order).
//! - [`sink`]: where batches go (Kelp, Loki, Elasticsearch, file, stdout, null).
//! - [`stats`]: counters for `/metrics` and the `/ready` flag.
//! - [`inventory`]: the pods present on the node, reported to the server for `kelp pods`.
//! - [`kube`]: pod labels and owners from the Kubernetes API, for stream labels;
//!   container terminations; the cluster's Events, by the agent elected through a Lease.
//! - [`resources`]: the resource-metrics collector and its spool (issue #7).
//! - [`checkpoint`]: the checkpoint file ([`checkpoint::Checkpoints`]).
//! - [`AgentError`]: the crate's one error type.
//! - [`process::counters`]: counters of dropped, redacted and joined records.

#[doc(hidden)]
pub mod bench;
mod chain;
pub mod checkpoint;
pub mod config;
mod deliver;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod inventory;
pub mod kube;
pub mod multiline;
pub mod policy;
pub mod process;
mod reader;
pub mod resources;
pub mod sink;
mod source;
pub mod stats;
mod watch;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use kelp_client::RetryPolicy;

pub use error::AgentError;
pub use multiline::MultilineConfig;
pub use policy::PolicyConfig;
pub use source::{FileSource, Glob};

use checkpoint::Checkpoints;
use sink::{Sink, SinkConfig};
use stats::Stats;

/// What the agent needs to run.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The kubelet's `podLogsDir` as the agent sees it.
    pub pods_dir: PathBuf,
    /// Where the agent keeps its checkpoints.
    pub state_dir: PathBuf,
    /// The server's base URL, `http://host:port`.
    pub server: String,
    /// The `node` label.
    pub node: String,
    /// Whether `pods_dir` is read (false in sidecar mode: only `files`).
    pub read_pods: bool,
    /// Plain-text files to ship besides pod logs (`--files`, `--node-logs`).
    pub files: Vec<FileSource>,
    /// How often everything is listed again: the safety net under inotify (without it,
    /// discovery's only means, at least every 500 ms).
    pub scan_interval: Duration,
    /// How long the reader waits for an event while files are in rotation, and between
    /// polls when inotify is unavailable.
    pub poll_interval: Duration,
    /// How often every chain is polled even without an event (files written after their
    /// deletion, watches that could not be added).
    pub idle_poll_interval: Duration,
    /// Events held between the inotify thread and the reader; past it they are dropped and
    /// everything is rescanned, as on the kernel's `IN_Q_OVERFLOW`.
    pub event_queue: usize,
    /// Whether inotify is used (else: polling every `poll_interval`).
    pub inotify: bool,
    /// At most this many rotated-away or deleted files are held open; past it the oldest
    /// is let go of unread, and its lines counted and logged as lost.
    pub max_held_files: usize,
    /// At most this many bytes (their size on disk) of such files are held open.
    pub max_held_bytes: u64,
    /// A batch is sent once its lines reach this many bytes …
    pub batch_bytes: usize,
    /// … or once its oldest line waited this long.
    pub batch_wait: Duration,
    /// How long a rotated-away file is kept open after its last byte, for late writes.
    pub rotate_wait: Duration,
    /// How long a finished instance's last file must stay quiet before its dangling
    /// partial line is flushed and the file let go.
    pub finish_wait: Duration,
    /// Batches waiting between the reader and the senders (the bounded queue).
    pub queue_batches: usize,
    /// Batches sent at the same time (each by its own thread); their checkpoint marks
    /// still apply in batch order.
    pub max_in_flight: usize,
    /// Retries of pushes.
    pub retry: RetryPolicy,
    /// Where batches go.
    pub sink: SinkConfig,
    /// Multi-line joining (no rule by default).
    pub multiline: MultilineConfig,
    /// Include/exclude, drop and redaction rules (none by default).
    pub policy: PolicyConfig,
    /// Where to watch the node's pods for labels and owners (off by default).
    pub kubernetes: Option<kube::KubeConfig>,
}

impl AgentConfig {
    /// Defaults for the given directories, server and node.
    pub fn new(pods_dir: PathBuf, state_dir: PathBuf, server: String, node: String) -> Self {
        Self {
            pods_dir,
            state_dir,
            server,
            node,
            read_pods: true,
            files: Vec::new(),
            scan_interval: Duration::from_secs(5),
            poll_interval: Duration::from_millis(10),
            idle_poll_interval: Duration::from_secs(2),
            event_queue: 16 * 1024,
            inotify: true,
            max_held_files: 512,
            max_held_bytes: 4 << 30,
            batch_bytes: 1 << 20,
            batch_wait: Duration::from_millis(200),
            rotate_wait: Duration::from_millis(250),
            finish_wait: Duration::from_secs(2),
            queue_batches: 4,
            max_in_flight: 2,
            retry: RetryPolicy::default(),
            sink: SinkConfig::default(),
            multiline: MultilineConfig::default(),
            policy: PolicyConfig::default(),
            kubernetes: None,
        }
    }

    /// Checks values that cannot work.
    pub fn validate(&self) -> Result<(), AgentError> {
        let bad = |what: &str| Err(AgentError::Config(what.into()));
        if self.batch_bytes == 0 {
            return bad("batch.max_bytes must be > 0");
        }
        if self.queue_batches == 0 {
            return bad("batch.queue_batches must be > 0");
        }
        if !(1..=64).contains(&self.max_in_flight) {
            return bad("batch.max_in_flight must be 1 to 64");
        }
        if self.poll_interval.is_zero() || self.scan_interval.is_zero() {
            return bad("source.poll_interval and source.scan_interval must be > 0");
        }
        if self.retry.min_backoff.is_zero() || self.retry.max_backoff < self.retry.min_backoff {
            return bad("retry: need 0 < min_backoff <= max_backoff");
        }
        if !(1..=22).contains(&self.sink.zstd_level) {
            return bad("sink.zstd_level must be 1 to 22");
        }
        // The multi-line and policy rules compile: an error names the first bad rule.
        process::Processing::compile(self).map(|_| ())
    }
}

/// A batch on its way: the lines per stream, and the resume points that become
/// checkpoints once the server has acknowledged it.
pub(crate) struct Batch {
    pub(crate) streams: Vec<kelp_model::StreamEntries>,
    pub(crate) marks: Vec<(String, checkpoint::Mark)>,
}

/// Runs the agent until `stop` is set, with the sink its config names and fresh stats.
pub fn run(config: &AgentConfig, stop: Arc<AtomicBool>) -> Result<(), AgentError> {
    run_with(config, Arc::default(), stop)
}

/// Runs the agent until `stop` is set, counting into `stats`; then the reader sends what
/// it has and the senders drain the queue (retrying as long as the sink fails and `stop`
/// allows).
pub fn run_with(
    config: &AgentConfig,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
) -> Result<(), AgentError> {
    config.validate()?;
    let sink = sink::build(&config.sink, &config.server, &config.retry)?;
    run_with_sink(config, sink, stats, stop)
}

/// [`run_with`] through a given sink.
pub fn run_with_sink(
    config: &AgentConfig,
    sink: Arc<dyn Sink>,
    stats: Arc<Stats>,
    stop: Arc<AtomicBool>,
) -> Result<(), AgentError> {
    std::fs::create_dir_all(&config.state_dir).map_err(|source| AgentError::Io {
        path: config.state_dir.clone(),
        source,
    })?;
    let processing = process::Processing::compile(config)?;
    let checkpoints = Checkpoints::load(&config.state_dir)?;
    stats.acked(&checkpoints.files);
    stats.set_client(sink.client_stats());
    let (tx, rx) = mpsc::sync_channel::<Batch>(config.queue_batches.max(1));
    let committer = Arc::new(deliver::Committer::new(
        checkpoints.clone(),
        config.state_dir.clone(),
        config.max_in_flight * 4,
        stats.clone(),
    ));
    let workers = deliver::spawn(
        config.max_in_flight,
        rx,
        sink.clone(),
        committer,
        stop.clone(),
    )?;
    let inventory = inventory::spawn(config, stop.clone());
    let (pods, elector) = match (&config.kubernetes, config.read_pods) {
        (Some(k), true) => {
            let k = kube::spawn_with(k.clone(), Some(sink.clone()), stats.clone(), stop.clone())?;
            (Some(k.pods), k.elector)
        }
        _ => (None, None),
    };
    let read = reader::Reader::new(config, checkpoints, stats, processing)
        .with_pods(pods)
        .run(&stop, &tx);
    drop(tx);
    if read.is_err() {
        sink.stop();
    }
    let mut sent = Ok(());
    for w in workers {
        let r = w
            .join()
            .unwrap_or_else(|_| Err(AgentError::Config("sender thread panicked".into())));
        sent = sent.and(r);
    }
    stop.store(true, Ordering::SeqCst);
    if let Some(t) = inventory {
        let _ = t.join();
    }
    if let Some(t) = elector {
        let _ = t.join(); // A leader releases the events Lease.
    }
    read.and(sent)
}
