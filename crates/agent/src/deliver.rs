//! Sending batches: up to `max_in_flight` worker threads take batches from the reader's
//! queue in order, send them through the sink at the same time, and apply their
//! checkpoint marks strictly in batch order: a batch acknowledged early waits (as its
//! marks only; its lines are dropped) until every earlier batch is acknowledged too.
//! Workers stop taking batches while `window` taken batches are not applied yet, so
//! memory stays bounded and a slow sink slows reading (through the full queue).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::checkpoint::{Checkpoints, Mark};
use crate::sink::Sink;
use crate::stats::Stats;
use crate::{AgentError, Batch};

/// The ordering state shared by the workers.
struct Order {
    /// Sequence number of the next batch taken from the queue.
    next_taken: u64,
    /// Sequence number of the next batch whose marks apply.
    next_applied: u64,
    /// Marks of acknowledged batches waiting for earlier ones.
    acked: BTreeMap<u64, Vec<(String, Mark)>>,
    checkpoints: Checkpoints,
    failed: bool,
}

/// Applies marks in batch order and writes the checkpoint file.
pub(crate) struct Committer {
    order: Mutex<Order>,
    changed: Condvar,
    state_dir: PathBuf,
    window: u64,
    stats: Arc<Stats>,
}

impl Committer {
    pub(crate) fn new(
        checkpoints: Checkpoints,
        state_dir: PathBuf,
        window: usize,
        stats: Arc<Stats>,
    ) -> Self {
        Self {
            order: Mutex::new(Order {
                next_taken: 0,
                next_applied: 0,
                acked: BTreeMap::new(),
                checkpoints,
                failed: false,
            }),
            changed: Condvar::new(),
            state_dir,
            window: window.max(1) as u64,
            stats,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Order> {
        // A worker that panicked left consistent state behind (no update is half done
        // across a panic point), so a poisoned lock is still usable.
        self.order.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until a batch may be taken; returns its sequence number, or `None` when a
    /// worker failed. Call with the queue's lock held, then take the batch.
    fn reserve(&self) -> Option<u64> {
        let mut o = self.lock();
        while !o.failed && o.next_taken - o.next_applied >= self.window {
            o = self.changed.wait(o).unwrap_or_else(|p| p.into_inner());
        }
        if o.failed {
            return None;
        }
        o.next_taken += 1;
        Some(o.next_taken - 1)
    }

    /// Records that batch `seq` is acknowledged and applies every batch now complete in
    /// order; writes the checkpoint file when marks moved.
    pub(crate) fn ack(&self, seq: u64, marks: Vec<(String, Mark)>) -> Result<(), AgentError> {
        let mut o = self.lock();
        o.acked.insert(seq, marks);
        let mut moved = false;
        loop {
            let next = o.next_applied;
            let Some(marks) = o.acked.remove(&next) else {
                break;
            };
            o.next_applied += 1;
            self.stats.acked(marks.iter().map(|(k, m)| (k, m)));
            for (key, mark) in marks {
                o.checkpoints.files.insert(key, mark);
                moved = true;
            }
        }
        let saved = if moved {
            o.checkpoints.save(&self.state_dir)
        } else {
            Ok(())
        };
        if saved.is_err() {
            self.stats.checkpoint_errors.fetch_add(1, Ordering::Relaxed);
            o.failed = true;
        }
        drop(o);
        self.changed.notify_all();
        saved
    }

    /// Marks the delivery failed: workers stop taking batches.
    fn fail(&self) {
        self.lock().failed = true;
        self.changed.notify_all();
    }

    /// The checkpoints applied so far.
    #[cfg(test)]
    pub(crate) fn checkpoints(&self) -> Checkpoints {
        self.lock().checkpoints.clone()
    }
}

/// Starts `workers` threads sending the batches of `rx` through `sink`. A failure sets
/// `stop` (so the reader ends too) and is the thread's result.
pub(crate) fn spawn(
    workers: usize,
    rx: Receiver<Batch>,
    sink: Arc<dyn Sink>,
    committer: Arc<Committer>,
    stop: Arc<AtomicBool>,
) -> Result<Vec<JoinHandle<Result<(), AgentError>>>, AgentError> {
    let rx = Arc::new(Mutex::new(rx));
    (0..workers.max(1))
        .map(|i| {
            let (rx, sink, committer, stop) =
                (rx.clone(), sink.clone(), committer.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("kelp-agent-send-{i}"))
                .spawn(move || {
                    let r = work(&rx, &*sink, &committer);
                    if r.is_err() {
                        committer.fail();
                        sink.stop();
                        stop.store(true, Ordering::SeqCst);
                    }
                    r
                })
                .map_err(|source| AgentError::Io {
                    path: "sender thread".into(),
                    source,
                })
        })
        .collect()
}

fn work(
    rx: &Mutex<Receiver<Batch>>,
    sink: &dyn Sink,
    committer: &Committer,
) -> Result<(), AgentError> {
    let stats = &committer.stats;
    loop {
        let (seq, batch) = {
            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            let Some(seq) = committer.reserve() else {
                return Ok(());
            };
            match rx.recv() {
                Ok(b) => (seq, b),
                Err(_) => return Ok(()),
            }
        };
        if !batch.streams.is_empty() {
            stats.batches_in_flight.fetch_add(1, Ordering::Relaxed);
            let sent = sink.send(&batch.streams);
            stats.batches_in_flight.fetch_sub(1, Ordering::Relaxed);
            if let Err(e) = sent {
                let Some(n) = partially_rejected(&e) else {
                    stats.sink_errors.fetch_add(1, Ordering::Relaxed);
                    return Err(e);
                };
                // The server stored the rest of the batch: resending cannot help.
                stats.entries_rejected.fetch_add(n, Ordering::Relaxed);
                tracing::warn!(entries = n, error = %e, "the server refused some entries of a batch it stored");
            }
            stats.shipped(&batch.streams);
        }
        let Batch { streams, marks } = batch;
        drop(streams);
        committer.ack(seq, marks)?;
    }
}

/// The number of entries a server refused in a batch whose other entries it stored: Kelp's
/// and Loki's 400 `N entries rejected: ...` (out-of-order window, line size). `None` for
/// every other failure, which stops delivery as before.
fn partially_rejected(e: &AgentError) -> Option<u64> {
    let AgentError::Client(kelp_client::ClientError::Rejected {
        status: 400, body, ..
    }) = e
    else {
        return None;
    };
    let (n, rest) = body.trim_start().split_once(' ')?;
    rest.starts_with("entries rejected:")
        .then(|| n.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_rejections_are_told_from_whole_batch_ones() {
        let rejected = |status: u16, body: &str| {
            AgentError::Client(kelp_client::ClientError::Rejected {
                path: "/kelp/api/v1/push".into(),
                status,
                body: body.into(),
            })
        };
        let partial = "3 entries rejected: 3 older than the out-of-order window, 0 lines too long";
        assert_eq!(partially_rejected(&rejected(400, partial)), Some(3));
        assert_eq!(partially_rejected(&rejected(413, partial)), None);
        assert_eq!(
            partially_rejected(&rejected(400, "invalid labels: x")),
            None
        );
        assert_eq!(
            partially_rejected(&rejected(400, "many entries rejected: x")),
            None
        );
    }

    fn mark(offset: u64) -> Mark {
        Mark {
            dev: 1,
            ino: 2,
            head: b"x".to_vec(),
            offset,
        }
    }

    #[test]
    fn marks_apply_in_batch_order() {
        let dir = tempfile::tempdir().unwrap();
        let stats = Arc::new(Stats::default());
        let cps = Checkpoints::load(dir.path()).unwrap();
        let c = Committer::new(cps, dir.path().into(), 8, stats);
        for _ in 0..3 {
            c.reserve().unwrap();
        }
        let m = |o| vec![("f".to_owned(), mark(o))];
        c.ack(2, m(30)).unwrap();
        c.ack(1, m(20)).unwrap();
        assert!(
            c.checkpoints().files.is_empty(),
            "batch 0 is not acknowledged"
        );
        c.ack(0, m(10)).unwrap();
        assert_eq!(c.checkpoints().files["f"].offset, 30);
        let on_disk = Checkpoints::load(dir.path()).unwrap();
        assert_eq!(on_disk.files["f"].offset, 30);
    }

    /// Acknowledges the first batch last: while it is held, no checkpoint is written
    /// although later batches are acknowledged; at the end every line arrived once and
    /// the checkpoint is at the end of the file.
    struct SlowFirst {
        calls: Mutex<u32>,
        lines: Mutex<Vec<String>>,
        first_released: AtomicBool,
        checkpoint_while_held: AtomicBool,
        state: PathBuf,
    }

    impl Sink for SlowFirst {
        fn send(&self, streams: &[kelp_model::StreamEntries]) -> Result<(), AgentError> {
            let call = {
                let mut c = self.calls.lock().unwrap();
                *c += 1;
                *c
            };
            if call == 1 {
                // Wait until another batch was acknowledged meanwhile.
                let began = std::time::Instant::now();
                while *self.calls.lock().unwrap() < 3
                    && began.elapsed() < std::time::Duration::from_secs(10)
                {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
                if self.state.join(crate::checkpoint::CHECKPOINT_FILE).exists() {
                    self.checkpoint_while_held.store(true, Ordering::SeqCst);
                }
                self.first_released.store(true, Ordering::SeqCst);
            }
            let mut lines = self.lines.lock().unwrap();
            for s in streams {
                for e in &s.entries {
                    lines.push(String::from_utf8_lossy(&e.line).into_owned());
                }
            }
            Ok(())
        }
    }

    #[test]
    fn a_later_ack_waits_for_the_earlier_batch() {
        let dir = tempfile::tempdir().unwrap();
        let pods = dir.path().join("pods");
        // Six containers: the reader cuts a batch after a chain's poll, so six batches.
        let (files, per) = (6, 500);
        let mut want = Vec::new();
        for f in 0..files {
            let ctr = pods.join(format!("ns_p{f}_u/c"));
            std::fs::create_dir_all(&ctr).unwrap();
            let mut text = String::new();
            for i in 0..per {
                let line = format!("file {f} line {i:05} of some length");
                text.push_str(&format!("2026-11-22T10:00:00.{i:09}Z stdout F {line}\n"));
                want.push(line);
            }
            std::fs::write(ctr.join("0.log"), &text).unwrap();
        }
        want.sort();
        let n = want.len();
        let state = dir.path().join("state");
        let mut config =
            crate::AgentConfig::new(pods, state.clone(), "http://127.0.0.1:9".into(), "n".into());
        config.batch_bytes = 16 * 1024;
        config.max_in_flight = 3;
        let sink = Arc::new(SlowFirst {
            calls: Mutex::new(0),
            lines: Mutex::new(Vec::new()),
            first_released: AtomicBool::new(false),
            checkpoint_while_held: AtomicBool::new(false),
            state: state.clone(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let runner = {
            let (sink, stop) = (sink.clone(), stop.clone());
            std::thread::spawn(move || crate::run_with_sink(&config, sink, Arc::default(), stop))
        };
        let began = std::time::Instant::now();
        while sink.lines.lock().unwrap().len() < n && began.elapsed().as_secs() < 20 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
        stop.store(true, Ordering::SeqCst);
        runner.join().unwrap().unwrap();
        assert!(sink.first_released.load(Ordering::SeqCst));
        assert!(*sink.calls.lock().unwrap() >= 3);
        assert!(
            !sink.checkpoint_while_held.load(Ordering::SeqCst),
            "a checkpoint was written before the first batch was acknowledged"
        );
        let mut lines = sink.lines.lock().unwrap().clone();
        lines.sort();
        assert_eq!(lines, want);
        let cps = Checkpoints::load(&state).unwrap();
        for f in 0..files {
            let live = dir.path().join(format!("pods/ns_p{f}_u/c/0.log"));
            let len = std::fs::metadata(live).unwrap().len();
            assert_eq!(cps.files[&format!("ns_p{f}_u/c/0.log")].offset, len);
        }
    }
}
