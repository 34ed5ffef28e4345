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
//!   lines on the node ([`MultilineConfig`], [`PolicyConfig`]).
//! - [`run`]: runs until the stop flag is set (reader thread + sender thread).
//! - [`checkpoint`]: the checkpoint file ([`checkpoint::Checkpoints`]).
//! - [`AgentError`]: the crate's one error type.
//! - [`process::counters`]: counters of dropped, redacted and joined records.

#[doc(hidden)]
pub mod bench;
mod chain;
pub mod checkpoint;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod multiline;
pub mod policy;
pub mod process;
mod reader;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use kelp_client::{Client, RetryPolicy};

pub use error::AgentError;
pub use multiline::MultilineConfig;
pub use policy::PolicyConfig;

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
    /// How often the pods directory is listed for new container logs.
    pub scan_interval: Duration,
    /// How long the reader sleeps when no file had anything new.
    pub poll_interval: Duration,
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
    /// Multi-line joining (no rule by default).
    pub multiline: MultilineConfig,
    /// Include/exclude, drop and redaction rules (none by default).
    pub policy: PolicyConfig,
}

impl AgentConfig {
    /// Defaults for the given directories, server and node.
    pub fn new(pods_dir: PathBuf, state_dir: PathBuf, server: String, node: String) -> Self {
        Self {
            pods_dir,
            state_dir,
            server,
            node,
            scan_interval: Duration::from_millis(500),
            poll_interval: Duration::from_millis(10),
            batch_bytes: 1 << 20,
            batch_wait: Duration::from_millis(200),
            rotate_wait: Duration::from_millis(250),
            finish_wait: Duration::from_secs(2),
            queue_batches: 4,
            retry: RetryPolicy::default(),
            multiline: MultilineConfig::default(),
            policy: PolicyConfig::default(),
        }
    }
}

impl AgentConfig {
    /// Compiles the multi-line and policy rules: an error names the first bad rule.
    /// [`run`] does this too, before it starts anything.
    pub fn validate(&self) -> Result<(), AgentError> {
        process::Processing::compile(self).map(|_| ())
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
    let processing = process::Processing::compile(config)?;
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
    let read = reader::Reader::new(config, checkpoints, processing).run(&stop, &tx);
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
