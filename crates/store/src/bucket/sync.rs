//! Keeping the bucket in step with the store: uploads of new segments and indexes (before
//! the manifest names them), the bucket manifest (after the local one is committed),
//! deletions (after the bucket manifest no longer names them), and, at open, loading the
//! manifest of a fresh node from the bucket, uploading what a crash left local and
//! sweeping objects no manifest names.

use std::io;
use std::path::Path;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use kelp_model::TenantId;

use super::keys::{index_key, manifest_key, replica_dir, segment_key};
use super::Remote;
use crate::format::{index_file, segment_file};
use crate::fs::Fs;
use crate::manifest::Manifest;
use crate::state::part_dir;
use crate::{Result, StoreError};

/// Uploads the local file at `path` as `key`, then (with `seed`) copies it into the cache
/// and deletes the local file: from now on the bucket holds it and the cache serves it.
pub(crate) fn upload_local(
    remote: &Remote,
    fs: &dyn Fs,
    key: &str,
    path: &Path,
    seed: bool,
) -> Result<()> {
    remote
        .bucket
        .put_file(key, path)
        .map_err(|e| remote.err("upload", key, e))?;
    remote.cache.uploads.fetch_add(1, Ordering::Relaxed);
    if seed {
        // Best effort: a page that is not cached is fetched when first read.
        let _ = remote.cache.insert_file(key, path);
    }
    fs.remove_file(path)
        .map_err(|e| StoreError::io("remove uploaded", path, e))
}

/// Uploads `m` as this replica's bucket manifest. On failure the manifest is marked dirty
/// (the flusher retries) and deletions wait.
pub(crate) fn upload_manifest(remote: &Remote, m: &Manifest) -> Result<()> {
    let key = manifest_key(&remote.replica);
    match remote.bucket.put(&key, Bytes::from(m.encode())) {
        Ok(()) => {
            remote.cache.uploads.fetch_add(1, Ordering::Relaxed);
            remote.manifest_dirty.store(false, Ordering::SeqCst);
            Ok(())
        }
        Err(e) => {
            remote.manifest_dirty.store(true, Ordering::SeqCst);
            Err(remote.err("upload", &key, e))
        }
    }
}

/// Deletes the objects of segment or index ids of a partition that the bucket manifest no
/// longer names. Skipped while the bucket manifest is stale (it may still name them): the
/// sweep at the next open deletes them. Failures are left to that sweep too.
pub(crate) fn delete_objects(remote: &Remote, tenant: &TenantId, day: i32, ids: &[u64]) {
    if remote.manifest_dirty.load(Ordering::SeqCst) {
        return;
    }
    // Id 0 is no file: the index id of a partition that had none yet.
    for id in ids.iter().filter(|id| **id != 0) {
        for key in [
            segment_key(&remote.replica, tenant, day, *id),
            index_key(&remote.replica, tenant, day, *id),
        ] {
            remote.cache.remove(&key);
            if remote.bucket.delete(&key).is_ok() {
                remote.cache.deletes.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The manifest to open with: the local one, or for a node with an empty data directory,
/// the replica's manifest from the bucket (saved locally).
pub(crate) fn load_manifest(remote: &Remote, fs: &dyn Fs, root: &Path) -> Result<Manifest> {
    let local = root.join(crate::format::MANIFEST_FILE);
    match fs.len(&local) {
        Ok(_) => return Manifest::load(fs, root),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io("stat", &local, e)),
    }
    let key = manifest_key(&remote.replica);
    let m = match remote.bucket.get(&key) {
        Ok(bytes) => Manifest::decode(Path::new(&key), &bytes)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Manifest::default()),
        Err(e) => return Err(remote.err("read", &key, e)),
    };
    m.save(fs, root)?;
    Ok(m)
}

/// At open: uploads every segment and index the manifest names that is still a local file
/// (a crash between upload and local deletion, or a store switched from local disk to a
/// bucket), then the manifest, then deletes objects under this replica's folder that the
/// manifest does not name (leftovers of interrupted flushes, compactions and deletions).
/// Returns the keys deleted.
pub(crate) fn reconcile(
    remote: &Remote,
    fs: &dyn Fs,
    root: &Path,
    m: &Manifest,
) -> Result<Vec<String>> {
    let mut named = std::collections::HashSet::new();
    for ((tenant, day), p) in &m.partitions {
        let dir = part_dir(root, tenant, *day);
        let files = p
            .segments
            .iter()
            .map(|s| {
                (
                    segment_key(&remote.replica, tenant, *day, s.id),
                    segment_file(s.id),
                )
            })
            .chain(std::iter::once((
                index_key(&remote.replica, tenant, *day, p.index_id),
                index_file(p.index_id),
            )));
        for (key, file) in files {
            let path = dir.join(file);
            if fs.len(&path).is_ok() {
                upload_local(remote, fs, &key, &path, false)?;
            }
            named.insert(key);
        }
    }
    upload_manifest(remote, m)?;
    named.insert(manifest_key(&remote.replica));
    let dir = replica_dir(&remote.replica);
    let listed = remote
        .bucket
        .list(&dir)
        .map_err(|e| remote.err("list", &dir, e))?;
    let mut deleted = Vec::new();
    for key in listed {
        if !named.contains(&key) {
            remote
                .bucket
                .delete(&key)
                .map_err(|e| remote.err("delete", &key, e))?;
            remote.cache.deletes.fetch_add(1, Ordering::Relaxed);
            deleted.push(key);
        }
    }
    Ok(deleted)
}
