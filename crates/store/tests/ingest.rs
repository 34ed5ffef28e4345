//! Append, read back from the head and from segments, reopen.

use kelp_store::{FsyncPolicy, Store};

use crate::common::*;

#[test]
fn acked_entries_are_visible_at_once_and_after_flush_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.fsync = FsyncPolicy::Always;
    let store = Store::open(cfg.clone()).unwrap();
    let out = store
        .append(
            &tenant(),
            &[
                batch("a", &[(1, "one"), (2, "two 22")]),
                batch("b", &[(3, "three")]),
            ],
        )
        .unwrap();
    assert_eq!(out.accepted, 3);
    let want = vec![
        ("a".to_owned(), 1, "one".to_owned()),
        ("a".to_owned(), 2, "two 22".to_owned()),
        ("b".to_owned(), 3, "three".to_owned()),
    ];
    assert_eq!(dump(&store), want, "visible from the head");
    store.flush().unwrap();
    assert_eq!(store.head_bytes(), 0);
    assert_eq!(store.segment_count(), 1);
    assert_eq!(dump(&store), want, "visible from the segment");
    store
        .append(&tenant(), &[batch("a", &[(4, "four")])])
        .unwrap();
    drop(store);

    let store = Store::open(cfg).unwrap();
    assert_eq!(
        store.recovery().wal_records,
        1,
        "the unflushed append is replayed"
    );
    let mut want = want;
    want.insert(2, ("a".to_owned(), 4, "four".to_owned()));
    assert_eq!(dump(&store), want);
    // WAL files covered by the flush are gone: one left for the replay, one new.
    let wal = std::fs::read_dir(dir.path().join("wal")).unwrap().count();
    assert!(wal <= 2, "{wal} WAL files");
}

#[test]
fn group_commit_serves_concurrent_appenders() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.fsync = FsyncPolicy::Batch {
        max_delay: std::time::Duration::from_millis(1),
    };
    let store = std::sync::Arc::new(Store::open(cfg).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let line = format!("t{t} line {i}");
                    store
                        .append(&tenant(), &[batch(&format!("p{t}"), &[(i, &line)])])
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(dump(&store).len(), 200);
}

#[test]
fn flushes_cut_blocks_and_split_days() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.block_bytes = 4096;
    let store = Store::open(cfg).unwrap();
    let day = 86_400_000_000_000i64;
    let lines: Vec<String> = (0..1000)
        .map(|i| format!("line {i} {}", "x".repeat(i % 50)))
        .collect();
    let entries: Vec<(i64, &str)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (i as i64 * day / 500, l.as_str()))
        .collect();
    store.append(&tenant(), &[batch("a", &entries)]).unwrap();
    store.flush().unwrap();
    let got = dump(&store);
    assert_eq!(got.len(), 1000);
    assert!(got
        .iter()
        .zip(&entries)
        .all(|(g, e)| g.1 == e.0 && g.2 == e.1));
    // Two days of data from T0 (not day-aligned): three partitions.
    assert!(store.segment_count() >= 2);
}
