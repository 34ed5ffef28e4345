//! Concurrent ingest and queries: appenders, flushes and compactions racing scans, counts
//! and label queries, every answer checked against what was acknowledged around it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kelp_model::{Entry, Timestamp};
use kelp_store::{
    CountRequest, Direction, LabelMatcher, LineFilter, ScanRequest, Store, StreamEntries,
};

use crate::common::*;

const WRITERS: usize = 3;
const READERS: usize = 2;
/// Most entries per writer (writers stop earlier once enough flushes, compactions and
/// reader passes have raced them).
const PER_WRITER: u64 = 200_000;
/// Compactions and reader passes that must happen while writers run.
const COMPACTIONS: u64 = 2;
const PASSES: u64 = 8;
const MS: i64 = 1_000_000;

fn pod(w: usize) -> String {
    format!("w{w}")
}

/// The line of writer `w`'s entry `seq`: digits and a variable tail, so a torn or mixed-up
/// read shows.
fn line(w: usize, seq: u64) -> String {
    format!(
        "writer={w} seq={seq} GET /api/{} {}",
        seq * 7919 % 1000,
        "x".repeat((seq % 37) as usize)
    )
}

fn ts(seq: u64) -> i64 {
    seq as i64 * MS
}

/// Per writer, entries `0..acked` were acknowledged and entries `0..sent` passed to
/// `append` (an entry is visible from inside `append`, before it returns).
#[derive(Default)]
struct Acked {
    acked: [AtomicU64; WRITERS],
    sent: [AtomicU64; WRITERS],
}

impl Acked {
    /// Before a query: what it must see at least.
    fn snapshot(&self) -> [u64; WRITERS] {
        std::array::from_fn(|w| self.acked[w].load(Ordering::SeqCst))
    }
    /// After a query: what it may see at most.
    fn sent(&self) -> [u64; WRITERS] {
        std::array::from_fn(|w| self.sent[w].load(Ordering::SeqCst))
    }
}

fn all_req(direction: Direction, limit: Option<usize>) -> ScanRequest {
    ScanRequest {
        tenant: tenant(),
        matchers: vec![LabelMatcher::eq("namespace", "shop")],
        start: Timestamp::from_unix_nanos(T0 - MS),
        end: Timestamp::from_unix_nanos(T0 + ts(PER_WRITER) + MS),
        direction,
        limit,
        filters: vec![],
    }
}

/// Checks that writer `w`'s visible entries `seqs` (in scan order, forward) are exactly
/// `0..n` with `lo <= n <= hi`, and returns `n`.
fn check_prefix(w: usize, seqs: &[u64], lo: u64, hi: u64, what: &str) -> u64 {
    let n = seqs.len() as u64;
    assert!(
        lo <= n && n <= hi,
        "{what}: writer {w} shows {n} entries, acknowledged {lo} before, {hi} sent after"
    );
    for (i, s) in seqs.iter().enumerate() {
        assert_eq!(*s, i as u64, "{what}: writer {w} entries not 0..{n}");
    }
    n
}

/// One reader pass: a full forward scan, counts (with and without a filter), a limited
/// backward scan, label values and stats, each checked against acknowledgements.
fn read_once(store: &Store, acked: &Acked) {
    let before = acked.snapshot();
    let entries = store.select(&all_req(Direction::Forward, None)).unwrap();
    let after = acked.sent();
    let mut seqs: [Vec<u64>; WRITERS] = Default::default();
    for e in &entries {
        let w: usize = e.labels.get("pod").unwrap()[1..].parse().unwrap();
        let seq = ((e.timestamp.as_unix_nanos() - T0) / MS) as u64;
        assert_eq!(
            std::str::from_utf8(&e.line).unwrap(),
            line(w, seq),
            "torn or misplaced line"
        );
        seqs[w].push(seq);
    }
    for (w, s) in seqs.iter_mut().enumerate() {
        // Only each batch is in time order (batches may interleave); duplicates still show.
        s.sort_unstable();
        check_prefix(w, s, before[w], after[w], "scan");
    }

    let before = acked.snapshot();
    let counts = store
        .count(&CountRequest {
            tenant: tenant(),
            matchers: vec![LabelMatcher::eq("namespace", "shop")],
            start: Timestamp::from_unix_nanos(T0),
            end: Timestamp::from_unix_nanos(T0 + ts(PER_WRITER)),
            step_ns: 100 * MS,
            filters: vec![],
        })
        .unwrap();
    let after = acked.sent();
    for c in &counts {
        let w: usize = c.labels.get("pod").unwrap()[1..].parse().unwrap();
        let n: u64 = c.counts.iter().sum();
        assert!(
            before[w] <= n && n <= after[w],
            "count: writer {w} has {n}, acknowledged {} before, {} sent after",
            before[w],
            after[w]
        );
        // Every bucket but the one being written is full (100 entries, 1 per ms).
        let full = (n / 100) as usize;
        assert!(c.counts[..full].iter().all(|&k| k == 100), "count buckets");
    }
    let seen: u64 = before.iter().filter(|&&n| n > 0).count() as u64;
    assert!(counts.len() as u64 >= seen, "count lost a stream");

    // A filtered count of one writer's lines equals the entries of its stream.
    let before = acked.snapshot();
    let filtered = store
        .count(&CountRequest {
            tenant: tenant(),
            matchers: vec![LabelMatcher::eq("namespace", "shop")],
            start: Timestamp::from_unix_nanos(T0),
            end: Timestamp::from_unix_nanos(T0 + ts(PER_WRITER)),
            step_ns: ts(PER_WRITER),
            filters: vec![LineFilter::Contains(b"writer=1 ".to_vec())],
        })
        .unwrap();
    let after = acked.sent();
    let n: u64 = filtered.iter().flat_map(|c| c.counts.iter()).sum();
    assert!(
        before[1] <= n && n <= after[1],
        "filtered count {n} outside [{}, {}]: {:?}",
        before[1],
        after[1],
        filtered
            .iter()
            .map(|c| (c.labels.to_string(), c.counts.iter().sum::<u64>()))
            .collect::<Vec<_>>()
    );

    // The newest 50 entries of one stream: consecutive, newest at least what was acked.
    let before = acked.snapshot();
    let mut req = all_req(Direction::Backward, Some(50));
    req.matchers.push(LabelMatcher::eq("pod", &pod(0)));
    let last = store.select(&req).unwrap();
    let after = acked.sent();
    let got: Vec<u64> = last
        .iter()
        .map(|e| ((e.timestamp.as_unix_nanos() - T0) / MS) as u64)
        .collect();
    let newest = got.first().map_or(0, |s| s + 1);
    assert!(
        before[0] <= newest && newest <= after[0],
        "last 50: newest {newest} outside [{}, {}]",
        before[0],
        after[0]
    );
    let want: Vec<u64> = (newest.saturating_sub(50)..newest).rev().collect();
    assert_eq!(got, want, "last 50 of writer 0");

    let before = acked.snapshot();
    let (start, end) = (
        Timestamp::from_unix_nanos(T0 - MS),
        Timestamp::from_unix_nanos(T0 + ts(PER_WRITER) + MS),
    );
    let pods = store.label_values(&tenant(), "pod", &[], start, end);
    let names = store.label_names(&tenant(), &[], start, end);
    let stats = store.stats(&tenant(), &[], start, end);
    let after = acked.sent();
    for w in (0..WRITERS).filter(|&w| before[w] > 0) {
        assert!(pods.contains(&pod(w)), "label values lost {w}: {pods:?}");
    }
    if before.iter().any(|&n| n > 0) {
        assert_eq!(names, ["namespace", "pod"]);
    }
    let (lo, hi): (u64, u64) = (before.iter().sum(), after.iter().sum());
    assert!(
        lo <= stats.entries && stats.entries <= hi,
        "stats: {} entries outside [{lo}, {hi}]",
        stats.entries
    );
}

#[test]
fn queries_racing_appends_flushes_and_compactions_see_consistent_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.background = true; // the flusher also flushes by size
    cfg.flush_bytes = 64 << 10;
    cfg.max_head_bytes = 256 << 10; // appends wait for flushes: writers cannot run away
    cfg.block_bytes = 16 << 10;
    cfg.compact_min_segments = 3;
    let store = Arc::new(Store::open(cfg).unwrap());
    let acked = Arc::new(Acked::default());
    let done = Arc::new(AtomicBool::new(false));
    // Compactions done and reader passes done so far.
    let progress = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, acked, progress) = (store.clone(), acked.clone(), progress.clone());
            std::thread::spawn(move || {
                let mut seq = 0u64;
                let mut k = 0u64;
                let enough = || {
                    progress[0].load(Ordering::SeqCst) >= COMPACTIONS
                        && progress[1].load(Ordering::SeqCst) >= PASSES
                };
                while seq < PER_WRITER && !enough() {
                    k += 1;
                    let n = (1 + (k * 13 + w as u64) % 24).min(PER_WRITER - seq);
                    let batch = StreamEntries {
                        labels: labels(&pod(w)),
                        entries: (seq..seq + n)
                            .map(|s| Entry::new(Timestamp::from_unix_nanos(T0 + ts(s)), line(w, s)))
                            .collect(),
                    };
                    acked.sent[w].store(seq + n, Ordering::SeqCst);
                    let out = store
                        .append(&tenant(), std::slice::from_ref(&batch))
                        .unwrap();
                    assert_eq!(out.accepted, n);
                    seq += n;
                    acked.acked[w].store(seq, Ordering::SeqCst);
                    if k % 9 == 0 {
                        // A retried push: nothing new, all counted as duplicates.
                        let again = store.append(&tenant(), &[batch]).unwrap();
                        assert_eq!((again.accepted, again.duplicates), (0, n));
                    }
                }
            })
        })
        .collect();
    let maint = {
        let (store, done, progress) = (store.clone(), done.clone(), progress.clone());
        std::thread::spawn(move || {
            let mut flushes = 0;
            while !done.load(Ordering::SeqCst) {
                store.flush().unwrap();
                flushes += 1;
                if flushes % 4 == 0 {
                    let n = store.compact().unwrap().partitions as u64;
                    progress[0].fetch_add(n, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            flushes
        })
    };
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let (store, acked, done) = (store.clone(), acked.clone(), done.clone());
            let progress = progress.clone();
            std::thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    read_once(&store, &acked);
                    progress[1].fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    for r in readers {
        r.join().unwrap();
    }
    let flushes = maint.join().unwrap();
    let [compactions, passes] = [0, 1].map(|i| progress[i].load(Ordering::SeqCst));
    assert!(
        compactions >= COMPACTIONS && passes >= PASSES && flushes > COMPACTIONS,
        "writers ran out of entries: {flushes} flushes, {compactions} compactions, {passes} passes"
    );
    assert_eq!(store.background_error(), None);
    // Quiet again: everything acknowledged is there exactly once.
    store.flush().unwrap();
    read_once(&store, &acked);
    assert_eq!(
        store
            .select(&all_req(Direction::Forward, None))
            .unwrap()
            .len() as u64,
        acked.snapshot().iter().sum::<u64>()
    );
}
