//! WAL replay: torn and corrupt tails keep the valid prefix and are reported.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kelp_store::Store;
use proptest::prelude::*;

use crate::common::*;

fn newest_wal(dir: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| std::fs::metadata(p).unwrap().len() > 16)
        .collect();
    files.sort();
    files.pop().expect("a WAL file with records")
}

/// Appends `sizes.len()` batches (batch `b` has `sizes[b]` entries) and drops the store.
fn write_batches(dir: &Path, sizes: &[usize]) {
    let store = Store::open(config(dir)).unwrap();
    for (b, n) in sizes.iter().enumerate() {
        let lines: Vec<String> = (0..*n).map(|i| format!("batch {b} entry {i}")).collect();
        let entries: Vec<(i64, &str)> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| ((b * 100 + i) as i64, l.as_str()))
            .collect();
        store.append(&tenant(), &[batch("p", &entries)]).unwrap();
    }
}

/// The batches present after reopening, and whether each is whole.
fn batches_present(dir: &Path) -> (Vec<usize>, Store) {
    let store = Store::open(config(dir)).unwrap();
    let mut seen = BTreeSet::new();
    for (_, _, line) in dump(&store) {
        let b: usize = line.split(' ').nth(1).unwrap().parse().unwrap();
        seen.insert(b);
    }
    (seen.into_iter().collect(), store)
}

#[test]
fn torn_tail_is_dropped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    write_batches(dir.path(), &[3, 3, 3]);
    let wal = newest_wal(dir.path());
    let len = std::fs::metadata(&wal).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(len - 5).unwrap();
    let (present, store) = batches_present(dir.path());
    assert_eq!(present, [0, 1]);
    let r = store.recovery();
    assert_eq!(r.wal_records, 2);
    assert_eq!(r.dropped.len(), 1);
    assert_eq!(r.dropped[0].reason, "torn record payload");
    assert_eq!(r.dropped[0].path, wal);
    assert!(r.dropped[0].bytes > 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever happens to the WAL's tail, replay yields exactly a prefix of the batches,
    /// and every batch wholly before the damage.
    #[test]
    fn replay_yields_a_prefix(
        sizes in proptest::collection::vec(1usize..6, 1..8),
        cut in 0.0f64..1.0,
        flip in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        write_batches(dir.path(), &sizes);
        let wal = newest_wal(dir.path());
        let mut bytes = std::fs::read(&wal).unwrap();
        let pos = 16 + ((bytes.len() - 16) as f64 * cut) as usize;
        // Record boundaries: a cut exactly there leaves a valid, shorter log.
        let mut at = 16;
        let mut boundaries = vec![at];
        while at + 8 <= bytes.len() {
            at += 8 + u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            boundaries.push(at);
        }
        let clean_cut = !flip && boundaries.contains(&pos);
        if flip && pos < bytes.len() {
            bytes[pos] ^= 0x5a;
        } else {
            bytes.truncate(pos);
        }
        std::fs::write(&wal, &bytes).unwrap();
        let (present, store) = batches_present(dir.path());
        let k = present.len();
        prop_assert_eq!(&present, &(0..k).collect::<Vec<_>>());
        // Records entirely before the damage survive.
        let whole = store.recovery().wal_records as usize;
        prop_assert_eq!(whole, k);
        prop_assert!(k == sizes.len() || clean_cut || !store.recovery().dropped.is_empty());
        for b in &present {
            let n = dump(&store).iter().filter(|e| e.2.starts_with(&format!("batch {b} "))).count();
            prop_assert_eq!(n, sizes[*b]);
        }
    }
}
