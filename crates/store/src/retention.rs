//! Retention: whole day partitions older than a tenant's age limit go, and while the store
//! is over its disk budget the oldest segments go. Ingest is never blocked: a new manifest
//! is committed, then files are deleted (scans holding them keep reading until done).

use std::sync::Arc;

use kelp_model::Timestamp;

use crate::format::DAY_NANOS;
use crate::index::LabelIndex;
use crate::manifest::PartKey;
use crate::state::{part_dir, Partition, State};
use crate::store::Inner;
use crate::Result;

/// What a retention run deleted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetentionReport {
    /// Whole partitions deleted.
    pub partitions: usize,
    /// Segments deleted (including those of whole partitions).
    pub segments: usize,
    /// Bytes freed.
    pub bytes: u64,
}

/// Applies the retention rules as of `now`.
pub(crate) fn apply(inner: &Inner, now: Timestamp) -> Result<RetentionReport> {
    let _m = inner.maintenance.lock().unwrap_or_else(|e| e.into_inner());
    // No flush may add a segment to a partition being deleted; changes are committed under
    // the commit lock. Both are short here (no segment is written).
    let _f = inner.flushing.lock().unwrap_or_else(|e| e.into_inner());
    let _c = inner.commit.lock().unwrap_or_else(|e| e.into_inner());
    let cfg = &inner.cfg.retention;
    let state = inner.state();
    let mut m = state.manifest.clone();
    let mut parts = state.parts.clone();
    let mut report = RetentionReport::default();
    let mut gone_parts: Vec<PartKey> = Vec::new();
    let mut gone_files: Vec<(PartKey, u64)> = Vec::new();
    for (key, p) in &state.manifest.partitions {
        let age = cfg.per_tenant.get(&key.0).copied().or(cfg.max_age);
        let Some(age) = age else { continue };
        let age_ns = age.as_nanos().min(i64::MAX as u128) as i64;
        let day_end = (i64::from(key.1) + 1).saturating_mul(DAY_NANOS);
        if day_end <= now.as_unix_nanos().saturating_sub(age_ns) {
            report.partitions += 1;
            report.segments += p.segments.len();
            report.bytes += p.index_bytes + p.segments.iter().map(|s| s.bytes).sum::<u64>();
            m.partitions.remove(key);
            parts.remove(key);
            gone_parts.push(key.clone());
        }
    }
    if let Some(max) = cfg.max_disk_bytes {
        let mut touched = Vec::new();
        while m.disk_bytes() > max {
            // The oldest segment: the smallest max_ts over all partitions.
            let oldest = m
                .partitions
                .iter()
                .flat_map(|(k, p)| {
                    p.segments
                        .iter()
                        .map(move |s| (s.max_ts, k.clone(), s.id, s.bytes))
                })
                .min();
            let Some((_, key, id, bytes)) = oldest else {
                break;
            };
            let Some(p) = m.partitions.get_mut(&key) else {
                break;
            };
            p.segments.retain(|s| s.id != id);
            report.segments += 1;
            report.bytes += bytes;
            gone_files.push((key.clone(), id));
            if p.segments.is_empty() {
                report.partitions += 1;
                report.bytes += p.index_bytes;
                m.partitions.remove(&key);
                parts.remove(&key);
                gone_parts.push(key);
            } else if !touched.contains(&key) {
                touched.push(key);
            }
        }
        // Partitions that lost some segments get a new index.
        for key in touched {
            let (Some(entry), Some(old)) =
                (m.partitions.get(&key).cloned(), parts.get(&key).cloned())
            else {
                continue;
            };
            let segments: Vec<_> = old
                .segments
                .iter()
                .filter(|s| entry.segments.iter().any(|e| e.id == s.id))
                .cloned()
                .collect();
            let index = LabelIndex::build(&segments);
            let id = inner.take_id();
            let dir = part_dir(&inner.cfg.dir, &key.0, key.1);
            let bytes = index.encode();
            let ipath = dir.join(crate::format::index_file(id));
            crate::fs::write_atomic(&*inner.cfg.fs, &ipath, &bytes)?;
            if let Some(r) = &inner.remote {
                let okey = crate::bucket::keys::index_key(&r.replica, &key.0, key.1, id);
                crate::bucket::sync::upload_local(r, &*inner.cfg.fs, &okey, &ipath, false)?;
            }
            if let Some(e) = m.partitions.get_mut(&key) {
                gone_files.push((key.clone(), e.index_id));
                e.index_id = id;
                e.index_bytes = bytes.len() as u64;
            }
            parts.insert(
                key.clone(),
                Arc::new(Partition {
                    segments,
                    index: Arc::new(index),
                }),
            );
        }
    }
    if report == RetentionReport::default() {
        return Ok(report);
    }
    m.next_id = m
        .next_id
        .max(inner.ids.load(std::sync::atomic::Ordering::SeqCst));
    m.generation += 1;
    m.save(&*inner.cfg.fs, &inner.cfg.dir)?;
    crate::flush::save_remote_manifest(inner, &m);
    inner.set_state(State { manifest: m, parts });
    for (key, id) in gone_files {
        crate::flush::delete_files(inner, &key, &[id]);
    }
    for key in gone_parts {
        if let (Some(r), Some(p)) = (&inner.remote, state.manifest.partitions.get(&key)) {
            let ids: Vec<u64> = p
                .segments
                .iter()
                .map(|s| s.id)
                .chain(std::iter::once(p.index_id))
                .collect();
            crate::bucket::sync::delete_objects(r, &key.0, key.1, &ids);
        }
        let _ = inner
            .cfg
            .fs
            .remove_dir_all(&part_dir(&inner.cfg.dir, &key.0, key.1));
    }
    Ok(report)
}
