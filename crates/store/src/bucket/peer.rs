//! Read-only views of other replicas' data in the same bucket (issue #11): a replica whose
//! peer is down reads that peer's segments and indexes straight from the bucket.
//!
//! [`Store::open_replica`] loads `replicas/<name>/MANIFEST` and opens the segments and
//! indexes it names through this store's page cache (one cache, one size bound, keys are
//! per replica). The view is a [`Store`] with an empty head and no WAL, flusher or
//! maintenance thread: every read works as on the replica itself (minus what was only in
//! its head), and every write is refused ([`StoreError::ReadOnly`]): it never flushes,
//! compacts, applies retention, sweeps or uploads, so nothing under the other replica's
//! prefix is written or deleted. [`Store::refresh`] reloads the manifest and opens only
//! what changed.

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use super::keys::{manifest_key, replicas_in};
use super::{valid_replica, Remote};
use crate::format::BUCKET_REPLICAS_DIR;
use crate::head::Head;
use crate::manifest::Manifest;
use crate::state::State;
use crate::store::{FlushStatus, Inner, Store};
use crate::{RecoveryReport, Result, StoreError};

impl Store {
    /// This store's replica name in its bucket (the other replica's, for a read-only
    /// view); `None` without a bucket.
    pub fn replica(&self) -> Option<&str> {
        self.inner.remote.as_ref().map(|r| r.replica.as_str())
    }

    /// Whether this is a read-only view of another replica ([`Store::open_replica`]).
    pub fn is_read_only(&self) -> bool {
        self.inner.wal.is_none()
    }

    pub(crate) fn read_only_error(&self, op: &'static str) -> StoreError {
        StoreError::ReadOnly {
            replica: self.replica().unwrap_or_default().to_owned(),
            op,
        }
    }

    fn remote(&self) -> Result<&Arc<Remote>> {
        self.inner
            .remote
            .as_ref()
            .ok_or_else(|| StoreError::Config {
                field: "storage",
                reason: "other replicas' data is read from a bucket; this store has none".into(),
            })
    }

    /// The names of the replicas with a manifest in the bucket, this one left out (one
    /// listing of `replicas/`).
    pub fn bucket_replicas(&self) -> Result<Vec<String>> {
        let remote = self.remote()?;
        let dir = format!("{BUCKET_REPLICAS_DIR}/");
        let keys = remote
            .bucket
            .list(&dir)
            .map_err(|e| remote.err("list", &dir, e))?;
        let mut names = replicas_in(&keys);
        names.retain(|n| *n != remote.replica);
        Ok(names)
    }

    /// Opens replica `name`'s data in this store's bucket, read-only, through this store's
    /// page cache (see the module's documentation). A replica without a manifest yet
    /// opens empty.
    pub fn open_replica(&self, name: &str) -> Result<Store> {
        let own = self.remote()?;
        if !valid_replica(name) {
            return Err(StoreError::Config {
                field: "storage.replica",
                reason: format!("{name:?} is not a replica name"),
            });
        }
        let remote = Arc::new(Remote {
            bucket: own.bucket.clone(),
            replica: name.to_owned(),
            cache: own.cache.clone(),
            // Never cleared: the view uploads nothing, and this keeps deletions off too.
            manifest_dirty: AtomicBool::new(true),
        });
        let manifest = fetch_manifest(&remote)?;
        let mut report = RecoveryReport::default();
        let mut cfg = self.inner.cfg.clone();
        cfg.bucket = None;
        cfg.background = false;
        // Only names paths in messages: nothing is created or read there.
        cfg.dir = self.inner.cfg.dir.join("replicas").join(name);
        let state = State::open(
            &*cfg.fs,
            &cfg.dir,
            Some(&remote),
            manifest,
            None,
            &mut report.bad_files,
        )?;
        let inner = Inner {
            gate: RwLock::new(()),
            wal: None,
            head: Mutex::new(Head::new(cfg.max_dedup_bytes)),
            room: Condvar::new(),
            state: RwLock::new(Arc::new(state)),
            flushing: Mutex::new(()),
            maintenance: Mutex::new(()),
            commit: Mutex::new(()),
            ids: AtomicU64::new(0),
            flush_status: Mutex::new(FlushStatus::default()),
            wake: (Mutex::new(false), Condvar::new()),
            shutdown: AtomicBool::new(false),
            last_error: Mutex::new(None),
            remote: Some(remote),
            cfg,
        };
        Ok(Store::from_parts(Arc::new(inner), Vec::new(), report))
    }

    /// For a read-only view: loads its replica's bucket manifest again and, when it
    /// changed, opens the new segments and indexes (those already open are kept).
    /// Returns whether anything changed. Refused on a replica's own store.
    pub fn refresh(&self) -> Result<bool> {
        if !self.is_read_only() {
            return Err(StoreError::Config {
                field: "storage",
                reason: "refresh is for read-only views of other replicas".into(),
            });
        }
        let inner = &*self.inner;
        let remote = self.remote()?;
        let _c = inner.commit.lock().unwrap_or_else(|e| e.into_inner());
        let manifest = fetch_manifest(remote)?;
        let old = inner.state();
        if manifest == old.manifest {
            return Ok(false);
        }
        let mut bad = Vec::new();
        let state = State::open(
            &*inner.cfg.fs,
            &inner.cfg.dir,
            Some(remote),
            manifest,
            Some(&old),
            &mut bad,
        )?;
        inner.set_state(state);
        Ok(true)
    }
}

/// `remote`'s replica manifest from the bucket (an empty one when there is none).
fn fetch_manifest(remote: &Remote) -> Result<Manifest> {
    let key = manifest_key(&remote.replica);
    match remote.bucket.get(&key) {
        Ok(bytes) => Manifest::decode(Path::new(&key), &bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Manifest::default()),
        Err(e) => Err(remote.err("read", &key, e)),
    }
}
