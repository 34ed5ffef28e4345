//! The count fast path equals the generic path on random data.

use kelp_model::{Entry, Timestamp};
use kelp_query::{Direction, RangeParams};
use kelp_store::StreamEntries;
use proptest::prelude::*;

use crate::{build, labels, T};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn fast_path_equals_generic(
        entries in prop::collection::vec((0usize..3, 0i64..600_000, any::<bool>()), 1..200),
        range_s in 1u64..300,
        step_s in 1u64..200,
        start_s in 0i64..300,
        filter in any::<bool>(),
    ) {
        let mut streams: Vec<StreamEntries> = (0..3)
            .map(|i| StreamEntries { labels: labels(&[("app", "x"), ("n", ["0", "1", "2"][i])]), entries: vec![] })
            .collect();
        for (s, ms, hit) in &entries {
            let line = if *hit { "GET hit" } else { "GET miss" };
            streams[*s].entries.push(Entry::new(Timestamp::from_unix_nanos((T * 1000 + ms) * 1_000_000), line));
        }
        streams.retain(|s| !s.entries.is_empty());
        let f = build(streams);
        let q = if filter {
            format!(r#"sum by (n) (count_over_time({{app="x"}} |= "hit" [{range_s}s]))"#)
        } else {
            format!(r#"rate({{app="x"}}[{range_s}s])"#)
        };
        let p = RangeParams {
            start: Timestamp::from_unix_secs(T + start_s),
            end: Timestamp::from_unix_secs(T + 700),
            step: std::time::Duration::from_secs(step_s),
            interval: std::time::Duration::ZERO,
            direction: Direction::Backward,
            limit: 100,
            cancel: None,
        };
        let fast = f.engine.query_range(&f.tenant, q.as_str(), &p).unwrap().result;
        let generic = f.engine.clone().with_count_fast_path(false);
        let slow = generic.query_range(&f.tenant, q.as_str(), &p).unwrap().result;
        prop_assert_eq!(fast, slow);
    }
}

/// Loki's `interval` by hand: every entry in direction order over all streams, each kept
/// only if at least `interval` past the last kept one, until `limit`.
fn thinned(
    all: &[(i64, usize, String)],
    fwd: bool,
    interval: i64,
    limit: usize,
) -> Vec<(i64, usize)> {
    let mut v: Vec<(i64, usize)> = all.iter().map(|(t, s, _)| (*t, *s)).collect();
    v.sort();
    if !fwd {
        v.reverse();
    }
    let mut out: Vec<(i64, usize)> = Vec::new();
    for e in v {
        let far = match out.last() {
            None => true,
            Some(l) if fwd => e.0 >= l.0 + interval,
            Some(l) => e.0 <= l.0 - interval,
        };
        if far && out.len() < limit {
            out.push(e);
        }
    }
    out.sort();
    out
}

/// Runs a log query with `interval` and returns `(ns, stream)` of every entry, sorted.
fn run_thinned(
    f: &crate::Fixture,
    q: &str,
    (start, end): (i64, i64),
    fwd: bool,
    interval: i64,
    limit: usize,
) -> Vec<(i64, usize)> {
    let p = RangeParams {
        start: Timestamp::from_unix_nanos(start),
        end: Timestamp::from_unix_nanos(end),
        step: std::time::Duration::from_secs(1),
        interval: std::time::Duration::from_nanos(interval as u64),
        direction: if fwd {
            Direction::Forward
        } else {
            Direction::Backward
        },
        limit,
        cancel: None,
    };
    let r = f.engine.query_range(&f.tenant, q, &p).unwrap().result;
    let kelp_query::QueryResult::Streams(streams) = r else {
        panic!("{r:?}")
    };
    let mut got: Vec<(i64, usize)> = streams
        .iter()
        .flat_map(|s| {
            let n: usize = s.labels.get("n").unwrap().parse().unwrap();
            s.entries
                .iter()
                .map(move |e| (e.timestamp.as_unix_nanos(), n))
        })
        .collect();
    got.sort();
    got
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    /// `interval` thins over all streams in query direction before the limit counts,
    /// with and without a stage the store cannot run (the windowed path).
    #[test]
    fn interval_thins_like_loki(
        entries in prop::collection::btree_map(0i64..600_000, 0usize..3, 1..300),
        interval_ms in 1i64..20_000,
        limit in 1usize..200,
        fwd in any::<bool>(),
        pipeline in any::<bool>(),
    ) {
        let all: Vec<(i64, usize, String)> = entries
            .iter()
            .map(|(ms, s)| ((T * 1000 + ms) * 1_000_000, *s, format!("line {ms}")))
            .collect();
        let mut streams: Vec<StreamEntries> = (0..3)
            .map(|i| StreamEntries { labels: labels(&[("app", "x"), ("n", ["0", "1", "2"][i])]), entries: vec![] })
            .collect();
        for (t, s, l) in &all {
            streams[*s].entries.push(Entry::new(Timestamp::from_unix_nanos(*t), l.clone()));
        }
        streams.retain(|s| !s.entries.is_empty());
        let f = build(streams);
        let q = if pipeline { r#"{app="x"} | decolorize"# } else { r#"{app="x"}"# };
        let range = (T * 1_000_000_000, (T + 601) * 1_000_000_000);
        let got = run_thinned(&f, q, range, fwd, interval_ms * 1_000_000, limit);
        prop_assert_eq!(got, thinned(&all, fwd, interval_ms * 1_000_000, limit));
    }
}

/// More lines than one read of the thinned path, many at one timestamp: the reads
/// resume at the right place and a timestamp shared by a whole read is stepped over.
#[test]
fn interval_reads_past_one_batch_and_crowded_timestamps() {
    let at = |ms: i64| (T * 1000 + ms) * 1_000_000;
    let mut all: Vec<(i64, usize, String)> = Vec::new();
    // A limit of 300 reads 1,200 lines at a time.
    for i in 0..1_500 {
        all.push((at(5_000), 0, format!("crowded {i}")));
    }
    for i in 0..6_000i64 {
        all.push((at(i), 1, format!("steady {i}")));
    }
    let mut streams: Vec<StreamEntries> = (0..2)
        .map(|i| StreamEntries {
            labels: labels(&[("app", "x"), ("n", ["0", "1"][i])]),
            entries: vec![],
        })
        .collect();
    for (t, s, l) in &all {
        streams[*s]
            .entries
            .push(Entry::new(Timestamp::from_unix_nanos(*t), l.clone()));
    }
    let f = build(streams);
    let range = (at(0), at(40_000));
    for (fwd, interval_ms) in [(true, 1), (false, 1), (true, 1000)] {
        {
            let got = run_thinned(
                &f,
                r#"{app="x"}"#,
                range,
                fwd,
                interval_ms * 1_000_000,
                5000,
            );
            let want = thinned(&all, fwd, interval_ms * 1_000_000, 5000);
            // Among entries sharing a timestamp any one may be the kept one: compare
            // timestamps only.
            let ts = |v: &[(i64, usize)]| v.iter().map(|e| e.0).collect::<Vec<_>>();
            assert_eq!(ts(&got), ts(&want), "fwd={fwd} interval={interval_ms}ms");
        }
    }
}
