//! Object storage: the seam ([`Bucket`]) through which the store keeps closed segments,
//! partition indexes and its manifest in a bucket, and the local page cache reads go
//! through.
//!
//! The store knows no object-storage protocol: `kelp-bucket` implements [`Bucket`] over
//! the `object_store` crate (S3, GCS, Azure, a local directory) and the server hands it in
//! through [`BucketConfig`]. Without one the store is local-disk only, as before.
//!
//! With a bucket, a flush or compaction writes its segment locally, uploads it, seeds the
//! cache with it and deletes the local file; the new index is uploaded the same way; after
//! the local manifest is committed, its bytes are uploaded as this replica's bucket
//! manifest (`<prefix>/replicas/<replica>/MANIFEST`). Reads of segments and indexes are
//! ranged requests through [`cache::PageCache`]. Object keys: [`keys`].

pub(crate) mod cache;
pub mod keys;
mod peer;
pub(crate) mod sync;

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

/// A bucket of objects, as the store uses it. Keys are relative to the implementation's
/// prefix. Implementations retry transient failures themselves and return an error only
/// when they give up; a missing object is an error of kind [`io::ErrorKind::NotFound`].
pub trait Bucket: Send + Sync + fmt::Debug {
    /// Uploads the local file at `path` as `key`, replacing any object there (large files
    /// in parts).
    fn put_file(&self, key: &str, path: &Path) -> io::Result<()>;
    /// Stores `data` as `key`, replacing any object there.
    fn put(&self, key: &str, data: Bytes) -> io::Result<()>;
    /// The whole object `key`.
    fn get(&self, key: &str) -> io::Result<Bytes>;
    /// Byte ranges of object `key`, in the order asked (nearby ranges may share a request).
    fn get_ranges(&self, key: &str, ranges: &[Range<u64>]) -> io::Result<Vec<Bytes>>;
    /// Deletes object `key` (a missing object is no error).
    fn delete(&self, key: &str) -> io::Result<()>;
    /// The keys under `prefix` (relative keys, every depth), in any order.
    fn list(&self, prefix: &str) -> io::Result<Vec<String>>;
    /// Where the bucket is, for messages (`s3://logs/kelp`).
    fn describe(&self) -> String;
}

/// The bucket the store keeps its closed segments in, and the local cache it reads them
/// through.
#[derive(Debug, Clone)]
pub struct BucketConfig {
    /// The bucket.
    pub bucket: Arc<dyn Bucket>,
    /// This replica's name: its objects go under `replicas/<replica>/` and only it writes
    /// there. Letters, digits, `-`, `_` and `.`.
    pub replica: String,
    /// The cache directory (its contents are disposable; emptied at open).
    pub cache_dir: PathBuf,
    /// The cache's size bound in bytes.
    pub cache_bytes: u64,
}

/// Whether `name` can name a replica: 1 to 128 letters, digits, `-`, `_` and `.`, not
/// starting with `.`.
pub fn valid_replica(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !name.starts_with('.')
}

/// The smallest cache bound: four pages.
pub const MIN_CACHE_BYTES: u64 = cache::PAGE_BYTES * 4;

impl BucketConfig {
    /// Checks the replica name and the cache bound.
    pub fn validate(&self) -> crate::Result<()> {
        if !valid_replica(&self.replica) {
            return Err(crate::StoreError::Config {
                field: "storage.replica",
                reason: format!(
                    "{:?} is not a replica name (1 to 128 letters, digits, '-', '_', '.')",
                    self.replica
                ),
            });
        }
        if self.cache_bytes < MIN_CACHE_BYTES {
            return Err(crate::StoreError::Config {
                field: "storage.cache_size",
                reason: format!(
                    "{} bytes is below the minimum of {MIN_CACHE_BYTES} (four cache pages)",
                    self.cache_bytes,
                ),
            });
        }
        Ok(())
    }
}

/// The store's open bucket: the bucket, this replica's name and the cache.
#[derive(Debug)]
pub(crate) struct Remote {
    pub bucket: Arc<dyn Bucket>,
    pub replica: String,
    /// Shared with the read-only views of other replicas ([`crate::Store::open_replica`]).
    pub cache: Arc<cache::PageCache>,
    /// Set when the last bucket-manifest upload failed (retried by the flusher).
    pub manifest_dirty: std::sync::atomic::AtomicBool,
}

impl Remote {
    /// The error for a failed bucket operation on `key`.
    pub(crate) fn err(&self, op: &'static str, key: &str, e: io::Error) -> crate::StoreError {
        crate::StoreError::Bucket {
            op,
            key: format!("{}/{key}", self.bucket.describe().trim_end_matches('/')),
            source: e,
        }
    }
}

/// What the cache has done since open ([`crate::Store::cache_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Bytes of pages in the cache now.
    pub bytes: u64,
    /// The bound.
    pub max_bytes: u64,
    /// Pages in the cache now.
    pub pages: u64,
    /// Page reads served from the cache.
    pub hits: u64,
    /// Pages fetched from the bucket.
    pub misses: u64,
    /// Pages evicted to stay under the bound.
    pub evictions: u64,
    /// Objects uploaded (segments, indexes and manifests).
    pub uploads: u64,
    /// Objects deleted from the bucket.
    pub deletes: u64,
}
