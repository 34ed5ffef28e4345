//! Resource metrics (issue #7; `docs/metrics.md`): the agents' push, metrics-server's
//! `metrics.k8s.io/v1beta1` API (byte-compatible JSON; Kelp's `at` parameter answers for
//! a past time), the range API for charts, and the kubelet's `/metrics/resource`
//! exposition for Prometheus. Tenant by `X-Scope-OrgID` as every other route.
//!
//! A namespace-scoped token (`auth.rs`) sees only its namespaces, as a Kubernetes Role
//! bound in those namespaces would: pod lists (all namespaces, the range API, the
//! exposition) leave the others out; a namespaced path outside its namespaces, and the
//! cluster-scoped node figures (metrics.k8s.io nodes, node ranges, capacities), answer
//! 403 (a Kubernetes `Status` on metrics.k8s.io).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use kelp_metrics::api::{List, NodeMetrics, PodMetrics};
use kelp_model::Timestamp;
use kelp_series::Kind;
use serde_json::json;

use crate::auth::Access;
use crate::error::ApiError;
use crate::params::Params;
use crate::resources::range::RangeQuery;
use crate::resources::selector::Selector;
use crate::resources::{prom, range, replicas, view, Resources};
use crate::routes::{blocking, header_str, json, read_body};
use crate::state::AppState;

const V1BETA1: &str = "/apis/metrics.k8s.io/v1beta1";

/// The resource-metrics routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(kelp_wire::resources::PUSH_PATH, post(push))
        .route("/apis/metrics.k8s.io", get(group))
        .route(V1BETA1, get(discovery))
        .route(&format!("{V1BETA1}/nodes"), get(nodes))
        .route(&format!("{V1BETA1}/nodes/{{name}}"), get(node))
        .route(&format!("{V1BETA1}/pods"), get(all_pods))
        .route(&format!("{V1BETA1}/namespaces/{{ns}}/pods"), get(ns_pods))
        .route(
            &format!("{V1BETA1}/namespaces/{{ns}}/pods/{{name}}"),
            get(pod),
        )
        .route("/kelp/api/v1/resources/range", get(range_route))
        .route("/kelp/api/v1/resources/nodes", get(capacities))
        .route("/metrics/resource", get(exposition))
}

async fn push(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let tenant = st.tenant(&headers)?;
    let res = st.resources()?.clone();
    let body = read_body(body, st.config.max_body_bytes).await?;
    let ce = header_str(&headers, header::CONTENT_ENCODING);
    let max = st.config.max_decompressed_bytes;
    let ack = blocking(move || {
        let push = kelp_wire::resources::decode(ce.as_deref(), &body, max)?;
        res.ingest(&tenant, &push)
    })
    .await?;
    Ok(json(serde_json::to_vec(&ack).unwrap_or_default()))
}

/// A Kubernetes `Status` answer.
fn status(
    code: StatusCode,
    reason: &str,
    message: &str,
    details: Option<serde_json::Value>,
) -> Response {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
    });
    if let Some(d) = details {
        body["details"] = d;
    }
    body["code"] = json!(code.as_u16());
    let mut resp = (code, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// metrics-server's NotFound: `nodemetrics.metrics.k8s.io "n"`, and for pods
/// `podmetrics.metrics.k8s.io "ns/name"`.
fn not_found(resource: &str, name: &str) -> Response {
    status(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{resource}.metrics.k8s.io \"{name}\" not found"),
        Some(json!({"name": name, "group": "metrics.k8s.io", "kind": resource})),
    )
}

async fn group() -> Response {
    let v = json!({"groupVersion": "metrics.k8s.io/v1beta1", "version": "v1beta1"});
    let body = json!({
        "kind": "APIGroup", "apiVersion": "v1", "name": "metrics.k8s.io",
        "versions": [v], "preferredVersion": v,
    });
    json(body.to_string().into_bytes())
}

async fn discovery() -> Response {
    let r = |name: &str, namespaced: bool, kind: &str| json!({"name": name, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": ["get", "list"]});
    let body = json!({
        "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "metrics.k8s.io/v1beta1",
        "resources": [r("nodes", false, "NodeMetrics"), r("pods", true, "PodMetrics")],
    });
    json(body.to_string().into_bytes())
}

/// metrics-server's (the API server's) Forbidden for a namespace-scoped token: `verb`
/// `resource` in `namespace` (`None`: at the cluster scope), `name` for a get.
fn forbidden(verb: &str, resource: &str, name: Option<&str>, namespace: Option<&str>) -> Response {
    let what = match name {
        Some(n) => format!("{resource}.metrics.k8s.io \"{n}\""),
        None => format!("{resource}.metrics.k8s.io"),
    };
    let place = match namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".into(),
    };
    let mut details = json!({"group": "metrics.k8s.io", "kind": resource});
    if let Some(n) = name {
        details["name"] = json!(n);
    }
    status(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &format!("{what} is forbidden: the token cannot {verb} resource \"{resource}\" in API group \"metrics.k8s.io\" {place}: it may read only some namespaces"),
        Some(details),
    )
}

/// What every metrics.k8s.io handler starts with.
#[derive(Clone)]
struct Ask {
    tenant: String,
    id: kelp_model::TenantId,
    res: Arc<Resources>,
    at: i64,
    now: Timestamp,
    selector: Selector,
    access: Option<Access>,
}

impl Ask {
    fn scoped(&self) -> bool {
        self.access.as_ref().is_some_and(Access::is_scoped)
    }

    fn sees(&self, namespace: &str) -> bool {
        self.access.as_ref().is_none_or(|a| a.sees(namespace))
    }
}

fn ask(
    st: &AppState,
    headers: &HeaderMap,
    q: Option<String>,
    access: Option<Extension<Access>>,
) -> Result<Ask, Box<Response>> {
    let err = |e: ApiError| Box::new(e.into_response());
    let tenant = st.tenant(headers).map_err(err)?;
    let res = st.resources().map_err(err)?.clone();
    let p = Params::new(q.as_deref(), headers, b"");
    let now = Timestamp::now();
    let at = p.time("at", now).map_err(err)?.as_unix_nanos();
    let selector = Selector::parse(p.get("labelSelector").unwrap_or(""))
        .map_err(|m| status(StatusCode::BAD_REQUEST, "BadRequest", &m, None))?;
    Ok(Ask {
        tenant: tenant.as_str().to_owned(),
        id: tenant,
        res,
        at,
        now,
        selector,
        access: access.map(|Extension(a)| a),
    })
}

fn body<T: serde::Serialize>(v: &T) -> Response {
    json(serde_json::to_vec(v).unwrap_or_default())
}

/// The query string back (`?…`, or nothing).
fn query_suffix(q: &Option<String>) -> String {
    q.as_deref()
        .filter(|q| !q.is_empty())
        .map(|q| format!("?{q}"))
        .unwrap_or_default()
}

async fn node_list(
    st: &AppState,
    headers: &HeaderMap,
    a: Ask,
    q: Option<String>,
    name: Option<String>,
) -> Result<Response, ApiError> {
    if a.scoped() {
        // Nodes are cluster-scoped: no namespace grants them.
        let verb = if name.is_some() { "get" } else { "list" };
        return Ok(forbidden(verb, "nodes", name.as_deref(), None));
    }
    // Other replicas hold other nodes (`resources/replicas.rs`): their list, by name too.
    let fan = replicas::ask(
        st,
        headers,
        a.access.as_ref(),
        &a.id,
        format!("{V1BETA1}/nodes{}", query_suffix(&q)),
    );
    let local = {
        let (a, name) = (a.clone(), name.clone());
        blocking(move || {
            let now = a.now.as_unix_nanos();
            Ok(view::nodes(&a.res, &a.tenant, a.at, now)?
                .into_iter()
                // Node labels come with the agent's pushes when it reads the Kubernetes API.
                .filter(|(_, _, labels)| a.selector.matches(labels))
                .filter(|(n, _, _)| name.as_deref().is_none_or(|w| w == n))
                .map(|(n, r, labels)| NodeMetrics::new(&n, labels, a.now, &r))
                .collect::<Vec<NodeMetrics>>())
        })
    };
    let (items, answers) = tokio::join!(local, fan);
    let mut items = items?;
    if let Some(ans) = &answers {
        replicas::union_items(&mut items, ans, |i: &NodeMetrics| {
            (None, i.metadata.name.clone())
        });
        items.retain(|i| name.as_deref().is_none_or(|w| w == i.metadata.name));
    }
    let out = match name {
        Some(n) => match items.pop() {
            Some(item) => body(&item),
            None => not_found("nodemetrics", &n),
        },
        None => body(&List::nodes(items)),
    };
    Ok(crate::peers::marked(out, answers))
}

async fn nodes(
    State(st): State<AppState>,
    access: Option<Extension<Access>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    match ask(&st, &headers, q.clone(), access) {
        Ok(a) => node_list(&st, &headers, a, q, None).await.into_response(),
        Err(r) => *r,
    }
}

async fn node(
    State(st): State<AppState>,
    Path(name): Path<String>,
    access: Option<Extension<Access>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    match ask(&st, &headers, q.clone(), access) {
        Ok(a) => node_list(&st, &headers, a, q, Some(name))
            .await
            .into_response(),
        Err(r) => *r,
    }
}

async fn pod_list(
    st: &AppState,
    headers: &HeaderMap,
    a: Ask,
    q: Option<String>,
    ns: Option<String>,
    name: Option<String>,
) -> Result<Response, ApiError> {
    if let Some(n) = ns.as_deref().filter(|n| !a.sees(n)) {
        let verb = if name.is_some() { "get" } else { "list" };
        return Ok(forbidden(verb, "pods", name.as_deref(), Some(n)));
    }
    // Other replicas hold the pods of other nodes: the namespace's (or every) list.
    let path = match ns.as_deref() {
        Some(n) => format!("{V1BETA1}/namespaces/{n}/pods"),
        None => format!("{V1BETA1}/pods"),
    };
    let fan = replicas::ask(
        st,
        headers,
        a.access.as_ref(),
        &a.id,
        path + &query_suffix(&q),
    );
    let local = {
        let (a, ns, name) = (a.clone(), ns.clone(), name.clone());
        blocking(move || {
            let want = |n: &str, p: &str| {
                ns.as_deref().is_none_or(|w| w == n)
                    && name.as_deref().is_none_or(|w| w == p)
                    && a.sees(n)
            };
            Ok(
                view::pods(&a.res, &a.tenant, a.at, a.now.as_unix_nanos(), &want)?
                    .into_iter()
                    .filter(|(_, labels)| a.selector.matches(labels))
                    .map(|(r, labels)| PodMetrics::new(&r, labels, a.now))
                    .collect::<Vec<PodMetrics>>(),
            )
        })
    };
    let (items, answers) = tokio::join!(local, fan);
    let mut items = items?;
    if let Some(ans) = &answers {
        replicas::union_items(&mut items, ans, |i: &PodMetrics| {
            (i.metadata.namespace.clone(), i.metadata.name.clone())
        });
        items.retain(|i| name.as_deref().is_none_or(|w| w == i.metadata.name));
    }
    let out = match name {
        Some(n) => match items.pop() {
            Some(item) => body(&item),
            None => not_found(
                "podmetrics",
                &format!("{}/{n}", ns.as_deref().unwrap_or("")),
            ),
        },
        None => body(&List::pods(items)),
    };
    Ok(crate::peers::marked(out, answers))
}

async fn all_pods(
    State(st): State<AppState>,
    access: Option<Extension<Access>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    match ask(&st, &headers, q.clone(), access) {
        Ok(a) => pod_list(&st, &headers, a, q, None, None)
            .await
            .into_response(),
        Err(r) => *r,
    }
}

async fn ns_pods(
    State(st): State<AppState>,
    Path(ns): Path<String>,
    access: Option<Extension<Access>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    match ask(&st, &headers, q.clone(), access) {
        Ok(a) => pod_list(&st, &headers, a, q, Some(ns), None)
            .await
            .into_response(),
        Err(r) => *r,
    }
}

async fn pod(
    State(st): State<AppState>,
    Path((ns, name)): Path<(String, String)>,
    access: Option<Extension<Access>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    match ask(&st, &headers, q.clone(), access) {
        Ok(a) => pod_list(&st, &headers, a, q, Some(ns), Some(name))
            .await
            .into_response(),
        Err(r) => *r,
    }
}

/// Which series a scoped token may read: its namespaces' pods and containers.
fn visible(access: &Option<Extension<Access>>) -> impl Fn(&kelp_series::SeriesKey) -> bool {
    let access = access.as_ref().map(|Extension(a)| a.clone());
    move |k| {
        access
            .as_ref()
            .is_none_or(|a| !a.is_scoped() || (k.kind != Kind::Node && a.sees(&k.namespace)))
    }
}

fn scoped(access: &Option<Extension<Access>>) -> bool {
    access.as_ref().is_some_and(|Extension(a)| a.is_scoped())
}

async fn range_route(
    State(st): State<AppState>,
    access: Option<Extension<Access>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let tenant = st.tenant(&headers)?;
    let res = st.resources()?.clone();
    let p = Params::new(q.as_deref(), &headers, b"");
    let k = p.get("kind").unwrap_or("pod");
    let kind = Kind::parse(k)
        .ok_or_else(|| ApiError::bad(format!("kind {k:?} is not one of node, pod, container")))?;
    if scoped(&access) {
        if kind == Kind::Node {
            return Err(ApiError::Forbidden(
                "node series are cluster-wide, and this token may read only some namespaces".into(),
            ));
        }
        if let Some(ns) = p.get("namespace") {
            if !access.as_ref().is_some_and(|Extension(a)| a.sees(ns)) {
                return Err(ApiError::Forbidden(format!(
                    "this token may not read namespace {ns:?}"
                )));
            }
        }
    }
    let visible = visible(&access);
    let (start, end) = p.bounds(Duration::from_secs(3600))?;
    let step = p.step(start, end)?;
    let opt = |n: &str| p.get(n).map(str::to_owned);
    let query = RangeQuery {
        kind,
        namespace: opt("namespace"),
        pod: opt("pod"),
        node: opt("node"),
        container: opt("container"),
        start: start.as_unix_nanos(),
        end: end.as_unix_nanos(),
        step: i64::try_from(step.as_nanos()).unwrap_or(i64::MAX),
    };
    let fan = replicas::ask(
        &st,
        &headers,
        access.as_ref().map(|Extension(a)| a),
        &tenant,
        format!("/kelp/api/v1/resources/range{}", query_suffix(&q)),
    );
    let id = tenant.clone();
    let local = blocking(move || {
        range::range(
            &res,
            id.as_str(),
            &query,
            Timestamp::now().as_unix_nanos(),
            &visible,
        )
    });
    let (data, answers) = tokio::join!(local, fan);
    let mut data = data?;
    if let Some(ans) = &answers {
        replicas::merge_range(&mut data, ans);
    }
    let v = json!({"status": "success", "data": data});
    Ok(crate::peers::marked(
        json(v.to_string().into_bytes()),
        answers,
    ))
}

/// Every node's capacity and allocatable as its agent last reported them (the
/// percentages of `kelp top node`; kept in memory, so empty after a restart until the
/// next push).
async fn capacities(
    State(st): State<AppState>,
    access: Option<Extension<Access>>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    if scoped(&access) {
        return Err(ApiError::Forbidden(
            "node capacities are cluster-wide, and this token may read only some namespaces".into(),
        ));
    }
    let tenant = st.tenant(&headers)?;
    let res = st.resources()?.clone();
    let quantities = |c: kelp_wire::resources::Capacity| {
        json!({
            "cpu": kelp_metrics::quantity::cpu(c.cpu_millis.saturating_mul(1_000_000)),
            "memory": kelp_metrics::quantity::memory(c.memory),
        })
    };
    let answers = replicas::ask(
        &st,
        &headers,
        access.as_ref().map(|Extension(a)| a),
        &tenant,
        format!("/kelp/api/v1/resources/nodes{}", query_suffix(&q)),
    )
    .await;
    let mut data: Vec<serde_json::Value> = res
        .capacities(tenant.as_str())
        .into_iter()
        .map(|(node, r)| {
            let mut v = json!({"node": node});
            if let Some(c) = r.capacity {
                v["capacity"] = quantities(c);
            }
            if let Some(a) = r.allocatable {
                v["allocatable"] = quantities(a);
            }
            v
        })
        .collect();
    if let Some(ans) = &answers {
        replicas::union_capacities(&mut data, ans);
    }
    let out = json(
        json!({"status": "success", "data": data})
            .to_string()
            .into_bytes(),
    );
    Ok(crate::peers::marked(out, answers))
}

async fn exposition(
    State(st): State<AppState>,
    access: Option<Extension<Access>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let tenant = st.tenant(&headers)?;
    let res = st.resources()?.clone();
    let visible = visible(&access);
    let text = blocking(move || {
        prom::render(
            &res,
            tenant.as_str(),
            Timestamp::now().as_unix_nanos(),
            &visible,
        )
    })
    .await?;
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}
