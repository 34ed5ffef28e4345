//! kelp-series tests: the codec round trip (property), appends and retries, reads,
//! retention, restart and torn files.

use kelp_series::codec::{decode, ChunkEncoder};
use kelp_series::{Kind, Sample, SeriesConfig, SeriesKey, SeriesStore};
use proptest::prelude::*;

const T0: i64 = 1_732_320_000_000_000_000;
const S15: i64 = 15_000_000_000;

proptest! {
    #[test]
    fn codec_round_trips_any_increasing_samples(
        start in any::<i64>(),
        steps in prop::collection::vec((1i64..1_000_000_000_000, any::<u64>(), any::<u64>()), 1..300),
    ) {
        let mut t = start;
        let mut want = Vec::new();
        let mut e = ChunkEncoder::default();
        for (dt, cpu, mem) in steps {
            t = t.wrapping_add(dt);
            let s = Sample { t, cpu_ns: cpu, memory: mem };
            e.push(s);
            want.push(s);
        }
        prop_assert_eq!(decode(e.bytes(), e.len()).unwrap(), want);
    }

    #[test]
    fn codec_never_panics_on_garbage(bytes in prop::collection::vec(any::<u8>(), 0..200), n in 0u32..50) {
        let _ = decode(&bytes, n);
    }
}

fn key(pod: &str) -> SeriesKey {
    SeriesKey::new("fake", Kind::Pod, "n1", "shop", pod, "")
}

fn sample(i: i64) -> Sample {
    Sample {
        t: T0 + i * S15,
        cpu_ns: 1_000_000 * i as u64,
        memory: 4096 * (100 + i as u64 % 3),
    }
}

fn config(dir: &std::path::Path) -> SeriesConfig {
    let mut c = SeriesConfig::new(dir);
    c.max_chunk_samples = 10;
    c
}

#[test]
fn appends_are_idempotent_and_read_back_across_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = SeriesStore::open(config(dir.path()), T0).unwrap();
    let batch: Vec<_> = (0..25).map(|i| (key("web-1"), sample(i))).collect();
    let out = store.append(&batch).unwrap();
    assert_eq!((out.stored, out.duplicates), (25, 0));
    // The same push again (a retry after a lost answer): nothing stored twice.
    let out = store.append(&batch).unwrap();
    assert_eq!((out.stored, out.duplicates), (0, 25));
    let now = T0 + 30 * S15;
    let all = store
        .samples(&key("web-1"), i64::MIN, i64::MAX, now)
        .unwrap();
    assert_eq!(all, (0..25).map(sample).collect::<Vec<_>>());
    let some = store
        .samples(&key("web-1"), T0 + 5 * S15, T0 + 12 * S15, now)
        .unwrap();
    assert_eq!(some, (5..=12).map(sample).collect::<Vec<_>>());
    assert_eq!(
        store.last(&key("web-1"), T0 + 10 * S15, 2, now).unwrap(),
        vec![sample(9), sample(10)]
    );
    assert_eq!(
        store.last(&key("web-1"), i64::MAX, 3, now).unwrap(),
        vec![sample(22), sample(23), sample(24)]
    );
    assert!(store
        .last(&key("nope"), i64::MAX, 2, now)
        .unwrap()
        .is_empty());
    assert_eq!(store.stats().series, 1);
    assert_eq!(store.stats().chunks, 2);
}

#[test]
fn series_limit_refuses_new_series_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(dir.path());
    c.max_series = 2;
    let (store, _) = SeriesStore::open(c, T0).unwrap();
    let out = store
        .append(&[
            (key("a"), sample(0)),
            (key("b"), sample(0)),
            (key("c"), sample(0)),
            (key("a"), sample(1)),
        ])
        .unwrap();
    assert_eq!((out.stored, out.refused), (3, 1));
}

#[test]
fn restart_recovers_flushed_and_unflushed_samples() {
    let dir = tempfile::tempdir().unwrap();
    let now = T0 + 100 * S15;
    {
        let (store, _) = SeriesStore::open(config(dir.path()), T0).unwrap();
        for i in 0..23 {
            store
                .append(&[
                    (key("web-1"), sample(i)),
                    (SeriesKey::node("fake", "n1"), sample(i)),
                ])
                .unwrap();
        }
        // Dropped without close: 3 samples per series live only in the WAL.
    }
    let (store, rec) = SeriesStore::open(config(dir.path()), now).unwrap();
    assert_eq!(rec.wal_samples, 6, "{rec:?}");
    let want: Vec<_> = (0..23).map(sample).collect();
    assert_eq!(
        store
            .samples(&key("web-1"), i64::MIN, i64::MAX, now)
            .unwrap(),
        want
    );
    assert_eq!(
        store
            .samples(&SeriesKey::node("fake", "n1"), i64::MIN, i64::MAX, now)
            .unwrap(),
        want
    );
    // Resent after the restart: still duplicates.
    assert_eq!(
        store
            .append(&[(key("web-1"), sample(22))])
            .unwrap()
            .duplicates,
        1
    );
    // A cut flushes and removes the old WALs; a second restart reads the chunks only.
    store.maintain(now, true).unwrap();
    store.append(&[(key("web-1"), sample(23))]).unwrap();
    store.close(now).unwrap();
    drop(store);
    let (store, rec) = SeriesStore::open(config(dir.path()), now).unwrap();
    assert_eq!(rec.wal_samples, 0, "{rec:?}");
    assert_eq!(
        store
            .samples(&key("web-1"), i64::MIN, i64::MAX, now)
            .unwrap()
            .len(),
        24
    );
    let wals = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("wal-")
        })
        .count();
    assert_eq!(wals, 1);
}

#[test]
fn a_torn_wal_tail_is_cut_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _) = SeriesStore::open(config(dir.path()), T0).unwrap();
        for i in 0..5 {
            store.append(&[(key("web-1"), sample(i))]).unwrap();
        }
    }
    let wal = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("wal-"))
        .unwrap();
    let len = std::fs::metadata(&wal).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(len - 3).unwrap();
    let (store, rec) = SeriesStore::open(config(dir.path()), T0).unwrap();
    assert_eq!(rec.torn, vec![wal]);
    assert_eq!(
        store
            .samples(&key("web-1"), i64::MIN, i64::MAX, T0)
            .unwrap(),
        (0..4).map(sample).collect::<Vec<_>>()
    );
    // The agent resends the lost sample: it is stored now.
    assert_eq!(
        store.append(&[(key("web-1"), sample(4))]).unwrap().stored,
        1
    );
}

#[test]
fn a_foreign_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("chunks-00020049.kch"),
        b"not a chunk file at all",
    )
    .unwrap();
    let e = SeriesStore::open(config(dir.path()), T0).unwrap_err();
    assert!(e.to_string().contains("bad magic"), "{e}");
}

#[test]
fn retention_deletes_old_days_and_hides_old_samples() {
    let dir = tempfile::tempdir().unwrap();
    let day = 86_400_000_000_000i64;
    let mut c = config(dir.path());
    c.retention = std::time::Duration::from_secs(2 * 86_400);
    let (store, _) = SeriesStore::open(c.clone(), T0).unwrap();
    store
        .append(&[(key("old"), sample(0)), (key("new"), sample(0))])
        .unwrap();
    store.maintain(T0, true).unwrap();
    let later = Sample {
        t: T0 + 3 * day,
        ..sample(1)
    };
    store.append(&[(key("new"), later)]).unwrap();
    store.maintain(T0 + 3 * day, true).unwrap();
    let now = T0 + 3 * day;
    assert!(store.samples(&key("new"), i64::MIN, i64::MAX, now).unwrap() == vec![later]);
    assert!(
        store.series(|_| true).iter().all(|k| k.pod == "new"),
        "{:?}",
        store.series(|_| true)
    );
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("chunks-"))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    drop(store);
    let (store, _) = SeriesStore::open(c, now).unwrap();
    assert_eq!(
        store.samples(&key("new"), i64::MIN, i64::MAX, now).unwrap(),
        vec![later]
    );
}

fn labels(pairs: &[(&str, &str)]) -> kelp_series::Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Issue #7: a pod's Kubernetes labels are kept with its series, durable across restarts
/// and cuts; only changes are written.
#[test]
fn labels_are_durable_change_only_and_compacted_at_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let web = labels(&[("app", "web"), ("app.kubernetes.io/name", "shop")]);
    let file = dir.path().join("labels.log");
    {
        let (store, _) = SeriesStore::open(config(dir.path()), T0).unwrap();
        store
            .append(&[(key("web-1"), sample(0)), (key("db-0"), sample(0))])
            .unwrap();
        let set = [(key("web-1"), web.clone()), (key("ghost"), web.clone())];
        // The unknown series is ignored; the same labels again change nothing.
        assert_eq!(store.set_labels(&set).unwrap(), 1);
        let len = std::fs::metadata(&file).unwrap().len();
        assert_eq!(store.set_labels(&set).unwrap(), 0);
        assert_eq!(std::fs::metadata(&file).unwrap().len(), len);
        assert_eq!(
            store
                .set_labels(&[(key("db-0"), labels(&[("app", "db")]))])
                .unwrap(),
            1
        );
        assert_eq!(
            store
                .set_labels(&[(key("db-0"), labels(&[("app", "db2")]))])
                .unwrap(),
            1
        );
        assert_eq!(store.labels(&key("web-1")).as_deref(), Some(&web));
        assert_eq!(store.labels(&key("ghost")), None);
    }
    let (store, rec) = SeriesStore::open(config(dir.path()), T0).unwrap();
    assert_eq!(rec.labelled, 2);
    assert_eq!(store.labels(&key("web-1")).as_deref(), Some(&web));
    assert_eq!(
        store.labels(&key("db-0")).as_deref(),
        Some(&labels(&[("app", "db2")]))
    );
    // Clearing, then the cut rewrites the file with the live labels only.
    assert_eq!(
        store
            .set_labels(&[(key("db-0"), kelp_series::Labels::new())])
            .unwrap(),
        1
    );
    let before = std::fs::metadata(&file).unwrap().len();
    store.maintain(T0 + S15, true).unwrap();
    assert!(std::fs::metadata(&file).unwrap().len() < before);
    store
        .set_labels(&[(key("db-0"), labels(&[("tier", "data")]))])
        .unwrap();
    drop(store);
    let (store, rec) = SeriesStore::open(config(dir.path()), T0).unwrap();
    assert_eq!(rec.labelled, 2);
    assert_eq!(store.labels(&key("web-1")).as_deref(), Some(&web));
    assert_eq!(
        store.labels(&key("db-0")).as_deref(),
        Some(&labels(&[("tier", "data")]))
    );
}

#[test]
fn a_torn_labels_tail_is_cut_and_a_store_without_labels_opens() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _) = SeriesStore::open(config(dir.path()), T0).unwrap();
        store.append(&[(key("web-1"), sample(0))]).unwrap();
        store
            .set_labels(&[(key("web-1"), labels(&[("app", "web")]))])
            .unwrap();
        store
            .set_labels(&[(key("web-1"), labels(&[("app", "web2")]))])
            .unwrap();
    }
    let file = dir.path().join("labels.log");
    let len = std::fs::metadata(&file).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let (store, rec) = SeriesStore::open(config(dir.path()), T0).unwrap();
    assert_eq!(rec.torn, vec![file.clone()]);
    assert_eq!(
        store.labels(&key("web-1")).as_deref(),
        Some(&labels(&[("app", "web")]))
    );
    drop(store);
    // A store written before labels existed has no labels file.
    std::fs::remove_file(&file).unwrap();
    let (store, rec) = SeriesStore::open(config(dir.path()), T0).unwrap();
    assert_eq!((rec.labelled, store.labels(&key("web-1"))), (0, None));
    assert_eq!(store.stats().series, 1);
}
