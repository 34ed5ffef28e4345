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
