//! The WAL and segment readers on damaged files: a store with a segment and unflushed WAL
//! records is built once; each input patches bytes of its WAL file or its segment (or cuts
//! it short), then the store is opened and everything is read. Never panics; every entry
//! read is one that was written (nothing altered).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use kelp_model::{Entry, Labels, StreamEntries, TenantId, Timestamp};
use kelp_store::{Direction, FsyncPolicy, LabelMatcher, ScanRequest, Store, StoreConfig};

const T0: i64 = 1_700_000_000_000_000_000;

struct Template {
    dir: PathBuf,
    files: Vec<(PathBuf, Vec<u8>)>,
    lines: HashSet<(i64, Vec<u8>)>,
}

fn config(dir: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.fsync = FsyncPolicy::Never;
    c.background = false;
    c
}

fn tenant() -> TenantId {
    TenantId::parse("fuzz").expect("a valid tenant")
}

fn batch(pod: &str, from: i64, n: i64) -> StreamEntries {
    StreamEntries {
        labels: Labels::from_pairs([("namespace", "ns"), ("pod", pod)]).expect("valid labels"),
        entries: (from..from + n)
            .map(|i| {
                Entry::new(
                    Timestamp::from_unix_nanos(T0 + i),
                    format!("{pod} line {i} took {}ms", i * 7 % 100),
                )
            })
            .collect(),
    }
}

fn template() -> &'static Template {
    static T: OnceLock<Template> = OnceLock::new();
    T.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("kelp-fuzz-store-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(config(&dir)).expect("a new store");
        let (a, b) = (batch("a", 0, 300), batch("b", 0, 100));
        store
            .append(&tenant(), std::slice::from_ref(&a))
            .expect("append");
        store.flush().expect("flush");
        store
            .append(&tenant(), std::slice::from_ref(&b))
            .expect("append");
        drop(store); // b stays in the WAL only
        let mut files = Vec::new();
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("readable").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "wal" || x == "kseg") {
                    let bytes = std::fs::read(&p).expect("readable");
                    files.push((p.strip_prefix(&dir).expect("inside").to_owned(), bytes));
                }
            }
        }
        files.sort();
        let lines = [a, b]
            .into_iter()
            .flat_map(|s| s.entries)
            .map(|e| (e.timestamp.as_unix_nanos(), e.line.to_vec()))
            .collect();
        Template { dir, files, lines }
    })
}

fn copy(from: &Path, to: &Path) {
    let mut stack = vec![from.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("readable").flatten() {
            let p = e.path();
            let dst = to.join(p.strip_prefix(from).expect("inside"));
            if p.is_dir() {
                std::fs::create_dir_all(&dst).expect("writable");
                stack.push(p);
            } else {
                std::fs::copy(&p, &dst).expect("writable");
            }
        }
    }
}

/// One input.
pub fn run(data: &[u8]) {
    let t = template();
    if data.len() < 2 || t.files.is_empty() {
        return;
    }
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "kelp-fuzz-store-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("writable");
    copy(&t.dir, &dir);
    // Byte 0: which file; byte 1: cut it to a fraction (255: keep); then (offset, offset,
    // value) triples overwrite bytes.
    let (rel, orig) = &t.files[data[0] as usize % t.files.len()];
    let mut bytes = orig.clone();
    for p in data[2..].chunks_exact(3) {
        let at = (usize::from(p[0]) << 8 | usize::from(p[1])) % bytes.len().max(1);
        if let Some(b) = bytes.get_mut(at) {
            *b = p[2];
        }
    }
    if data[1] != 255 {
        bytes.truncate(bytes.len() * usize::from(data[1]) / 255);
    }
    std::fs::write(dir.join(rel), &bytes).expect("writable");
    if let Ok(store) = Store::open(config(&dir)) {
        let req = ScanRequest {
            tenant: tenant(),
            matchers: vec![LabelMatcher::eq("namespace", "ns")],
            start: Timestamp::from_unix_nanos(T0 - 1),
            end: Timestamp::from_unix_nanos(T0 + 1_000_000),
            direction: Direction::Forward,
            limit: None,
            filters: Vec::new(),
        };
        if let Ok(entries) = store.select(&req) {
            for e in entries {
                assert!(
                    t.lines
                        .contains(&(e.timestamp.as_unix_nanos(), e.line.to_vec())),
                    "an entry that was never written: {e:?}"
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
