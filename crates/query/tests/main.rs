//! Integration tests of kelp-query: evaluation tables over a real store in a tempdir.

mod examples;
mod logs;
mod metric;
mod prop;

use std::sync::Arc;
use std::time::Duration;

use kelp_model::{Entry, Labels, TenantId, Timestamp};
use kelp_query::{Direction, Engine, InstantParams, Limits, QueryResult, RangeParams};
use kelp_store::{Store, StoreConfig, StreamEntries};

/// The base time, a whole minute.
pub(crate) const T: i64 = 1_699_999_980;

pub(crate) struct Fixture {
    pub(crate) engine: Engine,
    pub(crate) tenant: TenantId,
    _dir: tempfile::TempDir,
}

pub(crate) fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied()).unwrap()
}

pub(crate) fn ts(secs: i64) -> Timestamp {
    Timestamp::from_unix_secs(T + secs)
}

/// Three streams (see the table in each test).
pub(crate) fn fixture() -> Fixture {
    let a = [
        (
            1,
            r#"{"level":"info","status":200,"latency":"100ms","size":"1KB"}"#,
        ),
        (11, r#"{"level":"error","status":500,"latency":"2s"}"#),
        (21, "not json"),
        (
            31,
            r#"{"level":"error","status":503,"latency":"1.5s","app":"inner"}"#,
        ),
    ];
    let b = [
        (5, r#"level=info msg="hello world" duration=5ms"#),
        (15, "level=warn msg=slow duration=250ms"),
        (65, "level=error msg=boom duration=3s"),
    ];
    let c = [
        (2, "GET /index 200 10.0.0.5"),
        (62, "POST /api 500 192.168.1.7"),
    ];
    let mk = |l: &[(&str, &str)], e: &[(i64, &str)]| StreamEntries {
        labels: labels(l),
        entries: e
            .iter()
            .map(|(t, s)| Entry::new(ts(*t), s.to_string()))
            .collect(),
    };
    build(vec![
        mk(&[("app", "api"), ("pod", "a")], &a),
        mk(&[("app", "api"), ("pod", "b")], &b),
        mk(&[("app", "web")], &c),
    ])
}

pub(crate) fn build(streams: Vec<StreamEntries>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = StoreConfig::new(dir.path());
    cfg.background = false;
    let store = Arc::new(Store::open(cfg).unwrap());
    let tenant = TenantId::parse("fake").unwrap();
    store.append(&tenant, &streams).unwrap();
    Fixture {
        engine: Engine::new(store, Limits::default()),
        tenant,
        _dir: dir,
    }
}

impl Fixture {
    pub(crate) fn range(&self, q: &str, start: i64, end: i64, step: u64) -> QueryResult {
        self.try_range(q, start, end, step)
            .unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    pub(crate) fn try_range(
        &self,
        q: &str,
        start: i64,
        end: i64,
        step: u64,
    ) -> kelp_query::Result<QueryResult> {
        let p = RangeParams {
            start: ts(start),
            end: ts(end),
            step: Duration::from_secs(step),
            interval: Duration::ZERO,
            direction: Direction::Backward,
            limit: 100,
            cancel: None,
        };
        Ok(self.engine.query_range(&self.tenant, q, &p)?.result)
    }

    pub(crate) fn logs(
        &self,
        q: &str,
        dir: Direction,
        limit: usize,
    ) -> Vec<(Labels, Vec<(i64, String)>)> {
        let p = RangeParams {
            start: ts(0),
            end: ts(3600),
            step: Duration::from_secs(60),
            interval: Duration::ZERO,
            direction: dir,
            limit,
            cancel: None,
        };
        let r = self
            .engine
            .query_range(&self.tenant, q, &p)
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        let QueryResult::Streams(s) = r.result else {
            panic!("not streams")
        };
        s.into_iter()
            .map(|s| {
                let e = s
                    .entries
                    .into_iter()
                    .map(|e| (e.timestamp.as_unix_nanos() / 1_000_000_000 - T, e.line))
                    .collect();
                (s.labels, e)
            })
            .collect()
    }

    pub(crate) fn instant(&self, q: &str, at: i64) -> kelp_query::Result<QueryResult> {
        let p = InstantParams {
            time: ts(at),
            direction: Direction::Backward,
            limit: 100,
            cancel: None,
        };
        Ok(self.engine.query_instant(&self.tenant, q, &p)?.result)
    }

    /// An instant query's samples as `(labels, value)`.
    pub(crate) fn vector(&self, q: &str, at: i64) -> Vec<(Labels, f64)> {
        match self.instant(q, at).unwrap_or_else(|e| panic!("{q}: {e}")) {
            QueryResult::Vector(v) => v.into_iter().map(|s| (s.labels, s.value)).collect(),
            other => panic!("{q}: not a vector: {other:?}"),
        }
    }

    /// A range query's series as `(labels, [(secs after T, value)])`.
    pub(crate) fn matrix(
        &self,
        q: &str,
        start: i64,
        end: i64,
        step: u64,
    ) -> Vec<(Labels, Vec<(i64, f64)>)> {
        match self.range(q, start, end, step) {
            QueryResult::Matrix(m) => m
                .into_iter()
                .map(|s| {
                    let p = s
                        .points
                        .iter()
                        .map(|(t, v)| (t.as_unix_nanos() / 1_000_000_000 - T, *v))
                        .collect();
                    (s.labels, p)
                })
                .collect(),
            other => panic!("{q}: not a matrix: {other:?}"),
        }
    }
}

/// Issue #9: the server's pace hook runs before every block or head chunk a query reads
/// (and at the engine's own checks), for log and metric queries alike, and the answers
/// do not change.
#[test]
fn the_pace_hook_is_called_as_queries_read() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let f = fixture();
    let plain = f.range(r#"sum(count_over_time({app="api"}[1m]))"#, 60, 120, 60);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let paced = Fixture {
        engine: f.engine.clone().with_pace(kelp_query::Pace::new(move || {
            counted.fetch_add(1, Ordering::Relaxed);
        })),
        tenant: f.tenant.clone(),
        _dir: tempfile::tempdir().unwrap(),
    };
    let logs = paced.logs(r#"{app="api"} |= "error""#, Direction::Forward, 100);
    assert_eq!(
        logs,
        f.logs(r#"{app="api"} |= "error""#, Direction::Forward, 100)
    );
    let after_logs = calls.load(Ordering::Relaxed);
    // Two streams, each at least one head chunk.
    assert!(after_logs >= 2, "{after_logs}");
    let metric = paced.range(r#"sum(count_over_time({app="api"}[1m]))"#, 60, 120, 60);
    assert_eq!(metric, plain);
    assert!(calls.load(Ordering::Relaxed) > after_logs);
}
