//! # kelp-agent
//!
//! The node agent: follows every container log under the kubelet's pod log directory
//! through rotation, compression, restarts and deletion, decodes CRI records, joins
//! partial lines, labels them with the pod's identity and ships them to a Kelp server,
//! advancing a file's checkpoint only once the server acknowledged its lines as durable.
//! The store drops exact duplicates, so lines resent after a crash are harmless. Design:
//! `docs/agent.md`.
//!
//! - [`AgentConfig`]: where to read, where to send, how to batch.
//! - [`run`]: runs until the stop flag is set (reader thread + sender thread).
//! - [`checkpoint`]: the checkpoint file ([`checkpoint::Checkpoints`]).
//! - [`AgentError`]: the crate's one error type.

mod chain;
pub mod checkpoint;
mod error;
mod reader;
mod source;
mod watch;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use kelp_client::{Client, RetryPolicy};

pub use error::AgentError;
pub use source::{FileSource, Glob};

use checkpoint::Checkpoints;

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
    /// Batches in flight between the reader and the sender (the bounded queue).
    pub queue_batches: usize,
    /// Retries of pushes.
    pub retry: RetryPolicy,
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
            retry: RetryPolicy::default(),
        }
    }
}

/// A batch on its way: the lines per stream, and the resume points that become
/// checkpoints once the server has acknowledged it.
pub(crate) struct Batch {
    pub(crate) streams: Vec<kelp_model::StreamEntries>,
    pub(crate) marks: Vec<(String, checkpoint::Mark)>,
}

/// Runs the agent until `stop` is set; then the reader sends what it has and the sender
/// drains the queue (retrying as long as the server is down and `stop` allows).
pub fn run(config: &AgentConfig, stop: Arc<AtomicBool>) -> Result<(), AgentError> {
    std::fs::create_dir_all(&config.state_dir).map_err(|source| AgentError::Io {
        path: config.state_dir.clone(),
        source,
    })?;
    let checkpoints = Checkpoints::load(&config.state_dir)?;
    let client = Arc::new(Client::new(&config.server, config.retry.clone())?);
    let (tx, rx) = mpsc::sync_channel::<Batch>(config.queue_batches.max(1));
    let sender = {
        let client = client.clone();
        let state_dir = config.state_dir.clone();
        let mut checkpoints = checkpoints.clone();
        std::thread::Builder::new()
            .name("kelp-agent-sender".into())
            .spawn(move || -> Result<(), AgentError> {
                for batch in rx {
                    if !batch.streams.is_empty() {
                        client.push_native(&batch.streams)?;
                        let n: usize = batch.streams.iter().map(|s| s.entries.len()).sum();
                        tracing::debug!(entries = n, "batch acknowledged");
                    }
                    if batch.marks.is_empty() {
                        continue;
                    }
                    for (key, mark) in batch.marks {
                        checkpoints.files.insert(key, mark);
                    }
                    checkpoints.save(&state_dir)?;
                }
                Ok(())
            })
            .map_err(|source| AgentError::Io {
                path: "sender thread".into(),
                source,
            })?
    };
    let read = reader::Reader::new(config, checkpoints).run(&stop, &tx);
    drop(tx);
    if read.is_err() {
        client.stop();
    }
    let sent = match sender.join() {
        Ok(r) => r,
        Err(_) => Err(AgentError::Config("sender thread panicked".into())),
    };
    stop.store(true, Ordering::SeqCst);
    read.and(sent)
}
