//! Files written by format v1 are checked in under `tests/data/v1/` and must stay readable.
//! To rewrite them (only when making a new format version, into a new folder):
//! `KELP_STORE_WRITE_V1=1 cargo test -p kelp-store --test main format_v1`.

use std::path::{Path, PathBuf};

use kelp_model::{Entry, LabelPair, Labels, Timestamp};
use kelp_store::{format, Store, StreamEntries};

use crate::common::*;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/v1/store")
}

fn contents() -> Vec<StreamEntries> {
    let mut out = Vec::new();
    for (pod, n) in [("api-0", 300), ("db-0", 40)] {
        let labels =
            Labels::from_pairs([("namespace", "shop"), ("pod", pod), ("container", "app")])
                .unwrap();
        let entries = (0..n)
            .map(|i| {
                let mut e = Entry::new(
                    Timestamp::from_unix_nanos(T0 + i * 1_000_000_007),
                    format!("{pod} GET /items/{i} 200 \u{1} {}ms ünïcode", i * 13),
                );
                if i % 10 == 0 {
                    e.metadata.push(LabelPair {
                        name: "trace_id".into(),
                        value: format!("t{i}"),
                    });
                }
                e
            })
            .collect();
        out.push(StreamEntries { labels, entries });
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn v1_files_are_read() {
    if std::env::var("KELP_STORE_WRITE_V1").is_ok() {
        let _ = std::fs::remove_dir_all(data_dir());
        let mut cfg = config(&data_dir());
        cfg.block_bytes = 8 << 10;
        let store = Store::open(cfg).unwrap();
        store.append(&tenant(), &contents()).unwrap();
        store.close().unwrap();
    }
    assert_eq!(format::FORMAT_VERSION, 1);
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&data_dir(), tmp.path());
    let store = Store::open(config(tmp.path())).unwrap();
    assert!(store.recovery().bad_files.is_empty() && store.recovery().removed_files.is_empty());
    assert!(store.segment_count() >= 1);
    let want: usize = contents().iter().map(|s| s.entries.len()).sum();
    let got = dump(&store);
    assert_eq!(got.len(), want);
    for s in contents() {
        let pod = s.labels.get("pod").unwrap();
        let lines: Vec<&String> = got.iter().filter(|g| g.0 == pod).map(|g| &g.2).collect();
        let expect: Vec<String> = s
            .entries
            .iter()
            .map(|e| String::from_utf8(e.line.to_vec()).unwrap())
            .collect();
        assert_eq!(lines, expect.iter().collect::<Vec<_>>());
    }
    // Structured metadata survives.
    let req = kelp_store::ScanRequest {
        tenant: tenant(),
        matchers: vec![kelp_store::LabelMatcher::eq("pod", "db-0")],
        start: Timestamp::from_unix_nanos(T0),
        end: Timestamp::from_unix_nanos(T0 + 1),
        direction: kelp_store::Direction::Forward,
        limit: None,
        filters: vec![],
    };
    let e = &store.select(&req).unwrap()[0];
    assert_eq!(
        e.metadata,
        vec![LabelPair {
            name: "trace_id".into(),
            value: "t0".into()
        }]
    );
    // The magic bytes are where the format says.
    let seg = walk_find(&data_dir(), format::SEGMENT_EXT).expect("a v1 segment file");
    let bytes = std::fs::read(seg).unwrap();
    assert_eq!(&bytes[..8], &format::SEGMENT_MAGIC);
    assert_eq!(&bytes[bytes.len() - 8..], &format::SEGMENT_MAGIC);
}

fn walk_find(p: &Path, ext: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(p).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if let Some(f) = walk_find(&p, ext) {
                return Some(f);
            }
        } else if p.extension().is_some_and(|x| x == ext) {
            return Some(p);
        }
    }
    None
}
