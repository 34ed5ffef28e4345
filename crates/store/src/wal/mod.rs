//! The write-ahead log: checksummed records in numbered files, group commit, replay.
//!
//! Appenders encode their record, hand it to [`Wal::append`] and block until it is durable
//! under the [`FsyncPolicy`]. The first waiting appender becomes the group's leader: it
//! takes every pending record, writes them with one `write` and one `fsync`, and wakes the
//! group. A failed write or fsync fails the whole group with [`StoreError::WalFailed`]
//! (nothing of it was acknowledged) and the next group starts a new file, so a torn tail is
//! never appended to. Files are rotated at each flush and deleted once everything in them
//! is in durable segments.

mod record;
mod replay;

pub(crate) use record::encode_batch;
pub(crate) use replay::replay;
pub use replay::DroppedTail;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::codec::put_header;
use crate::config::FsyncPolicy;
use crate::format::WAL_MAGIC;
use crate::fs::{sync_parent, Fs, WriteFile};
use crate::{Result, StoreError};

struct State {
    /// The open file; `None` while a leader writes, or after a failure.
    file: Option<Box<dyn WriteFile>>,
    /// Number of the current file.
    number: u64,
    /// Whether the next write must open file `number + 1` first.
    broken: bool,
    /// Encoded records not yet handed to a leader.
    pending: Vec<u8>,
    /// Sequence number of the last record appended.
    next_seq: u64,
    /// Every record up to here is written (durable or failed).
    done_seq: u64,
    /// Recently failed ranges `(lo, hi]` and why.
    failed: Vec<(u64, u64, Arc<str>)>,
    /// Whether a leader is writing.
    leader: bool,
}

/// The write-ahead log writer.
pub(crate) struct Wal {
    dir: PathBuf,
    fs: Arc<dyn Fs>,
    policy: FsyncPolicy,
    state: Mutex<State>,
    cond: Condvar,
}

impl Wal {
    /// Starts a new WAL file numbered `number` in `dir`.
    pub(crate) fn create(
        dir: &Path,
        fs: Arc<dyn Fs>,
        policy: FsyncPolicy,
        number: u64,
    ) -> Result<Self> {
        let file = open_file(&*fs, dir, number, policy)?;
        Ok(Self {
            dir: dir.to_owned(),
            fs,
            policy,
            state: Mutex::new(State {
                file: Some(file),
                number,
                broken: false,
                pending: Vec::new(),
                next_seq: 0,
                done_seq: 0,
                failed: Vec::new(),
                leader: false,
            }),
            cond: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock means a thread panicked mid-update; the state is plain data that
        // stays consistent between statements, so carry on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends one encoded record and returns when it is durable (or failed).
    pub(crate) fn append(&self, record: &[u8]) -> Result<()> {
        let mut st = self.lock();
        st.pending.extend_from_slice(record);
        st.next_seq += 1;
        let me = st.next_seq;
        loop {
            if st.done_seq >= me {
                return match st.failed.iter().find(|(lo, hi, _)| *lo < me && me <= *hi) {
                    Some((_, _, why)) => Err(StoreError::WalFailed {
                        path: record::wal_path(&self.dir, st.number),
                        reason: why.to_string(),
                    }),
                    None => Ok(()),
                };
            }
            if st.leader {
                st = self.cond.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            st.leader = true;
            if let FsyncPolicy::Batch { max_delay } = self.policy {
                drop(st);
                std::thread::sleep(max_delay);
                st = self.lock();
            }
            st = self.lead(st);
        }
    }

    /// Writes everything pending as the group's leader.
    fn lead<'a>(&'a self, mut st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let buf = std::mem::take(&mut st.pending);
        let (lo, hi) = (st.done_seq, st.next_seq);
        let mut file = st.file.take();
        let mut number = st.number;
        let reopen = st.broken || file.is_none();
        drop(st);
        let result = (|| -> Result<Box<dyn WriteFile>> {
            let mut f = match file.take() {
                Some(f) if !reopen => f,
                _ => {
                    number += 1;
                    open_file(&*self.fs, &self.dir, number, self.policy)?
                }
            };
            let path = || record::wal_path(&self.dir, number);
            f.write_all(&buf)
                .map_err(|e| StoreError::io("write", path(), e))?;
            if self.policy != FsyncPolicy::Never {
                f.sync().map_err(|e| StoreError::io("fsync", path(), e))?;
            }
            Ok(f)
        })();
        let mut st = self.lock();
        st.number = number;
        match result {
            Ok(f) => {
                st.file = Some(f);
                st.broken = false;
            }
            Err(e) => {
                st.broken = true;
                if st.failed.len() >= 64 {
                    st.failed.remove(0);
                }
                st.failed.push((lo, hi, e.to_string().into()));
            }
        }
        st.done_seq = hi;
        st.leader = false;
        self.cond.notify_all();
        st
    }

    /// Starts a new file and returns the number of the last one written to. The caller
    /// guarantees no append is in flight (it holds the store's append gate).
    pub(crate) fn rotate(&self) -> Result<u64> {
        let mut st = self.lock();
        while st.leader || !st.pending.is_empty() {
            if !st.leader {
                st.leader = true;
                st = self.lead(st);
            } else {
                st = self.cond.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        }
        let old = st.number;
        match open_file(&*self.fs, &self.dir, old + 1, self.policy) {
            Ok(f) => {
                st.file = Some(f);
                st.number = old + 1;
                st.broken = false;
            }
            Err(e) => {
                // The next append retries opening a new file.
                st.broken = true;
                st.file = None;
                return Err(e);
            }
        }
        Ok(old)
    }

    /// Deletes WAL files numbered `<= through`.
    pub(crate) fn delete_through(&self, through: u64) -> Result<()> {
        delete_through(&*self.fs, &self.dir, through)
    }
}

/// Deletes the WAL files in `dir` numbered `<= through`.
pub(crate) fn delete_through(fs: &dyn Fs, dir: &Path, through: u64) -> Result<()> {
    let names = fs.list(dir).map_err(|e| StoreError::io("list", dir, e))?;
    for name in names {
        if let Some(n) = crate::format::parse_wal_file(&name) {
            if n <= through {
                let p = dir.join(&name);
                fs.remove_file(&p)
                    .map_err(|e| StoreError::io("remove", &p, e))?;
            }
        }
    }
    Ok(())
}

fn open_file(
    fs: &dyn Fs,
    dir: &Path,
    number: u64,
    policy: FsyncPolicy,
) -> Result<Box<dyn WriteFile>> {
    let path = record::wal_path(dir, number);
    let mut f = fs
        .create(&path)
        .map_err(|e| StoreError::io("create", &path, e))?;
    let mut header = Vec::with_capacity(crate::format::HEADER_LEN);
    put_header(&mut header, &WAL_MAGIC);
    f.write_all(&header)
        .map_err(|e| StoreError::io("write", &path, e))?;
    if policy != FsyncPolicy::Never {
        f.sync().map_err(|e| StoreError::io("fsync", &path, e))?;
        sync_parent(fs, &path)?;
    }
    Ok(f)
}
