//! Replicas' internal read route and exact metric queries across replicas (issue #11).
//!
//! `GET /kelp/internal/v1/select?query=<selector>&start=<ns>&end=<ns>&limit=<n>` answers
//! the raw entries this replica holds for a stream selector in `[start, end)` (no LogQL
//! pipeline), as Kelp's native push body (protobuf + zstd): a peer's log selection. More
//! than `limit` entries is a 400, so a merge never holds more than it allows.
//!
//! A metric query on a replica with peers is not merged from per-replica numbers (a
//! stream may be split across replicas during a failover, and a retried push may sit on
//! two, so sums, averages, quantiles or `topk` of partial results would be wrong). Each of
//! its range selections (selector and window, widened by range and offset) is read from
//! this replica and every peer, entries are merged per stream with duplicates (same
//! timestamp and line) dropped, written to a scratch store under
//! `<data_dir>/scratch/`, and the query is evaluated there by the same engine: the
//! numbers are exactly those of one store holding everything.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use kelp_logql::ast::{Expr, LogExpr};
use kelp_model::{Entry, Labels, StreamEntries, TenantId, Timestamp};
use kelp_query::Engine;
use kelp_store::{Direction, LabelMatcher, ScanRequest, Store};

use crate::auth::Access;
use crate::error::ApiError;
use crate::params::{selector, Params};
use crate::peers::Answers;
use crate::routes::blocking;
use crate::state::AppState;

/// The internal selection route.
pub const SELECT_PATH: &str = "/kelp/internal/v1/select";

/// The internal routes.
pub fn routes() -> Router<AppState> {
    Router::new().route(SELECT_PATH, get(select))
}

fn nanos(p: &Params, name: &str) -> Result<Timestamp, ApiError> {
    p.get(name)
        .and_then(|v| v.parse::<i64>().ok())
        .map(Timestamp::from_unix_nanos)
        .ok_or_else(|| ApiError::bad(format!("{name}: nanoseconds are required")))
}

async fn select(
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let p = Params::new(q.as_deref(), &headers, &[]);
    let matchers = access.scope_matchers(selector(Some(p.query()?))?);
    let (start, end) = (nanos(&p, "start")?, nanos(&p, "end")?);
    let cap = st.config.replicas.max_merge_entries;
    let limit = match p.get("limit") {
        None => cap,
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| ApiError::bad(format!("invalid limit {v:?}")))?
            .min(cap),
    };
    let store = st.store()?.clone();
    let tenant = access.tenant.clone();
    let streams =
        blocking(move || select_local(&store, &tenant, matchers, (start, end), limit)).await?;
    let body = kelp_wire::native::encode(&streams, 1);
    Ok((
        [(header::CONTENT_TYPE, kelp_wire::native::CONTENT_TYPE)],
        body,
    )
        .into_response())
}

/// This replica's entries for `matchers` in `[start, end)`, by stream; more than `limit` is
/// an error.
fn select_local(
    store: &Store,
    tenant: &TenantId,
    matchers: Vec<LabelMatcher>,
    (start, end): (Timestamp, Timestamp),
    limit: usize,
) -> Result<Vec<StreamEntries>, ApiError> {
    let req = ScanRequest {
        tenant: tenant.clone(),
        matchers,
        start,
        end,
        direction: Direction::Forward,
        limit: Some(limit.saturating_add(1)),
        filters: Vec::new(),
    };
    let mut by: BTreeMap<Arc<Labels>, Vec<Entry>> = BTreeMap::new();
    let mut n = 0usize;
    store
        .scan(&req, |batch| {
            for e in batch {
                n += 1;
                by.entry(e.labels).or_default().push(Entry {
                    timestamp: e.timestamp,
                    line: e.line,
                    metadata: e.metadata,
                });
            }
            n <= limit
        })
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    if n > limit {
        return Err(too_many(limit));
    }
    Ok(by
        .into_iter()
        .map(|(labels, entries)| StreamEntries {
            labels: (*labels).clone(),
            entries,
        })
        .collect())
}

fn too_many(limit: usize) -> ApiError {
    ApiError::bad(format!(
        "the query selects more than {limit} entries across replicas \
         (replicas.max_merge_entries); narrow the selector or the time range"
    ))
}

/// The raw selections a metric query reads: each range's selector (printed) and the
/// window `[from, to)` it needs for evaluation times in `[start, end]`.
pub fn selections(
    query: &str,
    start: Timestamp,
    end: Timestamp,
) -> Option<Vec<(String, Timestamp, Timestamp)>> {
    let Ok(Expr::Metric(m)) = kelp_logql::parse(query) else {
        return None;
    };
    let mut out: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for r in m.log_ranges() {
        let sel = LogExpr {
            selector: r.log.selector.clone(),
            pipeline: Vec::new(),
        }
        .to_string();
        let (range, offset) = (r.interval.as_nanos(), r.offset.as_nanos());
        let from = start
            .as_unix_nanos()
            .saturating_sub(range)
            .saturating_sub(offset);
        let to = end.as_unix_nanos().saturating_sub(offset).saturating_add(1);
        let w = out.entry(sel).or_insert((from, to));
        *w = (w.0.min(from), w.1.max(to));
    }
    Some(
        out.into_iter()
            .map(|(s, (f, t))| {
                (
                    s,
                    Timestamp::from_unix_nanos(f),
                    Timestamp::from_unix_nanos(t),
                )
            })
            .collect(),
    )
}

/// Evaluates a metric query over this replica's and its peers' entries merged (see the
/// module's documentation); returns the engine's answer and the peers' outcome.
pub async fn metric_across(
    st: &AppState,
    access: &Access,
    selections: Vec<(String, Timestamp, Timestamp)>,
    eval: impl FnOnce(&Engine) -> Result<kelp_query::QueryResponse, kelp_query::QueryError>
        + Send
        + 'static,
) -> Result<(kelp_query::QueryResponse, Answers), ApiError> {
    let Some(peers) = st.peers.clone() else {
        return Err(ApiError::Internal("no peers".into()));
    };
    let cap = st.config.replicas.max_merge_entries;
    let mut answers = Answers::default();
    let mut merged: BTreeMap<Labels, Vec<Entry>> = BTreeMap::new();
    let mut total = 0usize;
    for (sel, from, to) in selections {
        let matchers = selector(Some(&sel))?;
        let (store, tenant) = (st.store()?.clone(), access.tenant.clone());
        let (m2, t2) = (matchers.clone(), tenant.clone());
        let local = blocking(move || select_local(&store, &tenant, matchers, (from, to), cap));
        let url = {
            let qs = form_urlencoded::Serializer::new(String::new())
                .append_pair("query", &sel)
                .append_pair("start", &from.as_unix_nanos().to_string())
                .append_pair("end", &to.as_unix_nanos().to_string())
                .append_pair("limit", &cap.to_string())
                .finish();
            format!("{SELECT_PATH}?{qs}")
        };
        let (local, mut peer) = tokio::join!(local, peers.get(access, url));
        let mut all = local?;
        for (url, body) in std::mem::take(&mut peer.bodies) {
            match kelp_wire::native::decode(&body, st.config.max_decompressed_bytes) {
                Ok(s) => all.extend(s),
                Err(e) => peer
                    .missing
                    .push((url, format!("unreadable selection: {e}"))),
            }
        }
        // Replicas that did not answer: their selection from the bucket.
        let read = move |v: &Arc<Store>| select_local(v, &t2, m2.clone(), (from, to), cap);
        for s in crate::fallback::read(st, &mut peer, read).await? {
            all.extend(s);
        }
        for name in std::mem::take(&mut peer.from_bucket) {
            if !answers.from_bucket.contains(&name) {
                answers.from_bucket.push(name);
            }
        }
        for (name, why) in std::mem::take(&mut peer.bucket_failed) {
            if !answers.bucket_failed.iter().any(|(n, _)| *n == name) {
                answers.bucket_failed.push((name, why));
            }
        }
        for (url, why) in peer.missing {
            if !answers.missing.iter().any(|(u, _)| *u == url) {
                answers.missing.push((url, why));
            }
        }
        for s in all {
            total += s.entries.len();
            merged.entry(s.labels).or_default().extend(s.entries);
        }
        if total > cap.saturating_mul(2) {
            return Err(too_many(cap));
        }
    }
    let streams: Vec<StreamEntries> = merged
        .into_iter()
        .map(|(labels, mut entries)| {
            entries.sort_by(|a, b| (a.timestamp, &a.line).cmp(&(b.timestamp, &b.line)));
            entries.dedup_by(|a, b| a.timestamp == b.timestamp && a.line == b.line);
            StreamEntries { labels, entries }
        })
        .collect();
    let (config, tenant) = (st.config.clone(), access.tenant.clone());
    let resp = blocking(move || {
        let scratch = Scratch::new(&config.data_dir)?;
        // A plain local store: never the replica's bucket (a store opened on a bucket
        // loads and sweeps that replica's objects), only its limits.
        let mut c = kelp_store::StoreConfig::new(&scratch.0);
        c.limits = config
            .store_config()
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .limits;
        debug_assert!(c.bucket.is_none());
        c.fsync = kelp_store::FsyncPolicy::Never;
        c.background = false;
        // Everything is appended at once, sorted per stream: nothing is out of order.
        c.unordered_window = std::time::Duration::from_secs(100 * 365 * 86_400);
        c.limits.max_streams_per_tenant = usize::MAX;
        let store = Arc::new(Store::open(c).map_err(|e| ApiError::Internal(e.to_string()))?);
        store
            .append(&tenant, &streams)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let engine = Engine::new(store, config.query_limits());
        Ok(eval(&engine)?)
    })
    .await?;
    Ok((resp, answers))
}

/// A scratch store's directory, deleted when dropped.
struct Scratch(PathBuf);

static SCRATCH_SEQ: AtomicU64 = AtomicU64::new(0);

impl Scratch {
    fn new(data_dir: &std::path::Path) -> Result<Self, ApiError> {
        let n = SCRATCH_SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = data_dir
            .join("scratch")
            .join(format!("q-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| ApiError::Internal(format!("{}: {e}", dir.display())))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections_widen_windows_by_range_and_offset() {
        let t = |s: i64| Timestamp::from_unix_secs(s);
        let s = selections(
            r#"sum(count_over_time({app="a"} |= "x" [5m])) / sum(rate({app="a"}[1m] offset 1h)) + count_over_time({app="b"}[10s])"#,
            t(10_000),
            t(20_000),
        )
        .unwrap();
        assert_eq!(
            s,
            vec![
                (
                    r#"{app="a"}"#.to_owned(),
                    t(10_000 - 3600 - 60),
                    Timestamp::from_unix_nanos(t(20_000).as_unix_nanos() + 1)
                ),
                (
                    r#"{app="b"}"#.to_owned(),
                    t(10_000 - 10),
                    Timestamp::from_unix_nanos(t(20_000).as_unix_nanos() + 1)
                ),
            ]
        );
        assert!(selections(r#"{app="a"}"#, t(0), t(1)).is_none());
        assert!(selections("not logql", t(0), t(1)).is_none());
    }
}
