//! Flushing the head to segments, and the background thread that triggers flushes,
//! retention and compaction.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kelp_model::{Labels, StreamId};

use crate::chunk::Chunk;
use crate::format::{day_of, index_file, segment_file, TENANTS_DIR};
use crate::fs::{sync_parent, Fs};
use crate::index::LabelIndex;
use crate::manifest::{Manifest, PartKey, SegEntry};
use crate::segment::{write_segment, BlockSpec, Segment};
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

/// Writes one partition's new segment and index; returns the new partition and its
/// manifest entry changes (applied to `m`).
pub(crate) fn write_partition(
    inner: &Inner,
    m: &mut Manifest,
    old: Option<&Arc<Partition>>,
    key: &PartKey,
    keep: impl Fn(&Segment) -> bool,
    write: impl FnOnce(&Path) -> Result<crate::segment::SegmentInfo>,
) -> Result<(Partition, Vec<u64>)> {
    let fs = &*inner.cfg.fs;
    let dir = part_dir(&inner.cfg.dir, &key.0, key.1);
    create_dirs(fs, &inner.cfg.dir, &dir)?;
    let id = m.take_id();
    let path = dir.join(segment_file(id));
    let info = write(&path)?;
    let seg = Arc::new(Segment::open(fs, &path, id)?);
    let mut segments: Vec<Arc<Segment>> = old
        .map(|p| p.segments.iter().filter(|s| keep(s)).cloned().collect())
        .unwrap_or_default();
    segments.push(seg);
    let index = LabelIndex::build(&segments);
    let index_id = m.take_id();
    let ipath = dir.join(index_file(index_id));
    let bytes = index.encode();
    let mut f = fs
        .create(&ipath)
        .map_err(|e| StoreError::io("create", &ipath, e))?;
    f.write_all(&bytes)
        .map_err(|e| StoreError::io("write", &ipath, e))?;
    f.sync().map_err(|e| StoreError::io("fsync", &ipath, e))?;
    sync_parent(fs, &ipath)?;
    let entry = m.partitions.entry(key.clone()).or_default();
    let mut dead = vec![entry.index_id];
    entry.segments.retain(|s| {
        let k = segments.iter().any(|x| x.id == s.id);
        if !k {
            dead.push(s.id);
        }
        k
    });
    entry.segments.push(SegEntry {
        id,
        bytes: info.bytes,
        min_ts: info.min_ts,
        max_ts: info.max_ts,
        entries: info.entries,
    });
    entry.index_id = index_id;
    entry.index_bytes = bytes.len() as u64;
    Ok((
        Partition {
            segments,
            index: Arc::new(index),
        },
        dead,
    ))
}

fn create_dirs(fs: &dyn Fs, root: &Path, dir: &Path) -> Result<()> {
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
}

/// Files to delete once a new manifest is committed, per partition.
type Dead = Vec<(PartKey, Vec<u64>)>;

/// Flushes the whole head.
pub(crate) fn flush(inner: &Inner) -> Result<()> {
    let _m = inner.maintenance.lock().unwrap_or_else(|e| e.into_inner());
    let (set, covered) = {
        let _g = inner.gate.write().unwrap_or_else(|e| e.into_inner());
        let covered = inner.wal.rotate()?;
        (inner.head().take_for_flush(), covered)
    };
    let result = (|| -> Result<(State, Dead)> {
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
        let state = inner.state();
        let mut m = state.manifest.clone();
        let mut parts = state.parts.clone();
        let mut dead = Vec::new();
        for (key, batch) in &plan {
            let (p, d) = write_partition(
                inner,
                &mut m,
                state.parts.get(key),
                key,
                |_| true,
                |path| {
                    write_segment(
                        &*inner.cfg.fs,
                        path,
                        &batch.streams,
                        &batch.specs,
                        inner.cfg.zstd_level,
                        inner.cfg.use_blooms,
                    )
                },
            )?;
            parts.insert(key.clone(), Arc::new(p));
            dead.push((key.clone(), d));
        }
        m.wal_covered = covered;
        m.generation += 1;
        m.save(&*inner.cfg.fs, &inner.cfg.dir)?;
        Ok((State { manifest: m, parts }, dead))
    })();
    let (state, dead) = match result {
        Ok(x) => x,
        Err(e) => {
            inner.head().abort_flush();
            return Err(e);
        }
    };
    {
        let mut head = inner.head();
        inner.set_state(state);
        let window = inner.cfg.unordered_window.as_nanos().min(i64::MAX as u128) as i64;
        head.finish_flush(window);
    }
    inner.room.notify_all();
    for (key, ids) in dead {
        delete_files(inner, &key, &ids);
    }
    inner.wal.delete_through(covered)?;
    Ok(())
}

/// The background thread: flush by size and age; retention and compaction now and then.
pub(crate) fn background(inner: &Inner) {
    let tick = Duration::from_millis(200);
    let mut last_maintenance = Instant::now();
    loop {
        {
            let (m, c) = &inner.wake;
            let mut woke = m.lock().unwrap_or_else(|e| e.into_inner());
            if !*woke {
                woke = c
                    .wait_timeout(woke, tick)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            *woke = false;
        }
        if inner.shutdown.load(Ordering::SeqCst) {
            return;
        }
        let due = {
            let h = inner.head();
            h.bytes >= inner.cfg.flush_bytes
                || h.bytes >= inner.cfg.max_head_bytes
                || h.oldest.is_some_and(|t| t.elapsed() >= inner.cfg.flush_age)
        };
        let mut result = if due { flush(inner) } else { Ok(()) };
        if inner.cfg.background && last_maintenance.elapsed() >= Duration::from_secs(10) {
            last_maintenance = Instant::now();
            result = result
                .and_then(|_| {
                    crate::retention::apply(inner, kelp_model::Timestamp::now()).map(|_| ())
                })
                .and_then(|_| crate::compaction::compact(inner).map(|_| ()));
        }
        if let Err(e) = result {
            *inner.last_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
        }
    }
}
