//! Retention and compaction.

use std::time::Duration;

use kelp_model::Timestamp;
use kelp_store::Store;

use crate::common::*;

const DAY: i64 = 86_400_000_000_000;

#[test]
fn compaction_merges_segments_keeps_every_entry_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.compact_min_segments = 3;
    let store = Store::open(cfg.clone()).unwrap();
    for s in 0..5 {
        let lines: Vec<String> = (0..50).map(|i| format!("seg {s} line {i}")).collect();
        let e: Vec<(i64, &str)> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| ((s * 50 + i) as i64, l.as_str()))
            .collect();
        store
            .append(&tenant(), &[batch("a", &e), batch("b", &e[..10])])
            .unwrap();
        store.flush().unwrap();
    }
    assert_eq!(store.segment_count(), 5);
    let before = dump(&store);
    let report = store.compact().unwrap();
    assert_eq!((report.partitions, report.segments_in), (1, 5));
    assert_eq!(store.segment_count(), 1);
    assert_eq!(dump(&store), before);
    drop(store);
    let store = Store::open(cfg).unwrap();
    assert_eq!(dump(&store), before);
    assert_eq!(store.segment_count(), 1);
    // Only the live files remain.
    let files = walk(dir.path());
    assert_eq!(
        files.iter().filter(|f| f.ends_with(".kseg")).count(),
        1,
        "{files:?}"
    );
    assert_eq!(
        files.iter().filter(|f| f.ends_with(".kidx")).count(),
        1,
        "{files:?}"
    );
}

fn walk(p: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap().path();
        if e.is_dir() {
            out.extend(walk(&e));
        } else {
            out.push(e.display().to_string());
        }
    }
    out
}

#[test]
fn retention_by_age_drops_old_partitions_per_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.retention.max_age = Some(Duration::from_secs(2 * 86_400));
    let other = kelp_model::TenantId::parse("keeps-longer").unwrap();
    cfg.retention
        .per_tenant
        .insert(other.clone(), Duration::from_secs(30 * 86_400));
    let store = Store::open(cfg).unwrap();
    for d in 0..5 {
        store
            .append(&tenant(), &[batch("a", &[(d * DAY, "x")])])
            .unwrap();
        store
            .append(&other, &[batch("a", &[(d * DAY, "x")])])
            .unwrap();
    }
    store.flush().unwrap();
    let now = Timestamp::from_unix_nanos(T0 + 5 * DAY);
    let r = store.run_retention(now).unwrap();
    // Partitions whose day ended more than 2 days before now go: T0 is 0.93 of the way
    // through its UTC day, so the entries at T0 + 0, 1 and 2 days go, those at 3 and 4 stay.
    assert_eq!(r.partitions, 3, "{r:?}");
    let range = (
        Timestamp::from_unix_nanos(T0 - DAY),
        Timestamp::from_unix_nanos(T0 + 6 * DAY),
    );
    assert_eq!(store.stats(&tenant(), &[], range.0, range.1).entries, 2);
    assert_eq!(store.stats(&other, &[], range.0, range.1).entries, 5);
}

#[test]
fn retention_by_size_drops_oldest_segments_while_ingest_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    let store = std::sync::Arc::new(Store::open(cfg.clone()).unwrap());
    for s in 0..6i64 {
        let lines: Vec<String> = (0..200)
            .map(|i| format!("seg {s} line {i} {}", i * 7919))
            .collect();
        let e: Vec<(i64, &str)> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (s * 1000 + i as i64, l.as_str()))
            .collect();
        store.append(&tenant(), &[batch("a", &e)]).unwrap();
        store.flush().unwrap();
    }
    let total = store.disk_bytes();
    drop(store);
    cfg.retention.max_disk_bytes = Some(total / 2);
    let store = std::sync::Arc::new(Store::open(cfg).unwrap());
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            for i in 0..200 {
                store
                    .append(
                        &tenant(),
                        &[batch("b", &[(10_000 + i, "during retention")])],
                    )
                    .unwrap();
            }
        })
    };
    let r = store.run_retention(Timestamp::from_unix_nanos(T0)).unwrap();
    writer.join().unwrap();
    assert!(r.segments >= 3, "{r:?}");
    assert!(store.disk_bytes() <= total / 2);
    let got = dump(&store);
    let first_seg_left: i64 = got
        .iter()
        .filter(|e| e.0 == "a")
        .map(|e| e.1 / 1000)
        .min()
        .unwrap();
    assert!(first_seg_left >= 3, "the oldest segments went first");
    assert_eq!(got.iter().filter(|e| e.0 == "b").count(), 200);
}

#[test]
fn compaction_copies_big_blocks_as_they_are_and_merges_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.compact_min_segments = 4;
    cfg.block_bytes = 4096;
    let store = Store::open(cfg.clone()).unwrap();
    let line = |s: i64, i: i64| format!("seg {s} line {i} GET /api/items/{} 200", i * 7919 % 1000);
    // Segments 0 and 1: big blocks of stream a, apart in time (copied); stream b gets
    // small blocks (merged). Segment 2 overlaps segment 1 in time for stream a and
    // repeats some of its entries (merged; the append already drops the repeats, as they
    // are within the deduplication window). Segment 3: small.
    for s in 0..4i64 {
        let (from, n) = match s {
            0 => (0, 400),
            1 => (1000, 400),
            2 => (1200, 100),
            _ => (5000, 5),
        };
        let mut lines: Vec<(i64, String)> = (from..from + n).map(|i| (i, line(s, i))).collect();
        if s == 2 {
            // Ten exact copies of segment 1's entries.
            for i in 1300..1310 {
                lines.push((i, line(1, i)));
            }
        }
        let e: Vec<(i64, &str)> = lines.iter().map(|(t, l)| (*t, l.as_str())).collect();
        let small: Vec<(i64, String)> = (0..3).map(|i| (from + i, format!("b {s} {i}"))).collect();
        let b: Vec<(i64, &str)> = small.iter().map(|(t, l)| (*t, l.as_str())).collect();
        store
            .append(&tenant(), &[batch("a", &e), batch("b", &b)])
            .unwrap();
        store.flush().unwrap();
    }
    let before = dump(&store);
    let report = store.compact().unwrap();
    assert_eq!((report.partitions, report.segments_in), (1, 4));
    // Segment 0's four blocks and segment 1's before segment 2 begins.
    assert!(report.blocks_copied >= 6, "{report:?}");
    assert_eq!(report.duplicates, 0, "{report:?}");
    assert_eq!(dump(&store), before);
    assert_eq!(before.iter().filter(|e| e.0 == "a").count(), 905);
    drop(store);
    let store = Store::open(cfg).unwrap();
    assert_eq!(dump(&store), before);
}
