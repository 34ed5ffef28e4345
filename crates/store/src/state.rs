//! The store's durable state in memory: open partitions with their segments and indexes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kelp_model::TenantId;

use crate::bucket::keys::{index_key, segment_key};
use crate::bucket::Remote;
use crate::format::{day_dir, index_file, segment_file, TENANTS_DIR};
use crate::fs::Fs;
use crate::index::LabelIndex;
use crate::manifest::{Manifest, PartKey};
use crate::segment::Segment;
use crate::{Result, StoreError};

/// One open day partition.
#[derive(Debug)]
pub(crate) struct Partition {
    pub segments: Vec<Arc<Segment>>,
    pub index: Arc<LabelIndex>,
}

/// A consistent view of the durable state.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub manifest: Manifest,
    pub parts: BTreeMap<PartKey, Arc<Partition>>,
}

/// The directory of a tenant's day partition.
pub(crate) fn part_dir(root: &Path, tenant: &TenantId, day: i32) -> PathBuf {
    root.join(TENANTS_DIR)
        .join(tenant.as_str())
        .join(day_dir(day))
}

impl State {
    /// Opens every partition the manifest names. Segments that fail their checks are left
    /// out (and reported); the index is rebuilt when its file is unusable. Segments and
    /// indexes `prev` already has open (by id) are shared, not opened again (a read-only
    /// view refreshing its manifest).
    pub(crate) fn open(
        fs: &dyn Fs,
        root: &Path,
        remote: Option<&Arc<Remote>>,
        manifest: Manifest,
        prev: Option<&State>,
        bad: &mut Vec<(PathBuf, String)>,
    ) -> Result<Self> {
        let mut parts = BTreeMap::new();
        for (key, p) in &manifest.partitions {
            let dir = part_dir(root, &key.0, key.1);
            let bad_before = bad.len();
            let mut segments = Vec::new();
            let old = prev.and_then(|s| Some((s.manifest.partitions.get(key)?, s.parts.get(key)?)));
            if let Some((old_entry, old_part)) = old {
                if old_entry == p && old_part.segments.len() == p.segments.len() {
                    parts.insert(key.clone(), old_part.clone());
                    continue;
                }
            }
            for s in &p.segments {
                if let Some(seg) = old.and_then(|(_, op)| op.segments.iter().find(|g| g.id == s.id))
                {
                    segments.push(seg.clone());
                    continue;
                }
                let path = dir.join(segment_file(s.id));
                let opened = match remote {
                    Some(r) => {
                        let key = segment_key(&r.replica, &key.0, key.1, s.id);
                        Segment::open_remote(r, &key, s.bytes, s.id)
                    }
                    None => Segment::open(fs, &path, s.id),
                };
                match opened {
                    Ok(seg) => segments.push(Arc::new(seg)),
                    Err(e @ (StoreError::Corruption { .. } | StoreError::Io { .. })) => {
                        bad.push((path, e.to_string()))
                    }
                    // A missing or short object is a damaged segment; a bucket that cannot
                    // be reached fails the open (below) rather than leaving data out.
                    Err(e) if e.is_missing_object() => bad.push((path, e.to_string())),
                    Err(e) => return Err(e),
                }
            }
            let ipath = dir.join(index_file(p.index_id));
            let read = match remote {
                Some(r) => read_object(
                    r,
                    &index_key(&r.replica, &key.0, key.1, p.index_id),
                    p.index_bytes,
                )?,
                None => fs.read(&ipath),
            };
            let index = match read.map(|b| LabelIndex::decode(&ipath, &b)) {
                Ok(Ok(idx)) if bad.len() == bad_before => idx,
                Ok(Err(e)) => {
                    bad.push((ipath, e.to_string()));
                    LabelIndex::build(&segments)
                }
                _ => LabelIndex::build(&segments),
            };
            parts.insert(
                key.clone(),
                Arc::new(Partition {
                    segments,
                    index: Arc::new(index),
                }),
            );
        }
        Ok(Self { manifest, parts })
    }

    /// Partitions of `tenant` whose days overlap `[start, end)`.
    pub(crate) fn partitions(
        &self,
        tenant: &TenantId,
        start: i64,
        end: i64,
    ) -> Vec<Arc<Partition>> {
        let (a, b) = (
            crate::format::day_of(start),
            crate::format::day_of(end.saturating_sub(1)),
        );
        self.parts
            .range((tenant.clone(), a)..=(tenant.clone(), b))
            .map(|(_, p)| p.clone())
            .collect()
    }
}

/// Reads a whole object through the cache. A bucket that cannot be reached is an error
/// (opening must not leave data out); an object that is missing or short is returned as
/// the inner error, for the caller to treat as a damaged file.
fn read_object(remote: &Remote, key: &str, len: u64) -> Result<std::io::Result<Vec<u8>>> {
    let mut buf = vec![0u8; len as usize];
    match remote.cache.read_at(&*remote.bucket, key, len, &mut buf, 0) {
        Ok(()) => Ok(Ok(buf)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::UnexpectedEof
            ) =>
        {
            Ok(Err(e))
        }
        Err(e) => Err(remote.err("read", key, e)),
    }
}

/// Deletes files under `tenants/` the manifest does not name (leftovers of interrupted
/// flushes and compactions) and returns their paths.
pub(crate) fn remove_orphans(fs: &dyn Fs, root: &Path, m: &Manifest) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let tdir = root.join(TENANTS_DIR);
    let list = |p: &Path| fs.list(p).map_err(|e| StoreError::io("list", p, e));
    for tenant in list(&tdir)? {
        let tpath = tdir.join(&tenant);
        for day in list(&tpath)? {
            let dpath = tpath.join(&day);
            let key = TenantId::parse(&tenant).ok().and_then(|t| {
                m.partitions
                    .iter()
                    .find(|((mt, md), _)| *mt == t && day_dir(*md) == day)
                    .map(|(_, p)| p)
            });
            let Some(p) = key else {
                fs.remove_dir_all(&dpath)
                    .map_err(|e| StoreError::io("remove", &dpath, e))?;
                removed.push(dpath);
                continue;
            };
            let keep: Vec<String> = p
                .segments
                .iter()
                .map(|s| segment_file(s.id))
                .chain(std::iter::once(index_file(p.index_id)))
                .collect();
            for name in list(&dpath)? {
                if !keep.contains(&name) {
                    let f = dpath.join(&name);
                    fs.remove_file(&f)
                        .map_err(|e| StoreError::io("remove", &f, e))?;
                    removed.push(f);
                }
            }
        }
    }
    Ok(removed)
}
