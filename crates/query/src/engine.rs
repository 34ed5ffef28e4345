//! The engine: limits, cancellation, and the two entry points the HTTP server calls.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kelp_logql::ast::Expr;
use kelp_model::{GoDuration, TenantId, Timestamp};
use kelp_store::{Direction, Store};

use crate::error::{QueryError, Result};
use crate::eval::{self, Value};
use crate::plan::Steps;
use crate::result::{QueryResponse, QueryResult, QueryStats, Sample, Series};

/// What one query may use.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Most entries a log query may ask for (`limit`); Loki's `max_entries_limit_per_query`.
    pub max_entries_per_query: usize,
    /// Most series a metric query may hold at any stage (Loki's `max_query_series`).
    pub max_series: usize,
    /// Most samples a metric query's generic path may hold in memory.
    pub max_samples: usize,
    /// Wall-clock limit per query.
    pub query_timeout: Duration,
    /// Longest `end - start` (plus the longest range and offset) a query may cover;
    /// `None` for no limit (Loki's `max_query_length`).
    pub max_query_range: Option<Duration>,
    /// Size limit of each compiled regex, in bytes.
    pub max_regex_bytes: usize,
    /// Most evaluation steps of a range query (Loki: 11 000).
    pub max_steps: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entries_per_query: 5000,
            max_series: 500,
            max_samples: 50_000_000,
            query_timeout: Duration::from_secs(300),
            max_query_range: Some(Duration::from_secs(721 * 3600)),
            max_regex_bytes: 1 << 20,
            max_steps: 11_000,
        }
    }
}

/// Cancels a running query from another thread (say, when the client disconnects).
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every query holding a clone of this token.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A hook through which a server slows its queries down (issue #9: queries must not slow
/// ingest): called before every block or head chunk a query reads and at each of the
/// engine's own checks, on the thread doing the work, which it may put to sleep.
#[derive(Clone)]
pub struct Pace(Arc<dyn Fn() + Send + Sync>);

impl Pace {
    /// A hook calling `f`.
    pub fn new(f: impl Fn() + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }
}

impl std::fmt::Debug for Pace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pace")
    }
}

/// A query as text or as an already parsed tree.
#[derive(Debug, Clone, Copy)]
pub enum Query<'a> {
    /// LogQL text, parsed (and validated) by the engine.
    Text(&'a str),
    /// A tree from [`kelp_logql::parse`].
    Expr(&'a Expr),
}

impl<'a> Query<'a> {
    /// The tree to evaluate: the given one, or the text parsed into `slot`.
    fn resolve(self, slot: &'a mut Option<Expr>) -> Result<&'a Expr> {
        match self {
            Query::Text(t) => Ok(slot.insert(kelp_logql::parse(t)?)),
            Query::Expr(e) => Ok(e),
        }
    }
}

impl<'a> From<&'a str> for Query<'a> {
    fn from(s: &'a str) -> Self {
        Query::Text(s)
    }
}

impl<'a> From<&'a Expr> for Query<'a> {
    fn from(e: &'a Expr) -> Self {
        Query::Expr(e)
    }
}

/// Parameters of a range query (`/loki/api/v1/query_range`).
#[derive(Debug, Clone)]
pub struct RangeParams {
    /// Start (inclusive).
    pub start: Timestamp,
    /// End: exclusive for log queries; the last evaluation time is `<= end`.
    pub end: Timestamp,
    /// Distance between evaluation times of a metric query (> 0).
    pub step: Duration,
    /// Log queries: keep an entry only if it is at least this far (in query direction)
    /// from the previously kept one, over all streams (Loki's `interval`); zero keeps
    /// every entry.
    pub interval: Duration,
    /// Order of log lines.
    pub direction: Direction,
    /// Most log lines over all streams.
    pub limit: usize,
    /// Cancels the query when triggered.
    pub cancel: Option<CancelToken>,
}

/// Parameters of an instant query (`/loki/api/v1/query`).
#[derive(Debug, Clone)]
pub struct InstantParams {
    /// The evaluation time.
    pub time: Timestamp,
    /// Order of log lines (unused: log queries are rejected).
    pub direction: Direction,
    /// Most log lines (unused).
    pub limit: usize,
    /// Cancels the query when triggered.
    pub cancel: Option<CancelToken>,
}

/// Runs LogQL queries against a store.
#[derive(Debug, Clone)]
pub struct Engine {
    store: Arc<Store>,
    limits: Limits,
    count_fast_path: bool,
    pace: Option<Pace>,
}

/// What a running query carries: store, tenant, limits, deadline and statistics.
pub(crate) struct Ctx<'a> {
    pub store: &'a Store,
    pub tenant: &'a TenantId,
    pub limits: &'a Limits,
    deadline: Instant,
    cancel: Option<&'a CancelToken>,
    pace: Option<&'a Pace>,
    pub stats: Mutex<QueryStats>,
    /// Whether `count_over_time`/`rate` may use the store's counts.
    pub count_fast_path: bool,
}

impl Ctx<'_> {
    /// Fails when the query is past its deadline or cancelled (after the server's
    /// [`Pace`], if any).
    pub fn check(&self) -> Result<()> {
        if let Some(p) = self.pace {
            (p.0)();
        }
        if self.cancel.is_some_and(CancelToken::is_cancelled) {
            return Err(QueryError::Cancelled);
        }
        if Instant::now() > self.deadline {
            return Err(QueryError::Timeout(format!(
                "{:?}",
                self.limits.query_timeout
            )));
        }
        Ok(())
    }

    /// Whether the query must stop (cancelled or past its deadline); the store asks this
    /// before every block it reads.
    pub fn interrupted(&self) -> bool {
        if let Some(p) = self.pace {
            (p.0)();
        }
        self.cancel.is_some_and(CancelToken::is_cancelled) || Instant::now() > self.deadline
    }

    /// The store's scan, stopped at the next block once the query is cancelled or out of
    /// time (with the reason as the error).
    pub fn scan(
        &self,
        req: &kelp_store::ScanRequest,
        emit: impl FnMut(Vec<kelp_store::ScanEntry>) -> bool,
    ) -> Result<kelp_store::ScanStats> {
        let stop = || self.interrupted();
        self.store
            .scan_until(req, &stop, emit)
            .map_err(|e| self.why(e))
    }

    /// The store's counts, stopped like [`Ctx::scan`].
    pub fn count(&self, req: &kelp_store::CountRequest) -> Result<Vec<kelp_store::StreamCounts>> {
        let stop = || self.interrupted();
        self.store.count_until(req, &stop).map_err(|e| self.why(e))
    }

    /// A store error as the query's: an interrupted read says why it was interrupted.
    fn why(&self, e: kelp_store::StoreError) -> QueryError {
        match e {
            kelp_store::StoreError::Interrupted => {
                self.check().err().unwrap_or(QueryError::Cancelled)
            }
            e => e.into(),
        }
    }

    /// Updates the statistics.
    pub fn stats(&self, f: impl FnOnce(&mut QueryStats)) {
        f(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

impl Engine {
    /// An engine over `store` with `limits`.
    pub fn new(store: Arc<Store>, limits: Limits) -> Self {
        Self {
            store,
            limits,
            count_fast_path: true,
            pace: None,
        }
    }

    /// Calls `pace` before every block a query reads and at every check (see [`Pace`]).
    pub fn with_pace(mut self, pace: Pace) -> Self {
        self.pace = Some(pace);
        self
    }

    /// Turns the `count_over_time`/`rate` fast path ([`Store::count`]) on or off (on by
    /// default; off only to compare it with the generic path).
    pub fn with_count_fast_path(mut self, on: bool) -> Self {
        self.count_fast_path = on;
        self
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    fn ctx<'a>(&'a self, tenant: &'a TenantId, cancel: Option<&'a CancelToken>) -> Ctx<'a> {
        Ctx {
            store: &self.store,
            tenant,
            limits: &self.limits,
            deadline: Instant::now() + self.limits.query_timeout,
            cancel,
            pace: self.pace.as_ref(),
            stats: Mutex::new(QueryStats::default()),
            count_fast_path: self.count_fast_path,
        }
    }

    /// A range query: streams for a log query, a matrix for a metric query.
    pub fn query_range<'q>(
        &self,
        tenant: &TenantId,
        query: impl Into<Query<'q>>,
        p: &RangeParams,
    ) -> Result<QueryResponse> {
        let began = Instant::now();
        let mut parsed = None;
        let expr = query.into().resolve(&mut parsed)?;
        if p.end < p.start {
            return Err(QueryError::Invalid(
                "end timestamp must not be before or equal to start time".into(),
            ));
        }
        self.check_range(expr, p.start, p.end)?;
        let ctx = self.ctx(tenant, p.cancel.as_ref());
        let result = match expr {
            Expr::Log(log) => {
                if p.limit > self.limits.max_entries_per_query {
                    return Err(QueryError::TooManyEntries {
                        asked: p.limit,
                        max: self.limits.max_entries_per_query,
                    });
                }
                QueryResult::Streams(crate::logs::run(
                    &ctx,
                    log,
                    (p.start, p.end),
                    p.direction,
                    p.limit,
                    i64::try_from(p.interval.as_nanos()).unwrap_or(i64::MAX),
                )?)
            }
            Expr::Metric(m) => {
                let step = i64::try_from(p.step.as_nanos()).unwrap_or(i64::MAX);
                if step <= 0 {
                    return Err(QueryError::Invalid(
                        "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
                    ));
                }
                let span = p
                    .end
                    .as_unix_nanos()
                    .saturating_sub(p.start.as_unix_nanos());
                let n = (span / step) as usize + 1;
                if n > self.limits.max_steps {
                    return Err(QueryError::TooManySteps);
                }
                let steps = Steps {
                    start: p.start.as_unix_nanos(),
                    step,
                    n,
                };
                QueryResult::Matrix(to_matrix(eval::eval(&ctx, m, &steps)?, &steps))
            }
        };
        Ok(finish(ctx, result, began))
    }

    /// An instant query at `time`: a vector, or a scalar for a literal query. Log queries
    /// are rejected, as Loki does.
    pub fn query_instant<'q>(
        &self,
        tenant: &TenantId,
        query: impl Into<Query<'q>>,
        p: &InstantParams,
    ) -> Result<QueryResponse> {
        let began = Instant::now();
        let mut parsed = None;
        let expr = query.into().resolve(&mut parsed)?;
        let Expr::Metric(m) = expr else {
            return Err(QueryError::InstantLogQuery);
        };
        self.check_range(expr, p.time, p.time)?;
        let ctx = self.ctx(tenant, p.cancel.as_ref());
        let steps = Steps {
            start: p.time.as_unix_nanos(),
            step: 1,
            n: 1,
        };
        let result = match (m.constant_value(), eval::eval(&ctx, m, &steps)?) {
            (Some(v), _) => QueryResult::Scalar(p.time, v),
            (None, Value::Scalar(v)) => QueryResult::Scalar(p.time, v),
            (None, Value::Vector(series)) => QueryResult::Vector(
                series
                    .into_iter()
                    .filter_map(|s| {
                        Some(Sample {
                            labels: s.labels,
                            timestamp: p.time,
                            value: s.values[0]?,
                        })
                    })
                    .collect(),
            ),
        };
        Ok(finish(ctx, result, began))
    }

    fn check_range(&self, expr: &Expr, start: Timestamp, end: Timestamp) -> Result<()> {
        let Some(max) = self.limits.max_query_range else {
            return Ok(());
        };
        let longest = match expr {
            Expr::Log(_) => 0,
            Expr::Metric(m) => m
                .log_ranges()
                .iter()
                .map(|r| r.interval.as_nanos())
                .max()
                .unwrap_or(0),
        };
        let span = end
            .as_unix_nanos()
            .saturating_sub(start.as_unix_nanos())
            .saturating_add(longest);
        let max_ns = i64::try_from(max.as_nanos()).unwrap_or(i64::MAX);
        if span > max_ns {
            return Err(QueryError::RangeTooLong {
                length: GoDuration::from_nanos(span).to_string(),
                limit: GoDuration::from_nanos(max_ns).to_string(),
            });
        }
        Ok(())
    }
}

fn finish(ctx: Ctx<'_>, result: QueryResult, began: Instant) -> QueryResponse {
    let mut stats = ctx.stats.into_inner().unwrap_or_else(|e| e.into_inner());
    stats.exec_time = began.elapsed();
    stats.entries_returned = match &result {
        QueryResult::Streams(s) => s.iter().map(|s| s.entries.len() as u64).sum(),
        QueryResult::Matrix(m) => m.iter().map(|s| s.points.len() as u64).sum(),
        QueryResult::Vector(v) => v.len() as u64,
        QueryResult::Scalar(..) => 1,
    };
    QueryResponse { result, stats }
}

fn to_matrix(v: Value, steps: &Steps) -> Vec<Series> {
    let series = match v {
        Value::Scalar(x) => vec![eval::SeriesV {
            labels: kelp_model::Labels::empty(),
            values: vec![Some(x); steps.n],
        }],
        Value::Vector(s) => s,
    };
    let mut out: Vec<Series> = series
        .into_iter()
        .map(|s| Series {
            labels: s.labels,
            points: s
                .values
                .iter()
                .enumerate()
                .filter_map(|(k, v)| Some((Timestamp::from_unix_nanos(steps.at(k)), (*v)?)))
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}
