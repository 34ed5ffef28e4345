//! The way out for the entries the agent makes from the Kubernetes API (events,
//! terminations): a bounded queue to a thread that gathers them for up to
//! [`BATCH_WAIT`] and sends them through the agent's sink, waiting for the
//! acknowledgement. After each acknowledged batch it records the newest
//! `resourceVersion` the batch carried: the version the events leader writes into its
//! Lease, for the next leader to resume from.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kelp_model::{Labels, StreamEntries};

use crate::sink::Sink;
use crate::stats::Stats;
use crate::AgentError;

/// How long entries are gathered before a send.
pub const BATCH_WAIT: Duration = Duration::from_millis(200);
/// Most entries per send.
const BATCH_ENTRIES: usize = 2000;
/// Items queued before the producer waits.
const QUEUE: usize = 1024;

/// What a producer queues: entries, and the API version they bring the reader to.
pub(crate) struct Item {
    pub(crate) streams: Vec<StreamEntries>,
    pub(crate) version: Option<String>,
}

/// The newest version whose entries (and all before) the sink acknowledged.
pub(crate) type Acked = Arc<Mutex<Option<String>>>;

/// The producer's end.
#[derive(Clone)]
pub(crate) struct Shipper {
    tx: mpsc::SyncSender<Item>,
}

impl Shipper {
    /// Queues `item` (waits while the queue is full); false once the thread is gone.
    pub(crate) fn send(&self, item: Item) -> bool {
        self.tx.send(item).is_ok()
    }
}

/// Starts the sending thread, named `name`; it ends when every [`Shipper`] is dropped
/// (after sending what is queued) or at `stop`.
pub(crate) fn spawn(
    name: &str,
    sink: Arc<dyn Sink>,
    acked: Acked,
    shipped: Counter,
    stop: Arc<AtomicBool>,
) -> Result<Shipper, AgentError> {
    let (tx, rx) = mpsc::sync_channel::<Item>(QUEUE);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || run(&rx, &*sink, &acked, &shipped, &stop))
        .map_err(|source| AgentError::Io {
            path: name.into(),
            source,
        })?;
    Ok(Shipper { tx })
}

/// Where acknowledged entries are counted: the agent's stats and which of its counters.
pub(crate) type Counter = (Arc<Stats>, fn(&Stats) -> &AtomicU64);

fn run(
    rx: &mpsc::Receiver<Item>,
    sink: &dyn Sink,
    acked: &Acked,
    (stats, counter): &Counter,
    stop: &AtomicBool,
) {
    loop {
        let first = match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(i) => i,
            Err(RecvTimeoutError::Timeout) if stop.load(Ordering::SeqCst) => return,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut batch = Batch::default();
        batch.add(first);
        let until = Instant::now() + BATCH_WAIT;
        let mut open = true;
        while batch.entries < BATCH_ENTRIES {
            let left = until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(i) => batch.add(i),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        let streams: Vec<StreamEntries> = batch
            .streams
            .into_iter()
            .map(|(labels, mut entries)| {
                // The store takes a stream's entries in any order within its window;
                // in time order they need no reordering.
                entries.sort_by_key(|e| e.timestamp);
                StreamEntries { labels, entries }
            })
            .collect();
        let sent = if streams.is_empty() {
            Ok(())
        } else {
            sink.send(&streams)
        };
        match sent {
            Ok(()) => {
                counter(stats).fetch_add(batch.entries as u64, Ordering::Relaxed);
                if let Some(v) = batch.version {
                    *lock(acked) = Some(v);
                }
            }
            Err(e) => {
                // Not acknowledged: the version stays behind, so a next leader (or this
                // agent's next list) sends these again.
                tracing::warn!(error = %e, entries = batch.entries, "kubernetes entries not delivered");
            }
        }
        if !open {
            return;
        }
    }
}

#[derive(Default)]
struct Batch {
    streams: HashMap<Labels, Vec<kelp_model::Entry>>,
    entries: usize,
    version: Option<String>,
}

impl Batch {
    fn add(&mut self, item: Item) {
        for s in item.streams {
            self.entries += s.entries.len();
            self.streams.entry(s.labels).or_default().extend(s.entries);
        }
        if item.version.is_some() {
            self.version = item.version;
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind; keep using it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}
