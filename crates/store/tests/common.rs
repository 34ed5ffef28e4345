//! Helpers shared by the test modules.

use std::path::Path;
use std::time::Duration;

use kelp_model::{Entry, Labels, TenantId, Timestamp};
use kelp_store::{
    Direction, FsyncPolicy, LabelMatcher, ScanRequest, Store, StoreConfig, StreamEntries,
};

pub const T0: i64 = 1_700_000_000_000_000_000;

/// A config for tests: no background thread, no fsync (tests that need fsync set it).
pub fn config(dir: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.fsync = FsyncPolicy::Never;
    c.background = false;
    c.flush_age = Duration::from_secs(3600);
    c
}

pub fn tenant() -> TenantId {
    TenantId::parse("fake").unwrap()
}

pub fn labels(pod: &str) -> Labels {
    Labels::from_pairs([("namespace", "shop"), ("pod", pod)]).unwrap()
}

/// A stream batch of `(offset ns from T0, line)`.
pub fn batch(pod: &str, entries: &[(i64, &str)]) -> StreamEntries {
    StreamEntries {
        labels: labels(pod),
        entries: entries
            .iter()
            .map(|(t, l)| Entry::new(Timestamp::from_unix_nanos(T0 + t), l.to_string()))
            .collect(),
    }
}

/// Everything of `tenant()` in `[T0 - 1 day, T0 + 2 days)`, forward: `(pod, offset, line)`.
pub fn dump(store: &Store) -> Vec<(String, i64, String)> {
    let day = 86_400_000_000_000;
    let req = ScanRequest {
        tenant: tenant(),
        matchers: vec![LabelMatcher::eq("namespace", "shop")],
        start: Timestamp::from_unix_nanos(T0 - day),
        end: Timestamp::from_unix_nanos(T0 + 2 * day),
        direction: Direction::Forward,
        limit: None,
        filters: vec![],
    };
    let mut v: Vec<_> = store
        .select(&req)
        .unwrap()
        .into_iter()
        .map(|e| {
            (
                e.labels.get("pod").unwrap().to_owned(),
                e.timestamp.as_unix_nanos() - T0,
                String::from_utf8(e.line.to_vec()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}
