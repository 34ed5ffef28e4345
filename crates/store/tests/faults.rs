//! The fault-injecting filesystem: short writes, disk full, fsync errors.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use kelp_store::{FaultFs, FsyncPolicy, Store, StoreError};

use crate::common::*;

fn store_on(fs: &FaultFs, dir: &std::path::Path) -> Store {
    let mut cfg = config(dir);
    cfg.fsync = FsyncPolicy::Always;
    cfg.fs = Arc::new(fs.clone());
    Store::open(cfg).unwrap()
}

#[test]
fn disk_full_fails_cleanly_and_acked_data_survives() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::default();
    let store = store_on(&fs, dir.path());
    store
        .append(&tenant(), &[batch("a", &[(1, "before")])])
        .unwrap();
    // A short write: part of the record fits, then ENOSPC.
    fs.faults.disk_full_after(10);
    let err = store
        .append(&tenant(), &[batch("a", &[(2, "lost to a full disk")])])
        .unwrap_err();
    assert!(matches!(err, StoreError::WalFailed { .. }), "{err}");
    assert!(err.to_string().contains("No space left"), "{err}");
    // A flush cannot write its segment either: a clean error, head kept.
    assert!(store.flush().is_err());
    let err = store
        .append(&tenant(), &[batch("a", &[(3, "still full")])])
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Io { .. } | StoreError::WalFailed { .. }),
        "{err}"
    );
    fs.faults.heal();
    store
        .append(&tenant(), &[batch("a", &[(4, "after")])])
        .unwrap();
    let lines: Vec<String> = dump(&store).into_iter().map(|e| e.2).collect();
    assert_eq!(lines, ["before", "after"]);
    store.flush().unwrap();
    drop(store);
    let store = store_on(&fs, dir.path());
    let lines: Vec<String> = dump(&store).into_iter().map(|e| e.2).collect();
    assert_eq!(
        lines,
        ["before", "after"],
        "nothing unacknowledged and nothing corrupt"
    );
}

#[test]
fn fsync_errors_fail_the_append_and_the_flush_without_losing_acked_data() {
    let dir = tempfile::tempdir().unwrap();
    let fs = FaultFs::default();
    let store = store_on(&fs, dir.path());
    store
        .append(&tenant(), &[batch("a", &[(1, "acked")])])
        .unwrap();
    fs.faults.fail_sync.store(true, Ordering::SeqCst);
    let err = store
        .append(&tenant(), &[batch("a", &[(2, "not acked")])])
        .unwrap_err();
    assert!(err.to_string().contains("fsync"), "{err}");
    assert!(store.flush().is_err());
    fs.faults.heal();
    store.flush().unwrap();
    drop(store);
    let store = store_on(&fs, dir.path());
    let lines: Vec<String> = dump(&store).into_iter().map(|e| e.2).collect();
    assert_eq!(lines, ["acked"]);
}
