//! [`Store`]: opening (recovery), appending, and the background flusher.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use kelp_model::TenantId;

use crate::bucket::cache::PageCache;
use crate::bucket::Remote;
use crate::config::StoreConfig;
use crate::format::{TENANTS_DIR, WAL_DIR};
use crate::head::Head;
use crate::ingest::{check_labels, precheck};
use crate::manifest::Manifest;
use crate::state::{remove_orphans, State};
use crate::wal::{encode_batch, replay, Wal};
use crate::{AppendOutcome, RecoveryReport, Result, StoreError, StreamEntries};

/// Shared between the store handle and its background thread.
pub(crate) struct Inner {
    pub cfg: StoreConfig,
    /// Appends hold it shared from WAL write to head apply; a flush takes it exclusively to
    /// rotate the WAL and freeze the head at one consistent point.
    pub gate: RwLock<()>,
    /// The write-ahead log; `None` for a read-only view of another replica's bucket data.
    pub wal: Option<Wal>,
    pub head: Mutex<Head>,
    /// Signalled when a flush frees head memory (or fails).
    pub room: Condvar,
    /// The durable state; replaced (never mutated) under the commit lock.
    pub state: RwLock<Arc<State>>,
    /// Serializes flushes. Held for a whole flush (a few hundred ms); never waits for
    /// compaction, so a long compaction cannot hold appends back.
    pub flushing: Mutex<()>,
    /// Serializes compaction and retention runs (held for a whole run).
    pub maintenance: Mutex<()>,
    /// Serializes state changes: taken briefly to write indexes and the manifest and to
    /// install the new state. Lock order: `flushing`, then `commit`, then `head`.
    pub commit: Mutex<()>,
    /// The last file id handed out (segment and index files of all partitions).
    pub ids: AtomicU64,
    /// How flushes are doing, for appends waiting on the head cap.
    pub flush_status: Mutex<FlushStatus>,
    /// Wakes the flusher thread.
    pub wake: (Mutex<bool>, Condvar),
    pub shutdown: AtomicBool,
    pub last_error: Mutex<Option<String>>,
    /// The bucket and its cache, when closed segments live in a bucket.
    pub remote: Option<Arc<Remote>>,
}

/// What appenders waiting for head room need to know about flushes.
#[derive(Debug, Default)]
pub(crate) struct FlushStatus {
    /// Flushes completed since open.
    pub done: u64,
    /// When the running flush started.
    pub running_since: Option<Instant>,
    /// Why the last flush failed (cleared by a successful one).
    pub error: Option<String>,
}

impl Inner {
    pub(crate) fn head(&self) -> MutexGuard<'_, Head> {
        // Head updates keep it consistent between statements; a panicked holder cannot
        // leave it half-changed in a way later code relies on.
        self.head.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn state(&self) -> Arc<State> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub(crate) fn set_state(&self, s: State) {
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(s);
    }
    pub(crate) fn flush_status(&self) -> MutexGuard<'_, FlushStatus> {
        self.flush_status.lock().unwrap_or_else(|e| e.into_inner())
    }
    /// Hands out a new file id (recorded in the next manifest saved).
    pub(crate) fn take_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::SeqCst) + 1
    }
    pub(crate) fn wake_flusher(&self) {
        let (m, c) = &self.wake;
        *m.lock().unwrap_or_else(|e| e.into_inner()) = true;
        c.notify_one();
    }
}

/// The storage engine. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct Store {
    pub(crate) inner: Arc<Inner>,
    background: Vec<JoinHandle<()>>,
    recovery: RecoveryReport,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.inner.cfg.dir)
            .finish()
    }
}

impl Store {
    /// Wraps the parts of a store (`bucket/peer.rs` builds read-only views with it).
    pub(crate) fn from_parts(
        inner: Arc<Inner>,
        background: Vec<JoinHandle<()>>,
        recovery: RecoveryReport,
    ) -> Self {
        Self {
            inner,
            background,
            recovery,
        }
    }

    /// Opens (or creates) the store at `cfg.dir`: loads the manifest, removes leftovers of
    /// interrupted changes, replays the WAL into the head and starts the flusher.
    pub fn open(cfg: StoreConfig) -> Result<Self> {
        let fs = cfg.fs.clone();
        let root = cfg.dir.clone();
        let wal_dir = root.join(WAL_DIR);
        for d in [&root, &wal_dir, &root.join(TENANTS_DIR)] {
            fs.create_dir_all(d)
                .map_err(|e| StoreError::io("create dir", d, e))?;
        }
        let remote = match &cfg.bucket {
            Some(b) => {
                b.validate()?;
                let cache = Arc::new(
                    PageCache::open(fs.clone(), &b.cache_dir, b.cache_bytes)
                        .map_err(|e| StoreError::io("open cache", &b.cache_dir, e))?,
                );
                Some(Arc::new(Remote {
                    bucket: b.bucket.clone(),
                    replica: b.replica.clone(),
                    cache,
                    manifest_dirty: AtomicBool::new(false),
                }))
            }
            None => None,
        };
        let mut report = RecoveryReport::default();
        let manifest = match &remote {
            Some(r) => {
                let m = crate::bucket::sync::load_manifest(r, &*fs, &root)?;
                report.removed_objects = crate::bucket::sync::reconcile(r, &*fs, &root, &m)?;
                m
            }
            None => Manifest::load(&*fs, &root)?,
        };
        report.removed_files = remove_orphans(&*fs, &root, &manifest)?;
        let covered = manifest.wal_covered;
        let next_id = manifest.next_id;
        let state = State::open(
            &*fs,
            &root,
            remote.as_ref(),
            manifest,
            None,
            &mut report.bad_files,
        )?;
        let mut head = Head::new(cfg.max_dedup_bytes);
        let block = cfg.block_bytes;
        let replayed = replay(&*fs, &wal_dir, covered, |batch| {
            for s in &batch.streams {
                head.apply(&batch.tenant, &s.labels, &s.entries, block);
            }
            report.wal_entries += batch
                .streams
                .iter()
                .map(|s| s.entries.len() as u64)
                .sum::<u64>();
        })?;
        report.wal_files = replayed.files;
        report.wal_records = replayed.records;
        report.dropped = replayed.dropped;
        let wal = Wal::create(
            &wal_dir,
            fs.clone(),
            cfg.fsync,
            replayed.last_number.max(covered) + 1,
        )?;
        let inner = Arc::new(Inner {
            cfg,
            gate: RwLock::new(()),
            wal: Some(wal),
            head: Mutex::new(head),
            room: Condvar::new(),
            state: RwLock::new(Arc::new(state)),
            flushing: Mutex::new(()),
            maintenance: Mutex::new(()),
            commit: Mutex::new(()),
            ids: AtomicU64::new(next_id),
            flush_status: Mutex::new(FlushStatus::default()),
            wake: (Mutex::new(false), Condvar::new()),
            shutdown: AtomicBool::new(false),
            last_error: Mutex::new(None),
            remote,
        });
        let bg = inner.clone();
        let mut threads = vec![std::thread::Builder::new()
            .name("kelp-store-flush".into())
            .spawn(move || crate::flush::background(&bg))
            .map_err(|e| StoreError::io("spawn flusher", PathBuf::from(&root), e))?];
        if inner.cfg.background {
            // Compaction and retention run on their own thread: a long compaction must
            // never delay the flushes that make room for appends.
            let bg = inner.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("kelp-store-maint".into())
                    .spawn(move || crate::flush::maintenance(&bg))
                    .map_err(|e| StoreError::io("spawn maintenance", PathBuf::from(&root), e))?,
            );
        }
        Ok(Self {
            inner,
            background: threads,
            recovery: report,
        })
    }

    /// What opening found: WAL replayed, tails dropped, leftover files removed.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Appends a batch for `tenant` and returns once the accepted entries are durable (per
    /// the fsync policy) and visible to queries.
    ///
    /// Entries older than their stream's newest entry minus the out-of-order window, and
    /// lines over the limit, are rejected and counted; entries identical to one already
    /// stored (same stream, timestamp and line) are dropped and counted. Invalid labels and
    /// tenant limits fail the whole batch before anything is written.
    pub fn append(&self, tenant: &TenantId, streams: &[StreamEntries]) -> Result<AppendOutcome> {
        let inner = &*self.inner;
        let Some(wal) = &inner.wal else {
            return Err(self.read_only_error("append"));
        };
        let limits = &inner.cfg.limits;
        for s in streams {
            check_labels(tenant, &s.labels, limits)?;
        }
        self.wait_for_room()?;
        let _gate = inner.gate.read().unwrap_or_else(|e| e.into_inner());
        let window = inner.cfg.unordered_window.as_nanos().min(i64::MAX as u128) as i64;
        let (accepted, mut outcome) = {
            let head = inner.head();
            precheck(&head, tenant, streams, window, limits)?
        };
        if outcome.accepted == 0 {
            return Ok(outcome);
        }
        let accepted: &[StreamEntries] = accepted.as_deref().unwrap_or(streams);
        // Sized up front: a 1 MiB batch would otherwise grow through a dozen reallocations.
        let size: usize = accepted
            .iter()
            .map(|s| 64 + s.entries.iter().map(|e| e.line.len() + 12).sum::<usize>())
            .sum();
        let mut record = Vec::with_capacity(size + 64);
        encode_batch(&mut record, tenant, accepted);
        wal.append(&record)?;
        let mut head = inner.head();
        let mut dups = 0;
        for s in accepted {
            let a = head.apply(tenant, &s.labels, &s.entries, inner.cfg.block_bytes);
            dups += a.duplicates;
        }
        let over = head.bytes >= inner.cfg.flush_bytes;
        drop(head);
        outcome.accepted -= dups;
        outcome.duplicates += dups;
        if over {
            inner.wake_flusher();
        }
        Ok(outcome)
    }

    /// Waits while the head is over its cap (backpressure). Appends wait as long as
    /// flushes keep completing; they fail only when no flush has freed room for
    /// `append_wait`, with the reason: flushes failing, or one flush that slow.
    fn wait_for_room(&self) -> Result<()> {
        let inner = &*self.inner;
        let cap = inner.cfg.max_head_bytes;
        let start = Instant::now();
        let mut head = inner.head();
        let mut progress = (inner.flush_status().done, start);
        while head.bytes >= cap {
            let done = inner.flush_status().done;
            if done != progress.0 {
                progress = (done, Instant::now());
            }
            let stalled = progress.1.elapsed();
            if stalled >= inner.cfg.append_wait {
                let reason = {
                    let st = inner.flush_status();
                    match (&st.error, st.running_since) {
                        (Some(e), _) => format!("flushes are failing: {e}"),
                        (None, Some(t)) => format!(
                            "a flush has been writing for {} ms: the disk is not keeping up",
                            t.elapsed().as_millis()
                        ),
                        (None, None) => "no flush is running".to_owned(),
                    }
                };
                return Err(StoreError::HeadFull {
                    cap,
                    waited_ms: start.elapsed().as_millis() as u64,
                    reason,
                });
            }
            inner.wake_flusher();
            let left = (inner.cfg.append_wait - stalled).min(Duration::from_millis(100));
            head = inner
                .room
                .wait_timeout(head, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(())
    }

    /// Writes everything in the head to segments now and deletes the WAL files it covered.
    pub fn flush(&self) -> Result<()> {
        if self.inner.wal.is_none() {
            return Ok(()); // a read-only view has no head to flush
        }
        crate::flush::flush(&self.inner)
    }

    /// The deduplication window's memory and what its budget made it forget.
    pub fn dedup_stats(&self) -> crate::DedupStats {
        self.inner.head().dedup_stats()
    }

    /// Bytes the head holds now.
    pub fn head_bytes(&self) -> u64 {
        self.inner.head().bytes
    }

    /// The last error of a background flush, compaction or retention run, if any.
    pub fn background_error(&self) -> Option<String> {
        self.inner
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Flushes the head and stops the background thread.
    pub fn close(mut self) -> Result<()> {
        let r = self.flush();
        self.stop();
        r
    }

    fn stop(&mut self) {
        self.inner.shutdown.store(true, Ordering::SeqCst);
        self.inner.wake_flusher();
        for h in &self.background {
            h.thread().unpark();
        }
        for h in self.background.drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop();
    }
}
