//! The store over a bucket that is a local directory (object_store's `LocalFileSystem`):
//! uploads, the bucket manifest, fresh nodes, the cache bound, retention and compaction.

use kelp_model::Timestamp;
use kelp_store::{Direction, LabelMatcher, LineFilter, MatchOp, Store};
use proptest::prelude::*;

use crate::support::*;

#[test]
fn flushed_segments_go_to_the_bucket_and_a_fresh_node_serves_them() {
    let (bdir, d1, d2) = (tempdir(), tempdir(), tempdir());
    let bucket = local_bucket(bdir.path());
    let store = Store::open(config(
        d1.path(),
        Some((bucket.clone(), "kelp-0", 64 * MIB)),
    ))
    .unwrap();
    // Two days of data: two partitions.
    store
        .append(&tenant(), &data(4, 500, T0, 2 * DAY, 7))
        .unwrap();
    store.flush().unwrap();
    let before = dump(&store);
    assert_eq!(before.len(), 2000);
    let keys = objects(&bucket);
    let segs = keys.iter().filter(|k| k.ends_with(".kseg")).count();
    let idxs = keys.iter().filter(|k| k.ends_with(".kidx")).count();
    assert_eq!((segs, idxs), (2, 2), "{keys:?}");
    assert!(keys.contains(&"replicas/kelp-0/MANIFEST".to_owned()));
    assert!(
        keys.iter().all(|k| k.starts_with("replicas/kelp-0/")),
        "{keys:?}"
    );
    // The local copies are gone: the bucket and the cache hold them.
    let local: Vec<_> = files(&d1.path().join("tenants"));
    assert!(local.is_empty(), "{local:?}");
    let stats = store.cache_stats().unwrap();
    // The manifest at open, 2 segments, 2 indexes, the manifest after the flush.
    assert_eq!(stats.uploads, 6);
    store.close().unwrap();

    // A node with an empty data directory finds everything through the bucket manifest.
    let fresh = Store::open(config(
        d2.path(),
        Some((bucket.clone(), "kelp-0", 64 * MIB)),
    ))
    .unwrap();
    assert_eq!(fresh.segment_count(), 2);
    assert_eq!(dump(&fresh), before);
    let stats = fresh.cache_stats().unwrap();
    assert!(stats.misses > 0 && stats.hits > 0, "{stats:?}");
    // Read again: all from the cache now.
    let misses = stats.misses;
    assert_eq!(dump(&fresh), before);
    assert_eq!(fresh.cache_stats().unwrap().misses, misses);
}

#[test]
fn the_cache_stays_under_its_bound_and_results_stay_exact() {
    let (bdir, d1, d2) = (tempdir(), tempdir(), tempdir());
    let bucket = local_bucket(bdir.path());
    let mut cfg = config(d1.path(), Some((bucket.clone(), "r", 64 * MIB)));
    cfg.block_bytes = 64 << 10;
    let store = Store::open(cfg).unwrap();
    // About 24 MiB of lines over several flushes.
    for round in 0..4 {
        store
            .append(
                &tenant(),
                &data(8, 6000, T0 + round as i64 * DAY / 8, DAY / 8, 100 + round),
            )
            .unwrap();
        store.flush().unwrap();
    }
    let expected = dump(&store);
    store.close().unwrap();
    let bound = 4 * MIB;
    let mut cfg = config(d2.path(), Some((bucket.clone(), "r", bound)));
    cfg.block_bytes = 64 << 10;
    let fresh = Store::open(cfg).unwrap();
    for _ in 0..2 {
        assert_eq!(dump(&fresh), expected);
        let s = fresh.cache_stats().unwrap();
        assert!(s.bytes <= bound, "{s:?}");
        assert!(s.evictions > 0, "{s:?}");
        let on_disk: u64 = files(&d2.path().join("cache")).iter().map(|f| f.1).sum();
        assert!(on_disk <= bound, "cache directory holds {on_disk} bytes");
    }
}

#[test]
fn compaction_and_retention_delete_objects_the_manifest_no_longer_names() {
    let (bdir, d1) = (tempdir(), tempdir());
    let bucket = local_bucket(bdir.path());
    let mut cfg = config(d1.path(), Some((bucket.clone(), "r", 64 * MIB)));
    cfg.compact_min_segments = 2;
    let store = Store::open(cfg.clone()).unwrap();
    for round in 0..3 {
        store
            .append(
                &tenant(),
                &data(3, 200, T0 + round as i64 * DAY / 4, DAY / 4, round + 1),
            )
            .unwrap();
        store.flush().unwrap();
    }
    let expected = dump(&store);
    let count = |suffix: &str| {
        objects(&bucket)
            .iter()
            .filter(|k| k.ends_with(suffix))
            .count()
    };
    assert_eq!((count(".kseg"), count(".kidx")), (3, 1));
    let report = store.compact().unwrap();
    assert_eq!(report.partitions, 1);
    assert_eq!(store.segment_count(), 1);
    assert_eq!((count(".kseg"), count(".kidx")), (1, 1));
    assert!(dump(&store) == expected);
    drop(store);

    // Retention by age: the whole partition goes, from the bucket too.
    let mut cfg2 = cfg.clone();
    cfg2.retention.max_age = Some(std::time::Duration::from_secs(86_400));
    let store = Store::open(cfg2).unwrap();
    let report = store
        .run_retention(Timestamp::from_unix_nanos(T0 + 10 * DAY))
        .unwrap();
    assert_eq!(report.partitions, 1);
    let left = dump(&store);
    assert!(
        left.is_empty(),
        "{} entries left, {} segments, head {} bytes, recovery {:?}",
        left.len(),
        store.segment_count(),
        store.head_bytes(),
        store.recovery()
    );
    assert_eq!(objects(&bucket), vec!["replicas/r/MANIFEST".to_owned()]);
    drop(store);
    let store = Store::open(cfg).unwrap();
    assert_eq!(store.segment_count(), 0);
}

#[test]
fn retention_by_size_counts_bucket_bytes_and_rewrites_the_index() {
    let (bdir, d1) = (tempdir(), tempdir());
    let bucket = local_bucket(bdir.path());
    let mut cfg = config(d1.path(), Some((bucket.clone(), "r", 64 * MIB)));
    let store = Store::open(cfg.clone()).unwrap();
    for round in 0..3 {
        store
            .append(
                &tenant(),
                &data(2, 300, T0 + round as i64 * DAY / 4, DAY / 4, round + 1),
            )
            .unwrap();
        store.flush().unwrap();
    }
    let total = store.disk_bytes();
    drop(store);
    cfg.retention.max_disk_bytes = Some(total * 3 / 4);
    let store = Store::open(cfg.clone()).unwrap();
    let report = store.run_retention(Timestamp::from_unix_nanos(T0)).unwrap();
    assert_eq!(report.segments, 1);
    let segs = objects(&bucket)
        .iter()
        .filter(|k| k.ends_with(".kseg"))
        .count();
    assert_eq!(segs, 2);
    let kept = dump(&store);
    drop(store);
    // A fresh node reads the rewritten index from the bucket.
    let d2 = tempdir();
    let mut cfg2 = config(d2.path(), Some((bucket.clone(), "r", 64 * MIB)));
    cfg2.retention = cfg.retention.clone();
    let fresh = Store::open(cfg2).unwrap();
    assert_eq!(dump(&fresh), kept);
}

#[test]
fn a_disk_store_switched_to_a_bucket_uploads_its_segments() {
    let (bdir, d1, d2) = (tempdir(), tempdir(), tempdir());
    let store = Store::open(config(d1.path(), None)).unwrap();
    store
        .append(&tenant(), &data(3, 300, T0, 2 * DAY, 3))
        .unwrap();
    store.flush().unwrap();
    let expected = dump(&store);
    store.close().unwrap();
    assert!(!files(&d1.path().join("tenants")).is_empty());

    let bucket = local_bucket(bdir.path());
    let store = Store::open(config(d1.path(), Some((bucket.clone(), "r", 64 * MIB)))).unwrap();
    assert_eq!(dump(&store), expected);
    assert!(files(&d1.path().join("tenants")).is_empty());
    drop(store);
    let fresh = Store::open(config(d2.path(), Some((bucket, "r", 64 * MIB)))).unwrap();
    assert_eq!(dump(&fresh), expected);
}

#[test]
fn objects_no_manifest_names_are_swept_at_open_and_replicas_keep_apart() {
    let (bdir, d1, d2) = (tempdir(), tempdir(), tempdir());
    let bucket = local_bucket(bdir.path());
    use kelp_store::Bucket;
    // A leftover of an interrupted flush in r's folder, and another replica's object.
    let orphan = "replicas/r/tenants/fake/2023-11-14/seg-00000000000000ff.kseg";
    bucket.put(orphan, bytes::Bytes::from_static(b"x")).unwrap();
    let b = Store::open(config(d2.path(), Some((bucket.clone(), "other", 64 * MIB)))).unwrap();
    b.append(&tenant(), &data(1, 10, T0, DAY / 2, 9)).unwrap();
    b.flush().unwrap();
    let store = Store::open(config(d1.path(), Some((bucket.clone(), "r", 64 * MIB)))).unwrap();
    assert_eq!(store.recovery().removed_objects, vec![orphan.to_owned()]);
    let keys = objects(&bucket);
    assert!(!keys.contains(&orphan.to_owned()));
    assert!(keys
        .iter()
        .any(|k| k.starts_with("replicas/other/tenants/")));
}

#[test]
fn bad_storage_settings_are_clear_errors() {
    let bad = |json: serde_json::Value| {
        let s: kelp_bucket::StorageSettings = serde_json::from_value(json).unwrap();
        s.store_bucket(std::path::Path::new("/tmp"), "kelp-0")
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        bad(serde_json::json!({"backend": "s3"})),
        "storage.bucket: required with a bucket backend"
    );
    let dir = tempdir();
    let e = bad(serde_json::json!({"backend": "local", "bucket": dir.path(), "replica": "a/b"}));
    assert!(e.contains("not a replica name"), "{e}");
    let e = bad(serde_json::json!({"backend": "local", "bucket": dir.path(), "cache_size": "1Ki"}));
    assert!(e.starts_with("storage.cache_size:"), "{e}");
    let s: kelp_bucket::StorageSettings = serde_json::from_value(serde_json::json!({})).unwrap();
    assert!(s
        .store_bucket(std::path::Path::new("/tmp"), "x")
        .unwrap()
        .is_none());
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Stores with the same data, on local disk and over a bucket with a small cache.
fn pair(seed: u64, pods: usize, n: usize) -> (Vec<tempfile::TempDir>, Store, Store) {
    let dirs: Vec<_> = (0..4).map(|_| tempdir()).collect();
    let bucket = local_bucket(dirs[0].path());
    let mut local = config(dirs[1].path(), None);
    local.block_bytes = 16 << 10;
    let mut remote = config(dirs[2].path(), Some((bucket.clone(), "r", 4 * MIB)));
    remote.block_bytes = 16 << 10;
    let batch = data(pods, n, T0, 2 * DAY, seed);
    let (a, b) = (Store::open(local).unwrap(), Store::open(remote).unwrap());
    for s in [&a, &b] {
        s.append(&tenant(), &batch).unwrap();
        s.flush().unwrap();
    }
    b.close().unwrap();
    let mut fresh = config(dirs[3].path(), Some((bucket, "r", 4 * MIB)));
    fresh.block_bytes = 16 << 10;
    (dirs, a, Store::open(fresh).unwrap())
}

fn same_everywhere(a: &Store, b: &Store, req: &kelp_store::ScanRequest) {
    assert_eq!(a.select(req).unwrap(), b.select(req).unwrap(), "{req:?}");
    let names = |s: &Store| s.label_names(&req.tenant, &req.matchers, req.start, req.end);
    assert_eq!(names(a), names(b));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]
    /// The same data queried from local disk and from the bucket gives identical results.
    #[test]
    fn bucket_and_local_disk_answer_alike(
        seed in 1u64..1_000_000,
        pods in 1usize..6,
        n in 1usize..3000,
        forward in any::<bool>(),
        limit in proptest::option::of(1usize..500),
        needle in prop_oneof![Just(None), Just(Some("404")), Just(Some("api/3 "))],
        pod in proptest::option::of(0usize..6),
    ) {
        let (_dirs, a, b) = pair(seed, pods, n);
        let mut matchers = vec![LabelMatcher::eq("namespace", "shop")];
        if let Some(p) = pod {
            matchers.push(LabelMatcher::new("pod", MatchOp::Re, &format!("pod-{p}|pod-0")).unwrap());
        }
        let filters = needle.map(|s| LineFilter::Contains(s.as_bytes().to_vec())).into_iter().collect();
        let dir = if forward { Direction::Forward } else { Direction::Backward };
        same_everywhere(&a, &b, &request(matchers, filters, dir, limit));
    }
}

#[test]
fn a_cold_store_over_the_bucket_gives_byte_identical_results() {
    let (_dirs, a, b) = pair(42, 6, 5_000);
    let all = request(
        vec![LabelMatcher::eq("namespace", "shop")],
        vec![],
        Direction::Backward,
        None,
    );
    same_everywhere(&a, &b, &all);
    assert!(b.cache_stats().unwrap().misses > 0);
}
