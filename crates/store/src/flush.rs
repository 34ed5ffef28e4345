//! Flushing the head to segments, and the background thread that triggers flushes,
//! retention and compaction.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kelp_model::{Labels, StreamId};

use crate::bucket::keys::{index_key, segment_key};
use crate::bucket::sync::{delete_objects, upload_local, upload_manifest};
use crate::chunk::Chunk;
use crate::format::{day_of, index_file, segment_file, TENANTS_DIR};
use crate::fs::{sync_parent, Fs};
use crate::index::LabelIndex;
use crate::manifest::{PartKey, SegEntry};
use crate::segment::{write_segment, BlockSpec, Segment, SegmentInfo};
use crate::state::{part_dir, Partition, State};
use crate::store::Inner;
use crate::{Result, StoreError};

/// Streams and blocks bound for one partition.
#[derive(Default)]
pub(crate) struct PartBatch {
    pub streams: Vec<(StreamId, Labels)>,
    pub specs: Vec<BlockSpec>,
}

/// Cuts a stream's chunks into block specs per day partition, each at most `block_bytes`
/// of lines.
pub(crate) fn plan_blocks(
    out: &mut BTreeMap<PartKey, PartBatch>,
    tenant: &kelp_model::TenantId,
    id: StreamId,
    labels: &Labels,
    chunks: &[Arc<Chunk>],
    block_bytes: usize,
) {
    for c in chunks {
        let ents = c.ents();
        let mut i = 0;
        while i < ents.len() {
            let day = day_of(ents[i].ts);
            let key = (tenant.clone(), day);
            let batch = out.entry(key).or_default();
            if batch.streams.last().is_none_or(|s| s.0 != id) {
                batch.streams.push((id, labels.clone()));
            }
            let start = i;
            let mut bytes = 0usize;
            while i < ents.len() && day_of(ents[i].ts) == day && (bytes < block_bytes || i == start)
            {
                bytes += c.line(&ents[i]).len();
                i += 1;
            }
            batch.specs.push(BlockSpec {
                stream: id,
                chunk: c.clone(),
                range: start..i,
            });
        }
    }
}

/// A new segment file for partition `key`: its id and path (directories created).
pub(crate) fn new_segment_path(inner: &Inner, key: &PartKey) -> Result<(u64, PathBuf)> {
    let dir = part_dir(&inner.cfg.dir, &key.0, key.1);
    create_dirs(&*inner.cfg.fs, &inner.cfg.dir, &dir)?;
    let id = inner.take_id();
    Ok((id, dir.join(segment_file(id))))
}

/// Opens a segment just written and fsynced at `path`. With a bucket it is uploaded first,
/// copied into the cache and the local file deleted; it is then read through the cache.
pub(crate) fn close_segment(
    inner: &Inner,
    key: &PartKey,
    id: u64,
    path: &std::path::Path,
    bytes: u64,
) -> Result<Arc<Segment>> {
    let seg = match &inner.remote {
        Some(r) => {
            let okey = segment_key(&r.replica, &key.0, key.1, id);
            upload_local(r, &*inner.cfg.fs, &okey, path, true)?;
            Segment::open_remote(r, &okey, bytes, id)?
        }
        None => Segment::open(&*inner.cfg.fs, path, id)?,
    };
    Ok(Arc::new(seg))
}

/// One partition's change: segments removed (by id) and segments added (written and
/// fsynced, not yet named by the manifest).
pub(crate) struct PartChange {
    pub key: PartKey,
    pub removed: Vec<u64>,
    pub added: Vec<(Arc<Segment>, SegmentInfo)>,
}

/// Applies changes to `state` (the current one; the caller holds the commit lock): writes
/// each changed partition's new index, then the new manifest. Returns the new state and
/// the files no longer named (to delete once the caller installed the state).
pub(crate) fn commit(
    inner: &Inner,
    state: &State,
    changes: Vec<PartChange>,
    wal_covered: Option<u64>,
) -> Result<(State, Dead)> {
    let fs = &*inner.cfg.fs;
    let mut m = state.manifest.clone();
    let mut parts = state.parts.clone();
    let mut dead = Vec::new();
    for ch in changes {
        let key = ch.key;
        let dir = part_dir(&inner.cfg.dir, &key.0, key.1);
        create_dirs(fs, &inner.cfg.dir, &dir)?;
        let mut segments: Vec<Arc<Segment>> = parts
            .get(&key)
            .map(|p| {
                p.segments
                    .iter()
                    .filter(|s| !ch.removed.contains(&s.id))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        segments.extend(ch.added.iter().map(|(s, _)| s.clone()));
        let index = LabelIndex::build(&segments);
        let index_id = inner.take_id();
        let ipath = dir.join(index_file(index_id));
        let bytes = index.encode();
        let mut f = fs
            .create(&ipath)
            .map_err(|e| StoreError::io("create", &ipath, e))?;
        f.write_all(&bytes)
            .map_err(|e| StoreError::io("write", &ipath, e))?;
        f.sync().map_err(|e| StoreError::io("fsync", &ipath, e))?;
        drop(f);
        match &inner.remote {
            Some(r) => {
                let okey = index_key(&r.replica, &key.0, key.1, index_id);
                upload_local(r, fs, &okey, &ipath, false)?;
            }
            None => sync_parent(fs, &ipath)?,
        }
        let entry = m.partitions.entry(key.clone()).or_default();
        let mut gone = vec![entry.index_id];
        entry.segments.retain(|s| {
            let keep = !ch.removed.contains(&s.id);
            if !keep {
                gone.push(s.id);
            }
            keep
        });
        for (s, info) in &ch.added {
            entry.segments.push(SegEntry {
                id: s.id,
                bytes: info.bytes,
                min_ts: info.min_ts,
                max_ts: info.max_ts,
                entries: info.entries,
            });
        }
        entry.index_id = index_id;
        entry.index_bytes = bytes.len() as u64;
        parts.insert(
            key.clone(),
            Arc::new(Partition {
                segments,
                index: Arc::new(index),
            }),
        );
        dead.push((key, gone));
    }
    if let Some(w) = wal_covered {
        m.wal_covered = w;
    }
    m.next_id = m.next_id.max(inner.ids.load(Ordering::SeqCst));
    m.generation += 1;
    m.save(fs, &inner.cfg.dir)?;
    save_remote_manifest(inner, &m);
    Ok((State { manifest: m, parts }, dead))
}

/// With a bucket, uploads the manifest just committed locally. A failure is recorded and
/// retried by the flusher; the local manifest stays the truth meanwhile.
pub(crate) fn save_remote_manifest(inner: &Inner, m: &crate::manifest::Manifest) {
    if let Some(r) = &inner.remote {
        record_error(inner, upload_manifest(r, m));
    }
}

fn create_dirs(fs: &dyn Fs, root: &std::path::Path, dir: &std::path::Path) -> Result<()> {
    if fs.len(dir).is_ok() {
        return Ok(());
    }
    fs.create_dir_all(dir)
        .map_err(|e| StoreError::io("create dir", dir, e))?;
    // Make every new directory entry durable, from the partition up to `tenants/`.
    let top = root.join(TENANTS_DIR);
    let mut d = dir;
    while d != top {
        sync_parent(fs, d)?;
        match d.parent() {
            Some(p) => d = p,
            None => break,
        }
    }
    Ok(())
}

/// Deletes files of a partition directory by id (segments and indexes no longer named).
pub(crate) fn delete_files(inner: &Inner, key: &PartKey, ids: &[u64]) {
    let dir = part_dir(&inner.cfg.dir, &key.0, key.1);
    for id in ids {
        for name in [segment_file(*id), index_file(*id)] {
            let _ = inner.cfg.fs.remove_file(&dir.join(name));
        }
    }
    if let Some(r) = &inner.remote {
        delete_objects(r, &key.0, key.1, ids);
    }
}

/// Files to delete once a new manifest is committed, per partition.
pub(crate) type Dead = Vec<(PartKey, Vec<u64>)>;

/// Flushes the whole head. Never waits for compaction: only for another flush and, briefly,
/// for a commit.
pub(crate) fn flush(inner: &Inner) -> Result<()> {
    let _f = inner.flushing.lock().unwrap_or_else(|e| e.into_inner());
    inner.flush_status().running_since = Some(Instant::now());
    let r = flush_locked(inner);
    {
        let mut st = inner.flush_status();
        st.running_since = None;
        match &r {
            Ok(()) => {
                st.done += 1;
                st.error = None;
            }
            Err(e) => st.error = Some(e.to_string()),
        }
    }
    // Waiting appenders re-check the head (room made) or the status (a failure).
    inner.room.notify_all();
    r
}

fn flush_locked(inner: &Inner) -> Result<()> {
    let (set, covered) = {
        let _g = inner.gate.write().unwrap_or_else(|e| e.into_inner());
        let wal = inner.wal.as_ref().ok_or(StoreError::Closed)?;
        let covered = wal.rotate()?;
        (inner.head().take_for_flush(), covered)
    };
    let result = (|| -> Result<Dead> {
        let mut plan = BTreeMap::new();
        for (tenant, id, labels, chunks) in &set {
            plan_blocks(
                &mut plan,
                tenant,
                *id,
                labels,
                chunks,
                inner.cfg.block_bytes,
            );
        }
        let mut changes = Vec::new();
        for (key, batch) in &plan {
            let (id, path) = new_segment_path(inner, key)?;
            let info = write_segment(
                &*inner.cfg.fs,
                &path,
                &batch.streams,
                &batch.specs,
                inner.cfg.zstd_level,
                true, // always written; `use_blooms` only switches their use in scans
            )?;
            let seg = close_segment(inner, key, id, &path, info.bytes)?;
            changes.push(PartChange {
                key: key.clone(),
                removed: Vec::new(),
                added: vec![(seg, info)],
            });
        }
        drop(plan);
        let _c = inner.commit.lock().unwrap_or_else(|e| e.into_inner());
        let (state, dead) = commit(inner, &inner.state(), changes, Some(covered))?;
        // Scans read the head and the state under the head lock: they see the flushed
        // chunks either in the head or in segments, never in both or neither.
        let mut head = inner.head();
        inner.set_state(state);
        let window = inner.cfg.unordered_window.as_nanos().min(i64::MAX as u128) as i64;
        head.finish_flush(window);
        Ok(dead)
    })();
    let dead = match result {
        Ok(d) => d,
        Err(e) => {
            // Files written so far are named by no manifest: removed at the next open.
            inner.head().abort_flush();
            return Err(e);
        }
    };
    drop(set);
    for (key, ids) in dead {
        delete_files(inner, &key, &ids);
    }
    if let Some(wal) = &inner.wal {
        wal.delete_through(covered)?;
    }
    Ok(())
}

fn record_error(inner: &Inner, result: Result<()>) {
    if let Err(e) = result {
        *inner.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
    }
}

/// Waits up to `tick` for a wake-up; returns whether the store is shutting down.
fn sleep(inner: &Inner, tick: Duration) -> bool {
    let (m, c) = &inner.wake;
    let mut woke = m.lock().unwrap_or_else(|e| e.into_inner());
    if !*woke {
        woke = c
            .wait_timeout(woke, tick)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    *woke = false;
    inner.shutdown.load(Ordering::SeqCst)
}

/// The flusher thread: flushes by size and age, nothing else.
pub(crate) fn background(inner: &Inner) {
    while !sleep(inner, Duration::from_millis(200)) {
        let due = {
            let h = inner.head();
            h.bytes >= inner.cfg.flush_bytes.min(inner.cfg.max_head_bytes)
                || h.oldest.is_some_and(|t| t.elapsed() >= inner.cfg.flush_age)
        };
        if due {
            record_error(inner, flush(inner));
        }
        retry_remote_manifest(inner);
    }
}

/// Uploads the bucket manifest again after a failed upload.
fn retry_remote_manifest(inner: &Inner) {
    let Some(r) = &inner.remote else { return };
    if !r.manifest_dirty.load(Ordering::SeqCst) {
        return;
    }
    let _c = inner.commit.lock().unwrap_or_else(|e| e.into_inner());
    let m = inner.state().manifest.clone();
    record_error(inner, upload_manifest(r, &m));
}

/// The maintenance thread: retention and compaction every 10 s, apart from flushes.
pub(crate) fn maintenance(inner: &Inner) {
    let every = Duration::from_secs(10);
    let mut last = Instant::now();
    loop {
        std::thread::park_timeout(Duration::from_millis(200));
        if inner.shutdown.load(Ordering::SeqCst) {
            return;
        }
        if last.elapsed() < every {
            continue;
        }
        last = Instant::now();
        let r = crate::retention::apply(inner, kelp_model::Timestamp::now())
            .and_then(|_| crate::compaction::compact(inner).map(|_| ()));
        record_error(inner, r);
    }
}
