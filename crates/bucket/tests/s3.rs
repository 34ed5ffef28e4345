//! The store over a real S3-compatible server (`s3s-fs` on 127.0.0.1): uploads in parts,
//! ranged reads, a fresh node, the server down (clear errors, nothing acknowledged lost)
//! and the server killed and restarted under ingest.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kelp_store::{Bucket, Store, StoreError};

use crate::support::s3::{self, S3Server};
use crate::support::*;

#[test]
fn objects_round_trip_with_parts_and_ranges() {
    let server = S3Server::start();
    let bucket = server.bucket("kelp");
    let dir = tempfile::tempdir().unwrap();
    // 20 MiB: uploaded in three parts.
    let mut rng = Rng(5);
    let data: Vec<u8> = (0..20 << 20).map(|_| rng.next() as u8).collect();
    let path = dir.path().join("big");
    std::fs::write(&path, &data).unwrap();
    bucket.put_file("x/big", &path).unwrap();
    let ranges = [
        0..10,
        (8 << 20) - 3..(8 << 20) + 3,
        (20 << 20) - 1..20 << 20,
    ];
    let got = bucket.get_ranges("x/big", &ranges).unwrap();
    for (r, g) in ranges.iter().zip(&got) {
        assert_eq!(&g[..], &data[r.start as usize..r.end as usize]);
    }
    assert_eq!(bucket.get("x/big").unwrap().len(), 20 << 20);
    assert_eq!(bucket.list("x").unwrap(), vec!["x/big".to_owned()]);
    // The object is under the prefix in the server's bucket directory.
    assert!(server
        .root
        .path()
        .join(s3::BUCKET)
        .join("kelp/x/big")
        .is_file());
    let e = bucket.get("x/missing").unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
    bucket.delete("x/big").unwrap();
    bucket.delete("x/big").unwrap();
    assert!(bucket.list("x").unwrap().is_empty());
}

#[test]
fn a_store_over_s3_serves_a_fresh_node() {
    let server = S3Server::start();
    let bucket = server.bucket("kelp");
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let store = Store::open(config(
        d1.path(),
        Some((bucket.clone(), "kelp-0", 64 * MIB)),
    ))
    .unwrap();
    store
        .append(&tenant(), &data(4, 2000, T0, 2 * DAY, 11))
        .unwrap();
    store.flush().unwrap();
    let expected = dump(&store);
    assert_eq!(expected.len(), 8000);
    store.close().unwrap();
    let fresh = Store::open(config(d2.path(), Some((bucket, "kelp-0", 64 * MIB)))).unwrap();
    assert_eq!(dump(&fresh), expected);
    assert!(fresh.cache_stats().unwrap().misses > 0);
}

#[test]
fn with_the_server_down_flushes_fail_clearly_and_nothing_acknowledged_is_lost() {
    let mut server = S3Server::start();
    let bucket = server.bucket("kelp");
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cfg = config(d1.path(), Some((bucket.clone(), "r", 64 * MIB)));
    let store = Store::open(cfg.clone()).unwrap();
    store
        .append(&tenant(), &data(2, 500, T0, DAY / 2, 1))
        .unwrap();
    store.flush().unwrap();

    server.kill();
    // Appends go on: the WAL makes them durable and the head serves them.
    let late = data(2, 500, T0 + DAY / 2, DAY / 4, 2);
    assert_eq!(store.append(&tenant(), &late).unwrap().accepted, 1000);
    let e = store.flush().unwrap_err();
    assert!(matches!(e, StoreError::Bucket { op: "upload", .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.starts_with("bucket upload s3://kelp-logs/kelp/replicas/r/tenants/fake/"),
        "{msg}"
    );
    // Flushed data is still read from the cache, the rest from the head.
    assert_eq!(dump(&store).len(), 2000);
    // A restart while the bucket is down fails with the reason, and keeps the WAL.
    drop(store);
    let e = Store::open(cfg.clone()).unwrap_err();
    assert!(matches!(e, StoreError::Bucket { .. }), "{e}");

    server.restart();
    let store = Store::open(cfg).unwrap();
    assert_eq!(store.recovery().wal_entries, 1000);
    store.flush().unwrap();
    let expected = dump(&store);
    assert_eq!(expected.len(), 2000);
    store.close().unwrap();
    let fresh = Store::open(config(d2.path(), Some((bucket, "r", 64 * MIB)))).unwrap();
    assert_eq!(dump(&fresh), expected);
}

#[test]
fn the_server_killed_and_restarted_under_ingest_loses_nothing_acknowledged() {
    let mut server = S3Server::start();
    let bucket = server.bucket("kelp");
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut cfg = config(d1.path(), Some((bucket.clone(), "r", 64 * MIB)));
    // Frequent flushes by the background flusher; room for the head while the bucket is
    // away.
    cfg.flush_bytes = 256 << 10;
    cfg.max_head_bytes = 256 << 20;
    cfg.append_wait = Duration::from_secs(60);
    let store = Arc::new(Store::open(cfg).unwrap());
    // Rounds of 10 s of entries each: the dump's 4 days hold 34,560 rounds.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut acked = Vec::new();
            let mut round = 0i64;
            while !stop.load(Ordering::SeqCst) {
                // Throttled: a debug build's flushes keep up, the head stays small.
                std::thread::sleep(Duration::from_millis(20));
                let batch = data(
                    3,
                    50,
                    T0 + round * 10_000_000_000,
                    10_000_000_000,
                    round as u64 + 1,
                );
                if store.append(&tenant(), &batch).is_ok() {
                    for s in &batch {
                        let pod = s.labels.get("pod").unwrap().to_owned();
                        for e in &s.entries {
                            acked.push((
                                pod.clone(),
                                e.timestamp.as_unix_nanos(),
                                String::from_utf8(e.line.to_vec()).unwrap(),
                            ));
                        }
                    }
                }
                round += 1;
            }
            acked
        })
    };
    let uploads = |s: &Store| s.cache_stats().unwrap().uploads;
    // A flush reached the bucket (the manifest at open, a segment, an index, a manifest).
    wait_for("a first flush", || uploads(&store) >= 4);
    server.kill();
    // Flushes fail once the client's 2 s of retries are over; appends go on meanwhile.
    wait_for("a failed flush", || {
        store
            .background_error()
            .is_some_and(|e| e.contains("bucket upload"))
    });
    server.restart();
    let before = uploads(&store);
    wait_for("a flush after the restart", || uploads(&store) > before + 2);
    stop.store(true, Ordering::SeqCst);
    let mut acked = writer.join().unwrap();
    acked.sort();
    assert!(
        acked.len() > 1000,
        "only {} entries acknowledged",
        acked.len()
    );
    let store = Arc::try_unwrap(store).unwrap();
    store.close().unwrap();
    let fresh = Store::open(config(d2.path(), Some((bucket, "r", 64 * MIB)))).unwrap();
    same_entries(&dump(&fresh), &acked);
}

/// Polls `done` every 20 ms; fails after two minutes saying what did not happen.
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "no {what} within 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Asserts `got == want`, saying how they differ (not printing thousands of entries).
fn same_entries(got: &[(String, i64, String)], want: &[(String, i64, String)]) {
    let (g, w): (std::collections::BTreeSet<_>, std::collections::BTreeSet<_>) =
        (got.iter().collect(), want.iter().collect());
    let missing: Vec<_> = w.difference(&g).collect();
    let extra: Vec<_> = g.difference(&w).collect();
    assert!(
        got == want,
        "{} entries, {} expected: {} missing (first {:?}), {} not acknowledged (first {:?}), {} repeated",
        got.len(),
        want.len(),
        missing.len(),
        missing.first(),
        extra.len(),
        extra.first(),
        got.len() - g.len()
    );
}
