//! Out-of-order window, deduplication, limits.

use std::time::Duration;

use kelp_model::Labels;
use kelp_store::{Store, StoreError, StreamEntries};

use crate::common::*;

const MIN: i64 = 60_000_000_000;

#[test]
fn out_of_order_within_the_window_is_accepted_older_is_rejected_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.unordered_window = Duration::from_secs(600);
    let store = Store::open(cfg).unwrap();
    store
        .append(&tenant(), &[batch("a", &[(60 * MIN, "newest")])])
        .unwrap();
    let out = store
        .append(
            &tenant(),
            &[batch(
                "a",
                &[
                    (55 * MIN, "5m late"),
                    (40 * MIN, "20m late"),
                    (30 * MIN, "30m late"),
                ],
            )],
        )
        .unwrap();
    assert_eq!((out.accepted, out.too_old), (1, 2));
    assert!(out.rejection().unwrap().contains("2 entries rejected"));
    let got: Vec<String> = dump(&store).into_iter().map(|e| e.2).collect();
    assert_eq!(got, ["5m late", "newest"]);
}

#[test]
fn retried_pushes_do_not_duplicate_in_head_or_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    let b = batch("a", &[(1, "x"), (2, "y"), (2, "y2")]);
    assert_eq!(
        store
            .append(&tenant(), std::slice::from_ref(&b))
            .unwrap()
            .accepted,
        3
    );
    let again = store.append(&tenant(), std::slice::from_ref(&b)).unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 3));
    store.flush().unwrap();
    let after = store.append(&tenant(), &[b]).unwrap();
    assert_eq!(
        (after.accepted, after.duplicates),
        (0, 3),
        "dedup within the window after a flush"
    );
    // Same timestamp, different line: kept.
    assert_eq!(
        store
            .append(&tenant(), &[batch("a", &[(1, "x'")])])
            .unwrap()
            .accepted,
        1
    );
    assert_eq!(dump(&store).len(), 4);
    // Duplicates inside one batch.
    let out = store
        .append(&tenant(), &[batch("b", &[(5, "d"), (5, "d")])])
        .unwrap();
    assert_eq!((out.accepted, out.duplicates), (1, 1));
}

#[test]
fn tenant_limits_fail_the_push_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.limits.max_streams_per_tenant = 2;
    cfg.limits.max_label_names_per_series = 3;
    cfg.limits.max_line_bytes = 10;
    let store = Store::open(cfg).unwrap();
    store
        .append(
            &tenant(),
            &[batch("a", &[(1, "x")]), batch("b", &[(1, "x")])],
        )
        .unwrap();
    let err = store
        .append(&tenant(), &[batch("c", &[(1, "x")])])
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Limit {
                limit: "streams",
                max: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("streams limit of 2 exceeded"),
        "{err}"
    );
    let wide = Labels::from_pairs([("a", "1"), ("b", "1"), ("c", "1"), ("d", "1")]).unwrap();
    let err = store
        .append(
            &tenant(),
            &[StreamEntries {
                labels: wide,
                entries: vec![],
            }],
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Limit {
                limit: "label names per series",
                ..
            }
        ),
        "{err}"
    );
    let out = store
        .append(&tenant(), &[batch("a", &[(2, "a line that is too long")])])
        .unwrap();
    assert_eq!(out.too_long, 1);
    // Other tenants are not affected.
    let other = kelp_model::TenantId::parse("other").unwrap();
    store.append(&other, &[batch("c", &[(1, "x")])]).unwrap();
}

#[test]
fn head_memory_cap_makes_appends_wait_or_fail() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_head_bytes = 1000;
    cfg.flush_bytes = u64::MAX;
    cfg.append_wait = Duration::from_millis(300);
    // A filesystem that fails fsync makes flushes fail, so no room is ever made.
    let fs = kelp_store::FaultFs::default();
    cfg.fs = std::sync::Arc::new(fs.clone());
    let store = Store::open(cfg).unwrap();
    let big = "x".repeat(2000);
    store
        .append(&tenant(), &[batch("a", &[(1, &big)])])
        .unwrap();
    fs.faults
        .fail_sync
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let err = store
        .append(&tenant(), &[batch("a", &[(2, "y")])])
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::HeadFull { cap: 1000, reason, .. } if reason.starts_with("flushes are failing")),
        "{err}"
    );
    // Once flushes work again, the waiting append goes through.
    fs.faults.heal();
    store.append(&tenant(), &[batch("a", &[(2, "y")])]).unwrap();
    assert_eq!(dump(&store).len(), 2);
}

/// A filesystem that holds segment creation on threads named `compactor` until released.
#[derive(Debug, Default)]
struct GateFs {
    /// (open, reached): the compactor waits while `open` is false.
    gate: std::sync::Mutex<(bool, bool)>,
    cv: std::sync::Condvar,
}

impl GateFs {
    fn wait_reached(&self) {
        let g = self.gate.lock().unwrap();
        let _g = self.cv.wait_while(g, |g| !g.1).unwrap();
    }
    fn open(&self) {
        self.gate.lock().unwrap().0 = true;
        self.cv.notify_all();
    }
}

impl kelp_store::Fs for GateFs {
    fn create_dir_all(&self, p: &std::path::Path) -> std::io::Result<()> {
        kelp_store::RealFs.create_dir_all(p)
    }
    fn create(&self, p: &std::path::Path) -> std::io::Result<Box<dyn kelp_store::WriteFile>> {
        let compactor = std::thread::current().name() == Some("compactor");
        if compactor && p.extension().is_some_and(|e| e == "kseg") {
            let mut g = self.gate.lock().unwrap();
            g.1 = true;
            self.cv.notify_all();
            let _g = self.cv.wait_while(g, |g| !g.0).unwrap();
        }
        kelp_store::RealFs.create(p)
    }
    fn open_read(&self, p: &std::path::Path) -> std::io::Result<std::fs::File> {
        kelp_store::RealFs.open_read(p)
    }
    fn read(&self, p: &std::path::Path) -> std::io::Result<Vec<u8>> {
        kelp_store::RealFs.read(p)
    }
    fn rename(&self, a: &std::path::Path, b: &std::path::Path) -> std::io::Result<()> {
        kelp_store::RealFs.rename(a, b)
    }
    fn remove_file(&self, p: &std::path::Path) -> std::io::Result<()> {
        kelp_store::RealFs.remove_file(p)
    }
    fn remove_dir_all(&self, p: &std::path::Path) -> std::io::Result<()> {
        kelp_store::RealFs.remove_dir_all(p)
    }
    fn list(&self, p: &std::path::Path) -> std::io::Result<Vec<String>> {
        kelp_store::RealFs.list(p)
    }
    fn sync_dir(&self, p: &std::path::Path) -> std::io::Result<()> {
        kelp_store::RealFs.sync_dir(p)
    }
    fn len(&self, p: &std::path::Path) -> std::io::Result<u64> {
        kelp_store::RealFs.len(p)
    }
}

/// Regression: the 2 GiB bench load with `MALLOC_MMAP_THRESHOLD_=131072` failed with
/// `HeadFull { cap: 134217728, waited_ms: 10000 }`. Compaction ran on the flusher's thread
/// under the lock flushes take, and by then rewrote every small segment of the day (over
/// 10 s), so no flush could free head memory and appends under load failed. Appends must
/// only wait for flushes, and flushes must go on while a compaction is writing.
#[test]
fn appends_under_the_head_cap_do_not_wait_for_a_running_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    let fs = std::sync::Arc::new(GateFs::default());
    cfg.fs = fs.clone();
    cfg.compact_min_segments = 2;
    cfg.max_head_bytes = 4 << 10;
    cfg.flush_bytes = 2 << 10;
    cfg.append_wait = Duration::from_secs(2);
    let store = std::sync::Arc::new(Store::open(cfg).unwrap());
    for t in 0..3 {
        store
            .append(&tenant(), &[batch("a", &[(t, "before compaction")])])
            .unwrap();
        store.flush().unwrap();
    }
    let s = store.clone();
    let compactor = std::thread::Builder::new()
        .name("compactor".into())
        .spawn(move || s.compact().unwrap())
        .unwrap();
    fs.wait_reached();
    // The compaction is now stuck writing its segment. Push ~10x the head cap through.
    let line = "x".repeat(1000);
    for t in 0..40 {
        store
            .append(&tenant(), &[batch("b", &[(t, &line)])])
            .unwrap();
    }
    store.flush().unwrap();
    fs.open();
    let report = compactor.join().unwrap();
    assert_eq!(report.segments_in, 3);
    assert_eq!(dump(&store).len(), 43);
    drop(store);
}

#[test]
fn dedup_window_stays_in_its_budget_and_counts_what_it_forgot() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.max_dedup_bytes = 100 * 16; // 100 remembered entries
    let store = Store::open(cfg).unwrap();
    let lines: Vec<String> = (0..300).map(|i| format!("line {i}")).collect();
    let entries = |r: std::ops::Range<usize>| -> Vec<(i64, &str)> {
        r.map(|i| (i as i64, lines[i].as_str())).collect()
    };
    store
        .append(
            &tenant(),
            &[batch("a", &entries(0..300)), batch("b", &entries(0..20))],
        )
        .unwrap();
    store.flush().unwrap();
    // `b` keeps all 20; `a` keeps its newest 80.
    let st = store.dedup_stats();
    assert_eq!(
        (st.entries, st.forgotten_entries, st.shortened_streams),
        (100, 220, 1),
        "{st:?}"
    );
    assert!(st.bytes <= st.budget_bytes, "{st:?}");
    // Still remembered: retries are duplicates.
    let out = store
        .append(
            &tenant(),
            &[batch("a", &entries(250..300)), batch("b", &entries(0..20))],
        )
        .unwrap();
    assert_eq!((out.accepted, out.duplicates, out.unchecked), (0, 70, 0));
    // Forgotten: accepted within the out-of-order window, and counted as unchecked.
    let out = store
        .append(&tenant(), &[batch("a", &entries(0..10))])
        .unwrap();
    assert_eq!((out.accepted, out.duplicates, out.unchecked), (10, 0, 10));
    // Identical to one still in the head: a duplicate all the same.
    let out = store
        .append(&tenant(), &[batch("a", &entries(0..1))])
        .unwrap();
    assert_eq!((out.accepted, out.duplicates), (0, 1));
}

/// Issue #9 (clock jumps): with a creation grace period, entries stamped too far ahead of
/// the store's clock are rejected and counted, and they do not move the stream's newest
/// time, so correct entries after the node's clock is fixed are still accepted.
#[test]
fn entries_from_the_future_are_rejected_and_do_not_poison_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.limits.creation_grace_secs = Some(600);
    let store = Store::open(cfg).unwrap();
    let now = kelp_model::Timestamp::now().as_unix_nanos() - T0;
    let hour = 3_600_000_000_000;
    let out = store
        .append(
            &tenant(),
            &[batch(
                "a",
                &[
                    (now, "on time"),
                    (now + 2 * hour, "two hours ahead"),
                    (now + 60_000_000_000, "a minute ahead"),
                ],
            )],
        )
        .unwrap();
    assert_eq!((out.accepted, out.too_new), (2, 1));
    assert_eq!(
        out.rejection().unwrap(),
        "1 entries rejected: 0 older than the out-of-order window, 0 lines too long, 1 newer than the creation grace period"
    );
    let out = store
        .append(&tenant(), &[batch("a", &[(now + 1, "after the fix")])])
        .unwrap();
    assert_eq!(out.accepted, 1);
    let req = kelp_store::ScanRequest {
        tenant: tenant(),
        matchers: vec![kelp_store::LabelMatcher::eq("pod", "a")],
        start: kelp_model::Timestamp::from_unix_nanos(T0 + now - hour),
        end: kelp_model::Timestamp::from_unix_nanos(T0 + now + 3 * hour),
        direction: kelp_store::Direction::Forward,
        limit: None,
        filters: vec![],
    };
    let lines: Vec<String> = store
        .select(&req)
        .unwrap()
        .into_iter()
        .map(|e| String::from_utf8_lossy(&e.line).into_owned())
        .collect();
    assert_eq!(lines, ["on time", "after the fix", "a minute ahead"]);
}
