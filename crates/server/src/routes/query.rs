//! `GET|POST /loki/api/v1/query` and `/query_range` (spec §3): parameters, evaluation by
//! kelp-query on the blocking pool, and the answer in Loki's JSON (with `stats`, and
//! `categorize-labels` when asked for).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Extension;
use axum::Router;
use bytes::Bytes;
use kelp_model::{LabelPair, Labels};
use kelp_query::{CancelToken, Direction, Engine, InstantParams, QueryStats, RangeParams};
use kelp_wire::response::{
    InstantSample, LogStream, LogValue, Point, QueryResponse, QueryResult, Series, Stats,
    CATEGORIZE_LABELS,
};

use crate::auth::Access;
use crate::error::ApiError;
use crate::fallback;
use crate::merge;
use crate::metrics::Endpoint;
use crate::params::Params;
use crate::peers::Answers;
use crate::routes::{blocking, json, read_body};
use crate::state::AppState;

/// Largest form body of a query request.
const MAX_FORM_BYTES: usize = 1 << 20;

/// The query routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/loki/api/v1/query_range", get(range).post(range))
        .route("/loki/api/v1/query", get(instant).post(instant))
}

/// Reads the merged parameters of a GET or form POST.
pub async fn params(
    query: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Params, ApiError> {
    let body = read_body(body, MAX_FORM_BYTES).await?;
    Ok(Params::new(query.as_deref(), headers, &body))
}

/// Whether the client sent `X-Loki-Response-Encoding-Flags: categorize-labels`.
pub fn categorize(headers: &HeaderMap) -> bool {
    headers
        .get_all("x-loki-response-encoding-flags")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|f| f.trim().eq_ignore_ascii_case(CATEGORIZE_LABELS))
}

/// Cancels the running query when the request goes away (the handler's future is dropped).
struct CancelOnDrop(CancelToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

async fn range(
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    measured(
        &st,
        Endpoint::Range,
        run_range(&st, access, q, &headers, body),
    )
    .await
}

async fn run_range(
    st: &AppState,
    access: Access,
    q: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let tenant = access.tenant.clone();
    // A request is outstanding from its arrival (Loki's queue counts it), body included.
    let _slot = st.queries.acquire()?;
    let p = params(q, headers, body).await?;
    let query = access.scope_query(p.query()?)?;
    let (start, end) = p.bounds(Duration::from_secs(3600))?;
    let direction = p.direction()?;
    let cancel = CancelToken::new();
    let rp = RangeParams {
        start,
        end,
        step: p.step(start, end)?,
        interval: p.interval()?,
        direction,
        limit: p.limit()?,
        cancel: Some(cancel.clone()),
    };
    let limit = rp.limit;
    let fan = fan_out(
        st,
        headers,
        &access,
        "/loki/api/v1/query_range",
        &p,
        Some(&query),
    );
    let metric = metric_fan_out(st, headers, &query, start, end);
    let eval = move |engine: &Engine| engine.query_range(&tenant, query.as_str(), &rp);
    if let Some(sel) = metric {
        return across(st, headers, &access, direction, cancel, sel, eval).await;
    }
    evaluate(st, headers, (direction, limit), fan, cancel, eval).await
}

async fn instant(
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    measured(
        &st,
        Endpoint::Instant,
        run_instant(&st, access, q, &headers, body),
    )
    .await
}

async fn run_instant(
    st: &AppState,
    access: Access,
    q: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let tenant = access.tenant.clone();
    // A request is outstanding from its arrival (Loki's queue counts it), body included.
    let _slot = st.queries.acquire()?;
    let p = params(q, headers, body).await?;
    let query = access.scope_query(p.query()?)?;
    let direction = p.direction()?;
    let cancel = CancelToken::new();
    let ip = InstantParams {
        time: p.time("time", kelp_model::Timestamp::now())?,
        direction,
        limit: p.limit()?,
        cancel: Some(cancel.clone()),
    };
    let limit = ip.limit;
    let time = ip.time;
    let fan = fan_out(st, headers, &access, "/loki/api/v1/query", &p, Some(&query));
    let metric = metric_fan_out(st, headers, &query, time, time);
    let eval = move |engine: &Engine| engine.query_instant(&tenant, query.as_str(), &ip);
    if let Some(sel) = metric {
        return across(st, headers, &access, direction, cancel, sel, eval).await;
    }
    evaluate(st, headers, (direction, limit), fan, cancel, eval).await
}

/// Runs a query handler and records its outcome and latency for `endpoint`.
async fn measured(
    st: &AppState,
    endpoint: Endpoint,
    work: impl std::future::Future<Output = Result<Response, ApiError>>,
) -> Result<Response, ApiError> {
    let began = Instant::now();
    let out = work.await;
    st.metrics.query(endpoint, out.is_ok(), began.elapsed());
    out
}

/// The peers' answers to come, when this replica has peers and the request is not a
/// peer's own (`peers.rs`).
pub fn fan_out(
    st: &AppState,
    headers: &HeaderMap,
    access: &Access,
    path: &str,
    p: &Params,
    scoped_query: Option<&str>,
) -> Option<PeerAnswers> {
    let peers = st.peers.clone()?;
    if peers.is_alone() || crate::peers::is_local(headers) {
        return None;
    }
    let (access, url) = (
        access.clone(),
        format!(
            "{path}?{}",
            p.encode_with("query", scoped_query.or(p.get("query")))
        ),
    );
    Some(Box::pin(async move { peers.get(&access, url).await }))
}

/// The raw selections of a metric query to merge across replicas, when this replica has
/// peers and the request is not a peer's (`routes/internal.rs`).
fn metric_fan_out(
    st: &AppState,
    headers: &HeaderMap,
    query: &str,
    start: kelp_model::Timestamp,
    end: kelp_model::Timestamp,
) -> Option<Vec<(String, kelp_model::Timestamp, kelp_model::Timestamp)>> {
    if st.peers.as_ref()?.is_alone() || crate::peers::is_local(headers) {
        return None;
    }
    crate::routes::internal::selections(query, start, end)
}

/// A metric query over every replica's entries (`routes/internal.rs`), answered as
/// [`evaluate`] answers.
async fn across(
    st: &AppState,
    headers: &HeaderMap,
    access: &Access,
    direction: Direction,
    cancel: CancelToken,
    selections: Vec<(String, kelp_model::Timestamp, kelp_model::Timestamp)>,
    eval: impl FnOnce(&Engine) -> Result<kelp_query::QueryResponse, kelp_query::QueryError>
        + Send
        + 'static,
) -> Result<Response, ApiError> {
    let _guard = CancelOnDrop(cancel);
    let timeout = st.engine()?.limits().query_timeout;
    let (resp, answers) = within(
        timeout,
        crate::routes::internal::metric_across(st, access, selections, eval),
    )
    .await?;
    Ok(respond(resp, Some(answers), headers, direction))
}

/// The answer in Loki's JSON, with the missing peers in `warnings` and a header.
fn respond(
    resp: kelp_query::QueryResponse,
    answers: Option<Answers>,
    headers: &HeaderMap,
    direction: Direction,
) -> Response {
    let mut wire = to_wire(resp, categorize(headers), direction);
    let mut extra = HeaderMap::new();
    if let Some(a) = answers {
        wire.warnings = a.warnings();
        a.mark(&mut extra);
    }
    let mut out = json(wire.to_json());
    out.headers_mut().extend(extra);
    out
}

/// What [`fan_out`] gives.
pub type PeerAnswers = std::pin::Pin<Box<dyn std::future::Future<Output = Answers> + Send>>;

/// Evaluates on the blocking pool under the query timeout, cancelling the engine when the
/// request goes away, merges the peers' answers when there are any, and answers in
/// Loki's JSON.
async fn evaluate(
    st: &AppState,
    headers: &HeaderMap,
    (direction, limit): (Direction, usize),
    fan: Option<PeerAnswers>,
    cancel: CancelToken,
    eval: impl Fn(&Engine) -> Result<kelp_query::QueryResponse, kelp_query::QueryError>
        + Send
        + Sync
        + 'static,
) -> Result<Response, ApiError> {
    let _guard = CancelOnDrop(cancel);
    let eval = std::sync::Arc::new(eval);
    let engine = st.engine()?.clone();
    let timeout = engine.limits().query_timeout;
    let st2 = st.clone();
    let local_eval = eval.clone();
    let local = within(
        timeout,
        blocking(move || {
            let eval = local_eval;
            let out = {
                let _running = Running::start(&st2.metrics);
                eval(&engine)
            };
            if let Err(kelp_query::QueryError::Cancelled | kelp_query::QueryError::Timeout(_)) =
                &out
            {
                st2.metrics.evaluation_interrupted();
            }
            Ok(out?)
        }),
    );
    let (resp, answers) = match fan {
        None => (local.await?, None),
        Some(fan) => {
            let (resp, answers) = tokio::join!(local, fan);
            (resp?, Some(answers))
        }
    };
    let mut resp = resp;
    let mut answers = answers;
    if let Some(answers) = &mut answers {
        if let kelp_query::QueryResult::Streams(local) = &mut resp.result {
            let mut peer = Vec::new();
            for (url, body) in std::mem::take(&mut answers.bodies) {
                match merge::peer_streams(&url, &body) {
                    Ok(s) => peer.extend(s),
                    Err(e) => answers.missing.push((url, e.to_string())),
                }
            }
            // Replicas that did not answer: their flushed data, from the bucket.
            let limits = st.engine()?.limits().clone();
            let read = move |view: &std::sync::Arc<kelp_store::Store>| {
                let engine = Engine::new(view.clone(), limits.clone());
                match eval(&engine)?.result {
                    kelp_query::QueryResult::Streams(s) => Ok(s),
                    _ => Ok(Vec::new()),
                }
            };
            let from_bucket = within(timeout, fallback::read(st, answers, read)).await?;
            peer.extend(from_bucket.into_iter().flatten());
            *local = merge::streams(std::mem::take(local), peer, direction, limit);
        }
    }
    Ok(respond(resp, answers, headers, direction))
}

/// Counts an evaluation as running until dropped (also when the engine panics).
struct Running<'a>(&'a crate::metrics::Metrics);

impl<'a> Running<'a> {
    fn start(m: &'a crate::metrics::Metrics) -> Self {
        m.evaluations_running(1);
        Self(m)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.evaluations_running(-1);
    }
}

/// Answers 504 once `timeout` has passed even if the engine has not reached one of its
/// own deadline checks yet (a long store read); the request's `CancelOnDrop` then stops
/// the engine at its next check.
async fn within<T>(
    timeout: Duration,
    work: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| {
            Err(ApiError::Query(kelp_query::QueryError::Timeout(format!(
                "{timeout:?}"
            ))))
        })
}

/// The engine's answer in kelp-wire's response types.
pub fn to_wire(
    resp: kelp_query::QueryResponse,
    categorize: bool,
    direction: Direction,
) -> QueryResponse {
    use kelp_query::QueryResult as Q;
    let ms = |t: kelp_model::Timestamp| t.as_unix_nanos().div_euclid(1_000_000);
    let result = match resp.result {
        Q::Streams(streams) => QueryResult::Streams(if categorize {
            categorized(streams, direction)
        } else {
            streams
                .into_iter()
                .map(|s| LogStream {
                    labels: s.labels,
                    values: s
                        .entries
                        .into_iter()
                        .map(|e| LogValue {
                            timestamp: e.timestamp,
                            line: Bytes::from(e.line),
                            structured_metadata: Vec::new(),
                            parsed: Vec::new(),
                        })
                        .collect(),
                })
                .collect()
        }),
        Q::Matrix(series) => QueryResult::Matrix(
            series
                .into_iter()
                .map(|s| Series {
                    metric: s.labels,
                    values: s
                        .points
                        .into_iter()
                        .map(|(t, v)| Point::new(ms(t), v))
                        .collect(),
                })
                .collect(),
        ),
        Q::Vector(samples) => QueryResult::Vector(
            samples
                .into_iter()
                .map(|s| InstantSample {
                    metric: s.labels,
                    value: Point::new(ms(s.timestamp), s.value),
                })
                .collect(),
        ),
        Q::Scalar(t, v) => QueryResult::Scalar(Point::new(ms(t), v)),
    };
    QueryResponse {
        warnings: Vec::new(),
        categorize_labels: categorize,
        result,
        stats: Some(stats(&resp.stats)),
    }
}

/// `categorize-labels`: streams keyed by their indexed labels only; metadata and parsed
/// labels travel with each entry.
fn categorized(streams: Vec<kelp_query::StreamResult>, direction: Direction) -> Vec<LogStream> {
    let mut by_stream: BTreeMap<String, LogStream> = BTreeMap::new();
    for s in streams {
        for e in s.entries {
            let extra =
                |p: &&LabelPair| e.metadata.iter().chain(&e.parsed).any(|m| m.name == p.name);
            let pairs: Vec<_> = s.labels.iter().filter(|p| !extra(p)).collect();
            // A subset of a valid label set is valid.
            let labels =
                Labels::from_pairs(pairs.iter().map(|p| (p.name.as_str(), p.value.as_str())))
                    .unwrap_or_default();
            let entry = by_stream
                .entry(labels.to_string())
                .or_insert_with(|| LogStream {
                    labels,
                    values: Vec::new(),
                });
            entry.values.push(LogValue {
                timestamp: e.timestamp,
                line: Bytes::from(e.line),
                structured_metadata: e.metadata,
                parsed: e.parsed,
            });
        }
    }
    let mut out: Vec<LogStream> = by_stream.into_values().collect();
    for s in &mut out {
        match direction {
            Direction::Forward => s.values.sort_by_key(|v| v.timestamp),
            Direction::Backward => s.values.sort_by_key(|v| std::cmp::Reverse(v.timestamp)),
        }
    }
    out
}

/// Loki's `stats` with `summary` filled in.
fn stats(s: &QueryStats) -> Stats {
    let secs = s.exec_time.as_secs_f64();
    let per_sec = |n: u64| {
        if secs > 0.0 {
            (n as f64 / secs) as i64
        } else {
            0
        }
    };
    let mut out = Stats::default();
    let m = &mut out.summary;
    m.exec_time = secs;
    m.total_bytes_processed = s.bytes_processed as i64;
    m.total_lines_processed = s.lines_processed as i64;
    m.bytes_processed_per_second = per_sec(s.bytes_processed);
    m.lines_processed_per_second = per_sec(s.lines_processed);
    m.total_entries_returned = s.entries_returned as i64;
    m.total_post_filter_lines = s.lines_processed as i64;
    m.splits = 1;
    m.shards = 1;
    out.index.total_chunks = s.chunks_total as i64;
    out.index.post_filter_chunks = s.chunks_read as i64;
    out
}
