//! The read side: filters, blooms, directions, limits, counts, labels, stats.

use kelp_model::Timestamp;
use kelp_store::{CountRequest, Direction, LabelMatcher, LineFilter, MatchOp, ScanRequest, Store};

use crate::common::*;

const SEC: i64 = 1_000_000_000;

fn loaded(blooms: bool) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.block_bytes = 2048;
    cfg.use_blooms = blooms;
    let store = Store::open(cfg).unwrap();
    for pod in ["a", "b", "c"] {
        let lines: Vec<String> = (0..600)
            .map(|i| {
                format!(
                    "{pod} GET /api/v1/items/{i} status={} took={}ms",
                    200 + i % 3,
                    i * 7
                )
            })
            .collect();
        let entries: Vec<(i64, &str)> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (i as i64 * SEC, l.as_str()))
            .collect();
        store.append(&tenant(), &[batch(pod, &entries)]).unwrap();
    }
    store
        .append(
            &tenant(),
            &[batch("b", &[(300 * SEC + 1, "x needle0123abcd y")])],
        )
        .unwrap();
    store.flush().unwrap();
    // Some entries stay in the head.
    store
        .append(
            &tenant(),
            &[batch(
                "c",
                &[(700 * SEC, "late needle0123abcd"), (701 * SEC, "c tail")],
            )],
        )
        .unwrap();
    (dir, store)
}

fn req(filters: Vec<LineFilter>) -> ScanRequest {
    ScanRequest {
        tenant: tenant(),
        matchers: vec![LabelMatcher::new("pod", MatchOp::Re, "a|b|c").unwrap()],
        start: Timestamp::from_unix_nanos(T0),
        end: Timestamp::from_unix_nanos(T0 + 1000 * SEC),
        direction: Direction::Forward,
        limit: None,
        filters,
    }
}

#[test]
fn needle_is_found_with_and_without_blooms_and_blooms_prune() {
    for blooms in [true, false] {
        let (_d, store) = loaded(blooms);
        let r = req(vec![LineFilter::Contains(b"needle0123abcd".to_vec())]);
        let mut n = 0;
        let stats = store
            .scan(&r, |b| {
                n += b.len();
                true
            })
            .unwrap();
        assert_eq!(n, 2, "blooms={blooms}");
        if blooms {
            assert!(stats.blocks_pruned > stats.blocks / 2, "{stats:?}");
        } else {
            assert_eq!(stats.blocks_pruned, 0);
        }
        // Substring semantics: a piece of the token is found too.
        let r = req(vec![LineFilter::Contains(b"eedle0123ab".to_vec())]);
        assert_eq!(store.select(&r).unwrap().len(), 2);
        let r = req(vec![LineFilter::Regex("needle[0-9]+abcd".into())]);
        assert_eq!(store.select(&r).unwrap().len(), 2);
    }
}

#[test]
fn filters_combine_and_negate() {
    let (_d, store) = loaded(true);
    let r = req(vec![
        LineFilter::Contains(b"status=201".to_vec()),
        LineFilter::NotContains(b"a GET".to_vec()),
        LineFilter::NotRegex("items/1[0-9]{2} ".into()),
    ]);
    let got = store.select(&r).unwrap();
    assert!(!got.is_empty());
    for e in &got {
        let l = std::str::from_utf8(&e.line).unwrap();
        assert!(l.contains("status=201") && !l.starts_with("a "), "{l}");
        let i: usize = l
            .split('/')
            .nth(4)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(!(100..200).contains(&i), "{l}");
    }
    let expected = 2 * (600 / 3) - 2 * 34;
    assert_eq!(got.len(), expected);
}

#[test]
fn limits_and_directions_give_the_newest_or_oldest_over_all_streams() {
    let (_d, store) = loaded(true);
    let mut r = req(vec![]);
    r.limit = Some(1000);
    r.direction = Direction::Backward;
    let got = store.select(&r).unwrap();
    assert_eq!(got.len(), 1000);
    assert_eq!(&got[0].line[..], b"c tail");
    assert!(got.windows(2).all(|w| w[0].timestamp >= w[1].timestamp));
    // The full result, sorted, ends with exactly these.
    let mut all: Vec<i64> = dump(&store).iter().map(|e| e.1).collect();
    all.sort_unstable();
    let newest: Vec<i64> = all.iter().rev().take(1000).copied().collect();
    let got_ts: Vec<i64> = got
        .iter()
        .map(|e| e.timestamp.as_unix_nanos() - T0)
        .collect();
    assert_eq!(got_ts, newest);
    r.direction = Direction::Forward;
    r.limit = Some(5);
    let got: Vec<i64> = store
        .select(&r)
        .unwrap()
        .iter()
        .map(|e| e.timestamp.as_unix_nanos() - T0)
        .collect();
    assert_eq!(got, [0, 0, 0, SEC, SEC]);
    // One stream, time range cut inside blocks.
    r.matchers = vec![LabelMatcher::eq("pod", "a")];
    r.start = Timestamp::from_unix_nanos(T0 + 10 * SEC);
    r.end = Timestamp::from_unix_nanos(T0 + 20 * SEC);
    r.limit = None;
    assert_eq!(store.select(&r).unwrap().len(), 10);
}

#[test]
fn counts_per_stream_per_step_are_exact() {
    let (_d, store) = loaded(true);
    let step = 60 * SEC;
    let c = CountRequest {
        tenant: tenant(),
        matchers: vec![LabelMatcher::eq("namespace", "shop")],
        start: Timestamp::from_unix_nanos(T0 + 30 * SEC),
        end: Timestamp::from_unix_nanos(T0 + 720 * SEC),
        step_ns: step,
        filters: vec![],
    };
    let got = store.count(&c).unwrap();
    let all = dump(&store);
    for sc in &got {
        let pod = sc.labels.get("pod").unwrap();
        for (i, n) in sc.counts.iter().enumerate() {
            let (a, b) = (30 * SEC + i as i64 * step, 30 * SEC + (i as i64 + 1) * step);
            let want = all
                .iter()
                .filter(|e| e.0 == pod && e.1 >= a && e.1 < b)
                .count() as u64;
            assert_eq!(*n, want, "pod {pod} bucket {i}");
        }
    }
    assert_eq!(got.len(), 3);
    let mut f = c.clone();
    f.filters = vec![LineFilter::Contains(b"needle".to_vec())];
    let total: u64 = store
        .count(&f)
        .unwrap()
        .iter()
        .flat_map(|s| s.counts.clone())
        .sum();
    assert_eq!(total, 2);
}

#[test]
fn labels_series_and_stats() {
    let (_d, store) = loaded(true);
    let (s, e) = (
        Timestamp::from_unix_nanos(T0),
        Timestamp::from_unix_nanos(T0 + 1000 * SEC),
    );
    assert_eq!(
        store.label_names(&tenant(), &[], s, e),
        ["namespace", "pod"]
    );
    assert_eq!(
        store.label_values(&tenant(), "pod", &[], s, e),
        ["a", "b", "c"]
    );
    let m = [LabelMatcher::new("pod", MatchOp::Neq, "a").unwrap()];
    assert_eq!(store.series(&tenant(), &m, s, e).len(), 2);
    let st = store.stats(&tenant(), &[], s, e);
    assert_eq!((st.streams, st.entries), (3, 1803));
    assert!(st.chunks > 3 && st.bytes > 0);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    /// Head chunks search their line pages, and segment blocks their templates column,
    /// for a `|=` literal in bulk: the entries found, and the counts, are exactly those a
    /// line-by-line test finds, whatever the line
    /// lengths (lines filling pages, lines in their own allocation), wherever the needle
    /// falls (across two adjacent lines of a page included) and whatever digits and
    /// template markers the lines hold (blocks rebuild a line from its template and the
    /// digits found through the checkpoints).
    #[test]
    fn head_needle_search_finds_exactly_the_matching_lines(
        lines in proptest::collection::vec(
            proptest::prop_oneof![
                8 => "[ab0-9\u{1}]{0,40}",
                1 => "[ab0-9]{4000,5000}",
            ],
            1..300,
        ),
        needle in "[ab0-9]{0,5}",
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(config(dir.path())).unwrap();
        let entries: Vec<(i64, &str)> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (i as i64, l.as_str()))
            .collect();
        store.append(&tenant(), &[batch("a", &entries)]).unwrap();
        let expected: Vec<&str> = lines
            .iter()
            .map(String::as_str)
            .filter(|l| l.contains(needle.as_str()))
            .collect();
        let r = req(vec![LineFilter::Contains(needle.as_bytes().to_vec())]);
        let got = store.select(&r).unwrap();
        let got: Vec<&str> = got.iter().map(|e| std::str::from_utf8(&e.line).unwrap()).collect();
        proptest::prop_assert_eq!(&got, &expected);
        // The same once flushed: segment blocks search their templates column in bulk.
        store.flush().unwrap();
        let got = store.select(&r).unwrap();
        let got: Vec<&str> = got.iter().map(|e| std::str::from_utf8(&e.line).unwrap()).collect();
        proptest::prop_assert_eq!(&got, &expected);
        let counts = store
            .count(&CountRequest {
                tenant: tenant(),
                matchers: r.matchers.clone(),
                start: r.start,
                end: r.end,
                step_ns: 1000 * SEC,
                filters: r.filters.clone(),
            })
            .unwrap();
        let total: u64 = counts.iter().flat_map(|c| c.counts.iter()).sum();
        proptest::prop_assert_eq!(total, expected.len() as u64);
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]
    /// A limited read without filters skips the lines of a block before the wanted ones
    /// (or, backward, after them): the result is still exactly the first (last) `limit`
    /// entries of the range, metadata included, head or flushed.
    #[test]
    fn limited_reads_return_exactly_the_first_or_last_entries(
        n in 1usize..1500,
        limit in 1usize..400,
        forward in proptest::bool::ANY,
        from in 0i64..1600,
        len in 1i64..1600,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(dir.path());
        cfg.block_bytes = 4096;
        let store = Store::open(cfg).unwrap();
        let mut b = batch("a", &[]);
        for i in 0..n as i64 {
            let mut e = kelp_model::Entry::new(
                Timestamp::from_unix_nanos(T0 + i * SEC),
                format!("line {i} GET /x/{} took {}ms", i * 31 % 97, i % 13),
            );
            if i % 7 == 0 {
                e.metadata.push(kelp_model::LabelPair {
                    name: "trace_id".into(),
                    value: format!("t{i}"),
                });
            }
            b.entries.push(e);
        }
        store.append(&tenant(), &[b]).unwrap();
        let mut r = req(vec![]);
        r.start = Timestamp::from_unix_nanos(T0 + from * SEC);
        r.end = Timestamp::from_unix_nanos(T0 + (from + len) * SEC);
        r.limit = Some(limit);
        r.direction = if forward { Direction::Forward } else { Direction::Backward };
        let mut want: Vec<i64> = (0..n as i64).filter(|i| *i >= from && *i < from + len).collect();
        if !forward {
            want.reverse();
        }
        want.truncate(limit);
        for flushed in [false, true] {
            if flushed {
                store.flush().unwrap();
            }
            let got = store.select(&r).unwrap();
            let ids: Vec<i64> = got
                .iter()
                .map(|e| (e.timestamp.as_unix_nanos() - T0) / SEC)
                .collect();
            proptest::prop_assert_eq!(&ids, &want, "flushed={}", flushed);
            for (e, i) in got.iter().zip(&want) {
                let line = format!("line {i} GET /x/{} took {}ms", i * 31 % 97, i % 13);
                proptest::prop_assert_eq!(&e.line[..], line.as_bytes());
                proptest::prop_assert_eq!(e.metadata.len(), usize::from(i % 7 == 0));
            }
        }
    }
}

/// Issue #9: a query that is cancelled or out of time stops reading at its next block, not
/// at the end of the scan; the stop check is asked for every block and head chunk.
#[test]
fn scans_and_counts_stop_when_their_caller_says_so() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (_d, store) = loaded(false);
    let all = store.select(&req(vec![])).unwrap().len();
    let asked = &AtomicUsize::new(0);
    let count_asks = || {
        asked.fetch_add(1, Ordering::Relaxed);
        false
    };
    store
        .scan_until(&req(vec![]), &count_asks, |_| true)
        .unwrap();
    let full = asked.swap(0, Ordering::Relaxed);
    assert!(full > 8, "the scan asked only {full} times");

    // Stop after a few blocks: the scan fails with Interrupted and emitted only part.
    let stop_after = |n: usize| move || asked.fetch_add(1, Ordering::Relaxed) >= n;
    let stop = stop_after(3);
    let mut emitted = 0;
    let err = store
        .scan_until(&req(vec![]), &stop, |b| {
            emitted += b.len();
            true
        })
        .unwrap_err();
    assert!(matches!(err, kelp_store::StoreError::Interrupted), "{err}");
    assert!(emitted < all, "emitted {emitted} of {all}");
    let asked_when_stopped = asked.swap(0, Ordering::Relaxed);
    assert!(
        asked_when_stopped < full,
        "asked {asked_when_stopped} of {full} times"
    );

    // With a limit (the whole result is emitted once at the end) the stop still applies.
    let mut limited = req(vec![LineFilter::Contains(b"never there".to_vec())]);
    limited.limit = Some(10);
    let stop = stop_after(2);
    let err = store.scan_until(&limited, &stop, |_| true).unwrap_err();
    assert!(matches!(err, kelp_store::StoreError::Interrupted), "{err}");
    asked.store(0, Ordering::Relaxed);

    let c = CountRequest {
        tenant: tenant(),
        matchers: vec![LabelMatcher::eq("namespace", "shop")],
        start: Timestamp::from_unix_nanos(T0),
        end: Timestamp::from_unix_nanos(T0 + 1000 * SEC),
        step_ns: SEC,
        filters: vec![],
    };
    let stop = || true;
    let err = store.count_until(&c, &stop).unwrap_err();
    assert!(matches!(err, kelp_store::StoreError::Interrupted), "{err}");
    let n: u64 = store
        .count_until(&c, &kelp_store::never_stop)
        .unwrap()
        .iter()
        .flat_map(|s| s.counts.clone())
        .sum();
    assert_eq!(n as usize, all);
}
