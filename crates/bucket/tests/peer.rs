//! Reading another replica's data from the shared bucket (issue #11): a read-only view
//! (`Store::open_replica`) serves what that replica flushed, follows its manifest on
//! `refresh`, refuses every write, and writes or deletes nothing under its prefix.

use kelp_model::Timestamp;
use kelp_store::{Store, StoreError};

use crate::support::*;

/// Every object under `replicas/<name>/` with its bytes.
fn snapshot(bucket: &kelp_bucket::ObjectBucket, name: &str) -> Vec<(String, Vec<u8>)> {
    objects(bucket)
        .into_iter()
        .filter(|k| k.starts_with(&format!("replicas/{name}/")))
        .map(|k| {
            let b = kelp_store::Bucket::get(bucket, &k).unwrap().to_vec();
            (k, b)
        })
        .collect()
}

#[test]
fn a_replica_reads_another_replicas_bucket_data_and_writes_nothing_there() {
    let (bdir, d0, d1) = (tempdir(), tempdir(), tempdir());
    let bucket = local_bucket(bdir.path());
    let mut c0 = config(d0.path(), Some((bucket.clone(), "kelp-0", 64 * MIB)));
    c0.compact_min_segments = 2;
    let writer = Store::open(c0).unwrap();
    writer
        .append(&tenant(), &data(3, 300, T0, DAY / 2, 1))
        .unwrap();
    writer.flush().unwrap();
    // Unflushed entries stay in the writer's head: the bucket does not have them.
    writer
        .append(&tenant(), &data(1, 10, T0 + DAY / 2, DAY / 4, 9))
        .unwrap();
    let flushed = {
        let all = dump(&writer);
        assert_eq!(all.len(), 910);
        let mut f: Vec<_> = all.into_iter().filter(|e| e.1 < T0 + DAY / 2).collect();
        f.sort();
        f
    };

    let reader = Store::open(config(
        d1.path(),
        Some((bucket.clone(), "kelp-1", 64 * MIB)),
    ))
    .unwrap();
    assert_eq!(reader.bucket_replicas().unwrap(), vec!["kelp-0"]);
    let before = snapshot(&bucket, "kelp-0");
    assert!(
        before.iter().any(|(k, _)| k.ends_with(".kseg")),
        "{before:?}"
    );

    let view = reader.open_replica("kelp-0").unwrap();
    assert!(view.is_read_only() && !reader.is_read_only());
    assert_eq!(view.replica(), Some("kelp-0"));
    assert_eq!(dump(&view), flushed);
    assert_eq!(view.segment_count(), 1);
    let pods = view.label_values(
        &tenant(),
        "pod",
        &[],
        Timestamp::from_unix_nanos(T0 - DAY),
        Timestamp::from_unix_nanos(T0 + DAY),
    );
    assert_eq!(pods, ["pod-0", "pod-1", "pod-2"]);
    // Pages come through the reader's cache.
    assert!(reader.cache_stats().unwrap().misses > 0);

    // Every write is refused; flush and refresh have nothing to write.
    let refused = view.append(&tenant(), &data(1, 1, T0, 1, 3)).unwrap_err();
    assert!(
        matches!(refused, StoreError::ReadOnly { op: "append", .. }),
        "{refused}"
    );
    assert!(matches!(
        view.compact().unwrap_err(),
        StoreError::ReadOnly { .. }
    ));
    assert!(matches!(
        view.run_retention(Timestamp::from_unix_nanos(T0 + 400 * DAY))
            .unwrap_err(),
        StoreError::ReadOnly { .. }
    ));
    view.flush().unwrap();
    assert!(!view.refresh().unwrap());
    assert!(
        reader.refresh().is_err(),
        "a replica's own store is not a view"
    );
    drop(view);
    assert_eq!(
        snapshot(&bucket, "kelp-0"),
        before,
        "the view wrote or deleted under kelp-0"
    );
    // Nothing of kelp-0 was copied under the reader's prefix either.
    assert!(objects(&bucket)
        .iter()
        .all(|k| k.starts_with("replicas/kelp-0/") || k.starts_with("replicas/kelp-1/")));
    assert!(!objects(&bucket)
        .iter()
        .any(|k| k.starts_with("replicas/kelp-1/") && k.ends_with(".kseg")));

    // The writer flushes again and compacts: a refreshed view follows its manifest,
    // keeping the segments it already had open and dropping the compacted ones.
    let view = reader.open_replica("kelp-0").unwrap();
    writer.flush().unwrap();
    assert!(view.refresh().unwrap());
    assert_eq!(dump(&view), dump(&writer));
    writer.compact().unwrap();
    assert!(view.refresh().unwrap());
    assert_eq!(view.segment_count(), writer.segment_count());
    assert_eq!(dump(&view), dump(&writer));
    assert!(!view.refresh().unwrap());
    // The writer's objects are exactly its own, before and after the view's reads.
    let after = snapshot(&bucket, "kelp-0");
    drop(view);
    assert_eq!(snapshot(&bucket, "kelp-0"), after);

    // A name with no manifest opens empty; a bad name is refused.
    let none = reader.open_replica("kelp-9").unwrap();
    assert_eq!(none.segment_count(), 0);
    assert!(reader.open_replica("../x").is_err());
    // Without a bucket there is nothing to open.
    let d2 = tempdir();
    let plain = Store::open(config(d2.path(), None)).unwrap();
    assert!(plain.open_replica("kelp-0").is_err());
    assert!(plain.bucket_replicas().is_err());
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}
