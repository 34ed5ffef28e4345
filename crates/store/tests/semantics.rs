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
        matches!(err, StoreError::HeadFull { cap: 1000, .. }),
        "{err}"
    );
    // Once flushes work again, the waiting append goes through.
    fs.faults.heal();
    store.append(&tenant(), &[batch("a", &[(2, "y")])]).unwrap();
    assert_eq!(dump(&store).len(), 2);
}
