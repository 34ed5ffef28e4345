//! Metadata endpoints (spec §4): `labels`, `label/<name>/values`, `series`, `index/stats`,
//! `index/volume` and `index/volume_range`, GET and POST.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum::Extension;
use axum::Router;
use kelp_model::{Labels, TenantId, Timestamp};
use kelp_store::{LabelMatcher, Store};
use kelp_wire::response::{
    self, IndexStats, InstantSample, Point, QueryResponse, QueryResult, Series,
};

use crate::auth::Access;
use crate::error::ApiError;
use crate::fallback;
use crate::merge;
use crate::metrics::Endpoint;
use crate::params::{selector, Params};
use crate::peers::Answers;
use crate::routes::json;
use crate::routes::query::{fan_out, params, PeerAnswers};
use crate::state::AppState;

/// The default window of `labels`, `label values` and `series` (Loki's code: 1h).
const DEFAULT_SINCE: Duration = Duration::from_secs(3600);

/// The metadata routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/loki/api/v1/labels", get(labels).post(labels))
        .route("/loki/api/v1/label/{name}/values", get(values).post(values))
        .route("/loki/api/v1/series", get(series).post(series))
        .route("/loki/api/v1/index/stats", get(stats).post(stats))
        .route("/loki/api/v1/index/volume", get(volume).post(volume))
        .route(
            "/loki/api/v1/index/volume_range",
            get(volume_range).post(volume_range),
        )
}

/// What every handler here starts with: the tenant, the parameters (query string and
/// form body) and the time range (`start`/`end`/`since`, the last hour by default).
async fn request(
    st: &AppState,
    q: Option<String>,
    headers: &HeaderMap,
    body: Body,
) -> Result<(TenantId, Params, Timestamp, Timestamp), ApiError> {
    let tenant = st.tenant(headers)?;
    let p = params(q, headers, body).await?;
    let (start, end) = p.bounds(DEFAULT_SINCE)?;
    Ok((tenant, p, start, end))
}

/// Runs a metadata handler body with metrics.
async fn timed<F>(st: &AppState, f: F) -> Result<Response, ApiError>
where
    F: std::future::Future<Output = Result<Response, ApiError>>,
{
    let began = Instant::now();
    let out = f.await;
    st.metrics
        .query(Endpoint::Metadata, out.is_ok(), began.elapsed());
    out
}

/// Runs `local` and asks the peers (when there are any) at the same time.
async fn with_peers<T>(
    local: impl std::future::Future<Output = Result<T, ApiError>>,
    fan: Option<PeerAnswers>,
) -> Result<(T, Option<Answers>), ApiError> {
    match fan {
        None => Ok((local.await?, None)),
        Some(fan) => {
            let (local, answers) = tokio::join!(local, fan);
            Ok((local?, Some(answers)))
        }
    }
}

/// `local` merged with the peers' answers by `merge`, as Loki's `{"status","data"}`, with
/// the missing peers in `warnings` and [`crate::peers::MISSING_HEADER`].
fn merged<T: serde::Serialize>(
    answers: Option<Answers>,
    local: T,
    merge: impl FnOnce(T, &[(String, Vec<u8>)]) -> Result<T, ApiError>,
) -> Result<Response, ApiError> {
    let Some(answers) = answers else {
        return Ok(json(response::success(&local)));
    };
    let data = merge(local, &answers.bodies)?;
    let mut body = serde_json::json!({"status": "success", "data": data});
    if answers.incomplete() {
        body["warnings"] = answers.warnings().into();
    }
    let mut text = serde_json::to_vec(&body).map_err(|e| ApiError::Internal(e.to_string()))?;
    text.push(b'\n');
    let mut out = json(text);
    answers.mark(out.headers_mut());
    Ok(out)
}

async fn labels(
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    timed(&st, async {
        let (tenant, p, start, end) = request(&st, q, &headers, body).await?;
        let m = access.scope_matchers(selector(p.get("query"), st.config.limits.max_regex_bytes)?);
        let store = st.store()?.clone();
        let fan = fan_out(&st, &headers, &access, "/loki/api/v1/labels", &p, None);
        let (t, m2) = (tenant.clone(), m.clone());
        let local = st
            .query_pool
            .read(move || Ok(store.label_names(&tenant, &m, start, end)));
        let (mut names, mut answers) = with_peers(local, fan).await?;
        if let Some(a) = &mut answers {
            let read = move |v: &Arc<Store>| Ok(v.label_names(&t, &m2, start, end));
            names.extend(fallback::read(&st, a, read).await?.into_iter().flatten());
        }
        merged(answers, names, merge::strings)
    })
    .await
}

async fn values(
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    timed(&st, async {
        let (tenant, p, start, end) = request(&st, q, &headers, body).await?;
        let m = access.scope_matchers(selector(p.get("query"), st.config.limits.max_regex_bytes)?);
        let store = st.store()?.clone();
        let path = format!("/loki/api/v1/label/{name}/values");
        let fan = fan_out(&st, &headers, &access, &path, &p, None);
        let (t, n, m2) = (tenant.clone(), name.clone(), m.clone());
        let local = st
            .query_pool
            .read(move || Ok(store.label_values(&tenant, &name, &m, start, end)));
        let (mut values, mut answers) = with_peers(local, fan).await?;
        if let Some(a) = &mut answers {
            let read = move |v: &Arc<Store>| Ok(v.label_values(&t, &n, &m2, start, end));
            values.extend(fallback::read(&st, a, read).await?.into_iter().flatten());
        }
        merged(answers, values, merge::strings)
    })
    .await
}

async fn series(
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    timed(&st, async {
        let (tenant, p, start, end) = request(&st, q, &headers, body).await?;
        let mut selectors: Vec<&str> = p.all("match[]").chain(p.all("match")).collect();
        selectors.sort_unstable();
        selectors.dedup();
        let mut matchers: Vec<Vec<LabelMatcher>> = selectors
            .iter()
            .map(
                |s| Ok(access.scope_matchers(selector(Some(s), st.config.limits.max_regex_bytes)?)),
            )
            .collect::<Result<_, ApiError>>()?;
        if matchers.is_empty() && access.namespaces.is_some() {
            matchers.push(access.scope_matchers(Vec::new()));
        }
        let store = st.store()?.clone();
        let fan = fan_out(&st, &headers, &access, "/loki/api/v1/series", &p, None);
        let find = move |store: &Store| {
            let mut all: Vec<Labels> = if matchers.is_empty() {
                store.series(&tenant, &[], start, end)
            } else {
                matchers
                    .iter()
                    .flat_map(|m| store.series(&tenant, m, start, end))
                    .collect()
            };
            all.sort();
            all.dedup();
            Ok(all)
        };
        let find = Arc::new(find);
        let local = {
            let find = find.clone();
            st.query_pool.read(move || find(&store))
        };
        let (mut found, answers) = with_peers(local, fan).await?;
        let Some(mut answers) = answers else {
            return Ok(json(response::series_response(&found)));
        };
        let read = move |v: &Arc<Store>| find(v);
        found.extend(
            fallback::read(&st, &mut answers, read)
                .await?
                .into_iter()
                .flatten(),
        );
        let all = merge::series(found, &answers.bodies)?;
        let mut body: serde_json::Value = serde_json::from_slice(&response::series_response(&all))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        if answers.incomplete() {
            body["warnings"] = answers.warnings().into();
        }
        let mut text = serde_json::to_vec(&body).map_err(|e| ApiError::Internal(e.to_string()))?;
        text.push(b'\n');
        let mut out = json(text);
        answers.mark(out.headers_mut());
        Ok(out)
    })
    .await
}

async fn stats(
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    timed(&st, async {
        let (tenant, p, start, end) = request(&st, q, &headers, body).await?;
        let m = access.scope_matchers(selector(
            Some(p.query()?),
            st.config.limits.max_regex_bytes,
        )?);
        let store = st.store()?.clone();
        let fan = fan_out(&st, &headers, &access, "/loki/api/v1/index/stats", &p, None);
        let local = st
            .query_pool
            .read(move || Ok(store.stats(&tenant, &m, start, end)));
        let (s, answers) = with_peers(local, fan).await?;
        let mut total = IndexStats {
            streams: s.streams,
            chunks: s.chunks,
            bytes: s.bytes,
            entries: s.entries,
        };
        // Each replica counts what it holds: the sums (an entry stored on two replicas
        // after a retried push counts twice, as Loki counts replicated chunks).
        for (url, body) in answers.iter().flat_map(|a| &a.bodies) {
            match serde_json::from_slice::<serde_json::Value>(body) {
                Ok(v) => {
                    let n = |k: &str| v[k].as_u64().unwrap_or(0);
                    total.streams += n("streams");
                    total.chunks += n("chunks");
                    total.bytes += n("bytes");
                    total.entries += n("entries");
                }
                Err(e) => tracing::warn!(peer = %url, error = %e, "index stats did not decode"),
            }
        }
        Ok(crate::peers::marked(json(total.to_json()), answers))
    })
    .await
}

/// Loki's `warnings` of `answers` (none without peers).
fn warnings(answers: &Option<Answers>) -> Vec<String> {
    answers.as_ref().map(Answers::warnings).unwrap_or_default()
}

/// `(metric, [t ms, value])` pairs of a peer's vector or matrix answer.
fn peer_points(url: &str, body: &[u8]) -> Vec<(Labels, i64, f64)> {
    let v: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(peer = %url, error = %e, "a volume answer did not decode");
            return Vec::new();
        }
    };
    let point = |p: &serde_json::Value| -> Option<(i64, f64)> {
        let t = (p[0].as_f64()? * 1000.0).round() as i64;
        Some((t, p[1].as_str()?.parse().ok()?))
    };
    let mut out = Vec::new();
    for r in v["data"]["result"].as_array().into_iter().flatten() {
        let Some(m) = r["metric"].as_object() else {
            continue;
        };
        let Ok(metric) = Labels::from_pairs(
            m.iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))),
        ) else {
            continue;
        };
        let points = r
            .get("values")
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_else(|| vec![r["value"].clone()]);
        out.extend(
            points
                .iter()
                .filter_map(point)
                .map(|(t, x)| (metric.clone(), t, x)),
        );
    }
    out
}

/// What `index/volume` aggregates by: `targetLabels`, else the selector's label names;
/// `aggregateBy=labels` gives one series per label name.
struct VolumeQuery {
    matchers: Vec<LabelMatcher>,
    targets: Vec<String>,
    by_labels: bool,
    limit: usize,
}

fn volume_query(p: &Params, max_regex_bytes: usize) -> Result<VolumeQuery, ApiError> {
    let matchers = selector(Some(p.query()?), max_regex_bytes)?;
    let targets: Vec<String> = match p.get("targetLabels") {
        Some(t) => t
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
        None => matchers.iter().map(|m| m.name.clone()).collect(),
    };
    let by_labels = p.get("aggregateBy") == Some("labels");
    Ok(VolumeQuery {
        matchers,
        targets,
        by_labels,
        limit: p.limit()?,
    })
}

/// Byte volume per group over `[start, end)`, largest first, at most `limit` groups.
fn volumes(
    store: &kelp_store::Store,
    tenant: &kelp_model::TenantId,
    v: &VolumeQuery,
    start: Timestamp,
    end: Timestamp,
) -> Vec<(Labels, u64)> {
    let mut groups: BTreeMap<Labels, Vec<LabelMatcher>> = BTreeMap::new();
    for s in store.series(tenant, &v.matchers, start, end) {
        let (key, extra): (Vec<(&str, &str)>, Vec<LabelMatcher>) = if v.by_labels {
            for p in s
                .iter()
                .filter(|p| v.targets.is_empty() || v.targets.contains(&p.name))
            {
                let key = Labels::from_pairs([(p.name.as_str(), "")]).unwrap_or_default();
                let m = LabelMatcher::new(&p.name, kelp_store::MatchOp::Re, ".+");
                groups.entry(key).or_insert_with(|| m.into_iter().collect());
            }
            continue;
        } else {
            s.iter()
                .filter(|p| v.targets.contains(&p.name))
                .map(|p| {
                    (
                        (p.name.as_str(), p.value.as_str()),
                        LabelMatcher::eq(&p.name, &p.value),
                    )
                })
                .unzip()
        };
        let key = Labels::from_pairs(key).unwrap_or_default();
        groups.entry(key).or_insert(extra);
    }
    let mut out: Vec<(Labels, u64)> = groups
        .into_iter()
        .map(|(labels, extra)| {
            let mut m = v.matchers.clone();
            m.extend(extra);
            (labels, store.stats(tenant, &m, start, end).bytes)
        })
        .filter(|(_, b)| *b > 0)
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out.truncate(v.limit);
    out
}

async fn volume(
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    timed(&st, async {
        let (tenant, p, start, end) = request(&st, q, &headers, body).await?;
        let mut v = volume_query(&p, st.config.limits.max_regex_bytes)?;
        // After the targets are taken from the selector: the scope groups nothing.
        v.matchers.extend(access.scope_matcher());
        let store = st.store()?.clone();
        let limit = v.limit;
        let fan = fan_out(
            &st,
            &headers,
            &access,
            "/loki/api/v1/index/volume",
            &p,
            None,
        );
        let local = st
            .query_pool
            .read(move || Ok(volumes(&store, &tenant, &v, start, end)));
        let (mut found, answers) = with_peers(local, fan).await?;
        if let Some(a) = &answers {
            // Sums per group over the replicas, then the largest `limit` again.
            let mut by: BTreeMap<Labels, u64> = found.into_iter().collect();
            for (url, body) in &a.bodies {
                for (metric, _, x) in peer_points(url, body) {
                    *by.entry(metric).or_default() += x as u64;
                }
            }
            found = by.into_iter().collect();
            found.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            found.truncate(limit);
        }
        let t_ms = end.as_unix_nanos().div_euclid(1_000_000);
        let result = QueryResult::Vector(
            found
                .into_iter()
                .map(|(metric, b)| InstantSample {
                    metric,
                    value: Point::new(t_ms, b as f64),
                })
                .collect(),
        );
        let body = QueryResponse {
            stats: None,
            warnings: warnings(&answers),
            ..QueryResponse::new(result)
        };
        Ok(crate::peers::marked(json(body.to_json()), answers))
    })
    .await
}

async fn volume_range(
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    timed(&st, async {
        let (tenant, p, start, end) = request(&st, q, &headers, body).await?;
        let step = i64::try_from(p.step(start, end)?.as_nanos()).unwrap_or(i64::MAX);
        let mut v = volume_query(&p, st.config.limits.max_regex_bytes)?;
        // After the targets are taken from the selector: the scope groups nothing.
        v.matchers.extend(access.scope_matcher());
        let steps = (end.as_unix_nanos() - start.as_unix_nanos()) / step + 1;
        if steps > 11_000 {
            return Err(ApiError::bad("exceeded maximum resolution of 11,000 points per timeseries. Try increasing the value of the step parameter"));
        }
        let store = st.store()?.clone();
        let fan = fan_out(&st, &headers, &access, "/loki/api/v1/index/volume_range", &p, None);
        let local = st.query_pool.read(move || {
            let mut by: BTreeMap<Labels, BTreeMap<i64, f64>> = BTreeMap::new();
            let mut t = start.as_unix_nanos();
            while t <= end.as_unix_nanos() {
                let (a, b) = (Timestamp::from_unix_nanos(t - step), Timestamp::from_unix_nanos(t));
                for (labels, bytes) in volumes(&store, &tenant, &v, a, b) {
                    by.entry(labels).or_default().insert(t.div_euclid(1_000_000), bytes as f64);
                }
                t += step;
            }
            Ok(by)
        });
        let (mut by, answers) = with_peers(local, fan).await?;
        // Sums per group and step over the replicas.
        for (url, body) in answers.iter().flat_map(|a| &a.bodies) {
            for (metric, t, x) in peer_points(url, body) {
                *by.entry(metric).or_default().entry(t).or_default() += x;
            }
        }
        let series = by
            .into_iter()
            .map(|(metric, points)| Series {
                metric,
                values: points.into_iter().map(|(t, x)| Point::new(t, x)).collect(),
            })
            .collect();
        let result = QueryResult::Matrix(series);
        let body = QueryResponse { stats: None, warnings: warnings(&answers), ..QueryResponse::new(result) };
        Ok(crate::peers::marked(json(body.to_json()), answers))
    })
    .await
}
