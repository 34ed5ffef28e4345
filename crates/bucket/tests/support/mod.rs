//! Helpers: stores over a bucket, data, dumps, and a real S3-compatible server.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kelp_bucket::{ObjectBucket, StorageSettings};
use kelp_model::{Entry, Labels, TenantId, Timestamp};
use kelp_store::{
    Bucket, BucketConfig, Direction, FsyncPolicy, LabelMatcher, LineFilter, ScanRequest, Store,
    StoreConfig, StreamEntries,
};

pub mod s3;

/// Midnight UTC, 2023-11-14: a day partition starts here.
pub const T0: i64 = 1_699_920_000_000_000_000;
pub const DAY: i64 = 86_400_000_000_000;

pub fn tenant() -> TenantId {
    TenantId::parse("fake").unwrap()
}

/// A directory used as a bucket through object_store's `LocalFileSystem`.
pub fn local_bucket(dir: &Path) -> Arc<ObjectBucket> {
    let s: StorageSettings = serde_json::from_value(serde_json::json!({
        "backend": "local",
        "bucket": dir.to_str().unwrap(),
        "prefix": "kelp",
    }))
    .unwrap();
    s.bucket().unwrap().unwrap()
}

/// A store config for tests: no background threads, no fsync; with `bucket`, segments go
/// there under replica `replica` with a cache of `cache_bytes` in `<dir>/cache`.
pub fn config(dir: &Path, bucket: Option<(Arc<ObjectBucket>, &str, u64)>) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.fsync = FsyncPolicy::Never;
    c.background = false;
    c.flush_age = Duration::from_secs(3600);
    c.bucket = bucket.map(|(b, replica, cache_bytes)| BucketConfig {
        bucket: b as Arc<dyn Bucket>,
        replica: replica.to_owned(),
        cache_dir: dir.join("cache"),
        cache_bytes,
    });
    c
}

pub const MIB: u64 = 1 << 20;

/// A deterministic pseudo-random generator (xorshift), so data is the same every run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `n` entries for each of `pods` pods spread over `[from, from + span)`, lines with some
/// incompressible hex so segments have real size.
pub fn data(pods: usize, n: usize, from: i64, span: i64, seed: u64) -> Vec<StreamEntries> {
    let mut rng = Rng(seed | 1);
    (0..pods)
        .map(|p| StreamEntries {
            labels: Labels::from_pairs([
                ("namespace", "shop"),
                ("pod", &format!("pod-{p}")),
                ("container", if p % 2 == 0 { "api" } else { "db" }),
            ])
            .unwrap(),
            entries: (0..n)
                .map(|i| {
                    let t = from + (i as i64) * (span / n as i64) + p as i64;
                    let status = [200, 404, 500][(rng.next() % 3) as usize];
                    Entry::new(
                        Timestamp::from_unix_nanos(t),
                        format!(
                            "GET /api/{} {status} id={:016x}{:016x}{:016x}{:016x} took={}ms",
                            i % 17,
                            rng.next(),
                            rng.next(),
                            rng.next(),
                            rng.next(),
                            rng.next() % 900
                        ),
                    )
                })
                .collect(),
        })
        .collect()
}

/// A scan of `[T0 - 1 day, T0 + 3 days)` with these matchers and filters.
pub fn request(
    matchers: Vec<LabelMatcher>,
    filters: Vec<LineFilter>,
    direction: Direction,
    limit: Option<usize>,
) -> ScanRequest {
    ScanRequest {
        tenant: tenant(),
        matchers,
        start: Timestamp::from_unix_nanos(T0 - DAY),
        end: Timestamp::from_unix_nanos(T0 + 3 * DAY),
        direction,
        limit,
        filters,
    }
}

/// Everything in namespace `shop`: `(pod, ts, line)`, sorted (the order of entries of
/// different streams depends on the segment layout).
pub fn dump(store: &Store) -> Vec<(String, i64, String)> {
    let req = request(
        vec![LabelMatcher::eq("namespace", "shop")],
        vec![],
        Direction::Forward,
        None,
    );
    let mut v = store
        .select(&req)
        .unwrap()
        .into_iter()
        .map(|e| {
            (
                e.labels.get("pod").unwrap().to_owned(),
                e.timestamp.as_unix_nanos(),
                String::from_utf8(e.line.to_vec()).unwrap(),
            )
        })
        .collect::<Vec<_>>();
    v.sort();
    v
}

/// Every object key under the bucket, sorted.
pub fn objects(b: &ObjectBucket) -> Vec<String> {
    let mut v = b.list("").unwrap();
    v.sort();
    v
}

/// The files under `dir`, recursively, with their sizes.
pub fn files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd {
        let e = e.unwrap();
        let m = e.metadata().unwrap();
        if m.is_dir() {
            out.extend(files(&e.path()));
        } else {
            out.push((e.path(), m.len()));
        }
    }
    out
}
