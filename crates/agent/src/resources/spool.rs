//! The on-disk queue of collections not yet acknowledged: one file per collection,
//! `<state_dir>/resources/<seq:020>.json` (the wire `Collection` as JSON), written to a
//! temp file, fsynced, renamed, the directory fsynced. Bounded: past `max` files the
//! oldest not in flight are deleted and counted as dropped.

use std::collections::VecDeque;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use kelp_wire::resources::Collection;

use crate::AgentError;

/// Suffix of spool files.
const EXT: &str = "json";

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AgentError + '_ {
    move |source| AgentError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Default)]
struct Queue {
    seqs: VecDeque<u64>,
    /// The first `in_flight` of `seqs` are being sent.
    in_flight: usize,
    next: u64,
}

/// The spool; shared by the collector (adds) and the sender (takes, acknowledges).
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    max: usize,
    queue: Mutex<Queue>,
    added: Condvar,
}

impl Spool {
    /// Opens `dir` (created when missing) and lists what a previous run left.
    pub(crate) fn open(dir: &Path, max: usize) -> Result<Self, AgentError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let mut seqs = Vec::new();
        for e in fs::read_dir(dir).map_err(io(dir))? {
            let e = e.map_err(io(dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            match name.strip_suffix(&format!(".{EXT}")).map(str::parse::<u64>) {
                Some(Ok(seq)) => seqs.push(seq),
                // A temp file of a write the last run did not finish.
                _ if name.ends_with(".tmp") => {
                    let _ = fs::remove_file(e.path());
                }
                _ => {}
            }
        }
        seqs.sort_unstable();
        let next = seqs.last().map_or(1, |s| s + 1);
        Ok(Self {
            dir: dir.to_path_buf(),
            max: max.max(1),
            queue: Mutex::new(Queue {
                seqs: seqs.into(),
                in_flight: 0,
                next,
            }),
            added: Condvar::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // Plain data: usable after a panic elsewhere.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.{EXT}"))
    }

    /// The next sequence number (the collection's `seq`).
    pub(crate) fn next_seq(&self) -> u64 {
        self.lock().next
    }

    /// Writes `c` durably; returns how many old collections were dropped for the bound.
    pub(crate) fn add(&self, c: &Collection) -> Result<u64, AgentError> {
        let seq = c.seq;
        let path = self.path(seq);
        let tmp = self.dir.join(format!("{seq:020}.tmp"));
        let bytes = serde_json::to_vec(c).map_err(|e| AgentError::Config(e.to_string()))?;
        let mut f = fs::File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&bytes).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        fs::rename(&tmp, &path).map_err(io(&path))?;
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        let mut q = self.lock();
        q.seqs.push_back(seq);
        q.next = q.next.max(seq + 1);
        let mut dropped = 0;
        while q.seqs.len() > self.max && q.seqs.len() > q.in_flight {
            let at = q.in_flight;
            let Some(old) = q.seqs.remove(at) else {
                break;
            };
            let _ = fs::remove_file(self.path(old));
            dropped += 1;
        }
        drop(q);
        self.added.notify_all();
        Ok(dropped)
    }

    /// Collections waiting.
    pub(crate) fn len(&self) -> usize {
        self.lock().seqs.len()
    }

    /// Up to `n` of the oldest collections, marked in flight; waits up to `wait` for one.
    /// A file that cannot be read or parsed is deleted (counted in the second value).
    pub(crate) fn take(&self, n: usize, wait: Duration) -> (Vec<Collection>, u64) {
        let mut q = self.lock();
        if q.seqs.is_empty() {
            q = self
                .added
                .wait_timeout(q, wait)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        let seqs: Vec<u64> = q.seqs.iter().take(n).copied().collect();
        drop(q);
        let mut out = Vec::with_capacity(seqs.len());
        let mut bad = Vec::new();
        for seq in seqs {
            match fs::read(self.path(seq))
                .ok()
                .and_then(|b| serde_json::from_slice::<Collection>(&b).ok())
            {
                Some(c) => out.push(c),
                None => bad.push(seq),
            }
        }
        let mut q = self.lock();
        for seq in &bad {
            let _ = fs::remove_file(self.path(*seq));
            q.seqs.retain(|s| s != seq);
        }
        // Only a prefix is in flight: stop at the first the bound removed meanwhile.
        q.in_flight = out
            .iter()
            .zip(q.seqs.iter())
            .take_while(|(c, s)| c.seq == **s)
            .count();
        (out, bad.len() as u64)
    }

    /// The collections of the last `take` are acknowledged: deleted.
    pub(crate) fn ack(&self, sent: &[u64]) {
        let mut q = self.lock();
        for seq in sent {
            let _ = fs::remove_file(self.path(*seq));
            q.seqs.retain(|s| s != seq);
        }
        q.in_flight = 0;
    }

    /// The last `take` failed: nothing is in flight any more.
    pub(crate) fn release(&self) {
        self.lock().in_flight = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kelp_wire::resources::NodeSample;

    fn c(seq: u64) -> Collection {
        Collection {
            seq,
            node: NodeSample {
                time: seq as i64,
                cpu_ns: 1,
                memory: 1,
                ..Default::default()
            },
            pods: vec![],
        }
    }

    #[test]
    fn survives_reopen_bounds_and_acks() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path(), 3).unwrap();
        for s in 1..=3 {
            assert_eq!(spool.add(&c(s)).unwrap(), 0);
        }
        let (taken, bad) = spool.take(2, Duration::ZERO);
        assert_eq!((taken.len(), bad), (2, 0));
        // Over the bound: the oldest not in flight (3) is dropped, not 1 or 2.
        assert_eq!(spool.add(&c(4)).unwrap(), 1);
        spool.ack(&taken.iter().map(|c| c.seq).collect::<Vec<_>>());
        assert_eq!(spool.len(), 1);
        drop(spool);
        std::fs::write(dir.path().join("00000000000000000009.json"), b"junk").unwrap();
        let spool = Spool::open(dir.path(), 3).unwrap();
        assert_eq!(spool.next_seq(), 10);
        let (taken, bad) = spool.take(10, Duration::ZERO);
        assert_eq!(taken.iter().map(|c| c.seq).collect::<Vec<_>>(), vec![4]);
        assert_eq!(bad, 1);
        spool.release();
        assert_eq!(spool.len(), 1);
    }
}
