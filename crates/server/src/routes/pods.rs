//! Pods known to the store (`GET /kelp/api/v1/pods`) and the agents' inventories that
//! tell whether they still exist (`POST /kelp/api/v1/inventory`). Contract:
//! `docs/server.md`, "Pods".
//!
//! A pod is a `(namespace, pod, pod_uid)` seen in the entries of streams labelled
//! `namespace`, `pod` and `container`; `pod_uid` and `restart` are the agent's structured
//! metadata. Nothing scans whole logs: the store gives every stream's oldest and newest
//! entry from one pass over its index (`Store::stream_edges`, one entry read per stream
//! end); only when a container's oldest and newest `pod_uid` differ, as for a StatefulSet
//! pod recreated under the same name, a binary search over time finds each change of UID
//! (single-entry reads, about 45 per change).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Extension;
use axum::Router;
use kelp_model::{TenantId, Timestamp};
use kelp_store::{Direction, LabelMatcher, MatchOp, ScanEntry, ScanRequest, Store};
use kelp_wire::inventory::Inventory;
use serde_json::{json, Value};

use crate::auth::Access;
use crate::error::ApiError;
use crate::inventory::NodeInventory;
use crate::metrics::Endpoint;
use crate::params::Params;
use crate::routes::{blocking, json, read_body};
use crate::state::AppState;

/// The default window: the last 7 days.
const DEFAULT_SINCE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Most instances (UIDs) told apart per container; older ones are merged into the oldest.
const MAX_INSTANCES: usize = 64;
/// A node whose agent has not reported for this long is unknown again (its agents
/// report every 30 s): its pods' `exists` is `null`.
const STALE_AFTER_NS: i64 = 5 * 60 * 1_000_000_000;
/// Largest inventory body.
const MAX_INVENTORY_BYTES: usize = 64 << 20;

/// The pods routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/kelp/api/v1/pods", get(pods))
        .route(kelp_wire::inventory::INVENTORY_PATH, post(inventory))
}

/// `POST /kelp/api/v1/inventory`: a node's pods; 204 once stored.
async fn inventory(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<StatusCode, ApiError> {
    let tenant = st.tenant(&headers)?;
    let body = read_body(body, MAX_INVENTORY_BYTES).await?;
    let inv = Inventory::from_json(&body).map_err(|e| ApiError::bad(e.to_string()))?;
    let st2 = st.clone();
    blocking(move || {
        st2.inventory
            .report(&tenant, inv)
            .map_err(|e| ApiError::Internal(format!("storing the pod inventory: {e}")))
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What the request asks for.
struct Ask {
    namespace: Option<String>,
    /// The caller's namespace scope.
    scope: Option<LabelMatcher>,
    deleted: bool,
    start: Timestamp,
    end: Timestamp,
}

fn ask(q: Option<&str>, headers: &HeaderMap) -> Result<Ask, ApiError> {
    let p = Params::new(q, headers, b"");
    let now = Timestamp::now();
    let end = p.time("end", now)?;
    let since = i64::try_from(DEFAULT_SINCE.as_nanos()).unwrap_or(i64::MAX);
    let start = p.time(
        "start",
        Timestamp::from_unix_nanos(end.as_unix_nanos().saturating_sub(since)),
    )?;
    if end < start {
        return Err(ApiError::bad(
            "end timestamp must not be before or equal to start time",
        ));
    }
    let deleted = match p.get("deleted") {
        None | Some("false") => false,
        Some("true") => true,
        Some(v) => {
            return Err(ApiError::bad(format!(
                "cannot parse {v:?} to a valid boolean for deleted"
            )))
        }
    };
    Ok(Ask {
        namespace: p.get("namespace").map(str::to_owned),
        scope: None,
        deleted,
        start,
        end,
    })
}

/// `GET /kelp/api/v1/pods`.
async fn pods(
    State(st): State<AppState>,
    Extension(access): Extension<Access>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let began = Instant::now();
    let out = async {
        let tenant = st.tenant(&headers)?;
        let mut a = ask(q.as_deref(), &headers)?;
        a.scope = access.scope_matcher();
        let store = st.store()?.clone();
        let nodes = st.inventory.nodes(&tenant);
        // Other replicas hold other streams and other nodes' inventories.
        let path = match q.as_deref().filter(|q| !q.is_empty()) {
            Some(q) => format!("/kelp/api/v1/pods?{q}"),
            None => "/kelp/api/v1/pods".to_owned(),
        };
        let fan = crate::resources::replicas::ask(&st, &headers, Some(&access), &tenant, path);
        let id = tenant.clone();
        let local = st
            .query_pool
            .read(move || pod_rows(&store, &id, &a, &nodes));
        let (rows, answers) = tokio::join!(local, fan);
        let mut rows = rows?;
        if let Some(ans) = &answers {
            crate::resources::replicas::merge_pod_rows(&mut rows, ans);
        }
        let body = json!({"status": "success", "data": rows});
        // A tree of strings, numbers and nulls always serializes.
        let mut out = serde_json::to_vec(&body).unwrap_or_default();
        out.push(b'\n');
        Ok(crate::peers::marked(json(out), answers))
    }
    .await;
    st.metrics
        .query(Endpoint::Metadata, out.is_ok(), began.elapsed());
    out
}

/// One instance (pod UID) of one container, as its entries show it.
#[derive(Debug, Clone)]
struct Instance {
    uid: String,
    node: String,
    first: i64,
    last: i64,
    restart: u32,
}

/// One pod of the answer.
struct Pod {
    node: String,
    containers: BTreeMap<String, Instance>,
}

fn pod_rows(
    store: &Store,
    tenant: &TenantId,
    a: &Ask,
    nodes: &BTreeMap<String, NodeInventory>,
) -> Result<Vec<Value>, ApiError> {
    // Containers are those with log lines: the agent's termination records are not.
    let not_terminations =
        LabelMatcher::new("source", MatchOp::Neq, "kubernetes-termination").map_err(store_error)?;
    let mut m = vec![not_terminations.clone()];
    if let Some(ns) = &a.namespace {
        m.push(LabelMatcher::eq("namespace", ns));
    }
    m.extend(a.scope.clone());
    // The oldest and newest entry of every container (over its streams, stdout and
    // stderr) in the window.
    let end = Timestamp::from_unix_nanos(a.end.as_unix_nanos().saturating_add(1));
    let edges = store
        .stream_edges(tenant, &m, a.start, end)
        .map_err(store_error)?;
    let mut containers: BTreeMap<(String, String, String), (ScanEntry, ScanEntry)> =
        BTreeMap::new();
    for e in edges {
        let l = &e.first.labels;
        let (Some(ns), Some(pod), Some(c)) = (l.get("namespace"), l.get("pod"), l.get("container"))
        else {
            continue;
        };
        let key = (ns.to_owned(), pod.to_owned(), c.to_owned());
        match containers.get_mut(&key) {
            None => {
                containers.insert(key, (e.first, e.last));
            }
            Some((first, last)) => {
                if e.first.timestamp < first.timestamp {
                    *first = e.first;
                }
                if e.last.timestamp > last.timestamp {
                    *last = e.last;
                }
            }
        }
    }
    let reader = Reader {
        store,
        tenant,
        start: a.start.as_unix_nanos(),
    };
    let mut pods: BTreeMap<(String, String, String), Pod> = BTreeMap::new();
    for ((ns, pod, c), (oldest, newest)) in containers {
        let m = [
            LabelMatcher::eq("namespace", &ns),
            LabelMatcher::eq("pod", &pod),
            LabelMatcher::eq("container", &c),
            not_terminations.clone(),
        ];
        for inst in reader.instances(&m, oldest, newest)? {
            let p = pods
                .entry((ns.clone(), pod.clone(), inst.uid.clone()))
                .or_insert_with(|| Pod {
                    node: inst.node.clone(),
                    containers: BTreeMap::new(),
                });
            p.containers.insert(c.clone(), inst);
        }
    }
    let mut rows: Vec<(i64, Value)> = Vec::new();
    let fresh = Timestamp::now().as_unix_nanos() - STALE_AFTER_NS;
    for ((ns, pod, uid), p) in pods {
        let inv = nodes.get(&p.node).filter(|n| n.received >= fresh);
        let present = inv.and_then(|n| {
            n.pods
                .iter()
                .find(|x| x.namespace == ns && x.pod == pod && x.uid == uid)
        });
        let exists = inv.map(|_| present.is_some());
        if a.deleted && exists != Some(false) {
            continue;
        }
        let mut total = 0u64;
        let (mut first, mut last) = (i64::MAX, i64::MIN);
        let mut cs = Vec::new();
        for (name, i) in &p.containers {
            // A live container's current restart may have written nothing yet.
            let reported = present
                .and_then(|x| x.containers.iter().find(|c| c.name == *name))
                .map_or(0, |c| c.restart);
            let restarts = i.restart.max(reported);
            total += u64::from(restarts);
            first = first.min(i.first);
            last = last.max(i.last);
            cs.push(json!({
                "name": name,
                "restarts": restarts,
                "first_seen": rfc3339(i.first),
                "last_seen": rfc3339(i.last),
            }));
        }
        rows.push((
            first,
            json!({
                "namespace": ns,
                "pod": pod,
                "uid": uid,
                "node": p.node,
                "first_seen": rfc3339(first),
                "last_seen": rfc3339(last),
                "restarts": total,
                "exists": exists,
                "containers": cs,
            }),
        ));
    }
    rows.sort_by(|a, b| {
        (&a.1["namespace"].as_str(), &a.1["pod"].as_str(), a.0).cmp(&(
            &b.1["namespace"].as_str(),
            &b.1["pod"].as_str(),
            b.0,
        ))
    });
    Ok(rows.into_iter().map(|r| r.1).collect())
}

fn store_error(e: kelp_store::StoreError) -> ApiError {
    ApiError::Internal(format!("reading the pods' entries: {e}"))
}

fn rfc3339(ns: i64) -> String {
    Timestamp::from_unix_nanos(ns).to_rfc3339_fixed()
}

/// Single-entry reads of one tenant from `start`.
struct Reader<'a> {
    store: &'a Store,
    tenant: &'a TenantId,
    start: i64,
}

impl Reader<'_> {
    /// The newest entry before `before`.
    fn one(&self, m: &[LabelMatcher], before: i64) -> Result<Option<ScanEntry>, ApiError> {
        if before <= self.start {
            return Ok(None);
        }
        let req = ScanRequest {
            tenant: self.tenant.clone(),
            matchers: m.to_vec(),
            start: Timestamp::from_unix_nanos(self.start),
            end: Timestamp::from_unix_nanos(before),
            direction: Direction::Backward,
            limit: Some(1),
            filters: Vec::new(),
        };
        Ok(self.store.select(&req).map_err(store_error)?.pop())
    }

    /// The container's instances (one per pod UID), newest first, from its oldest and
    /// newest entry.
    fn instances(
        &self,
        m: &[LabelMatcher],
        oldest: ScanEntry,
        mut newest: ScanEntry,
    ) -> Result<Vec<Instance>, ApiError> {
        let old_uid = meta(&oldest, "pod_uid");
        let mut out = Vec::new();
        loop {
            let uid = meta(&newest, "pod_uid");
            let mut inst = Instance {
                uid: uid.clone(),
                node: newest.labels.get("node").unwrap_or_default().to_owned(),
                first: oldest.timestamp.as_unix_nanos(),
                last: newest.timestamp.as_unix_nanos(),
                restart: meta(&newest, "restart").parse().unwrap_or(0),
            };
            if uid == old_uid || out.len() + 1 >= MAX_INSTANCES {
                out.push(inst);
                return Ok(out);
            }
            // The first entry of `uid`: the smallest `hi` whose newest entry before it has
            // `uid` is one past it (entries of one UID are contiguous in time).
            let (mut lo, mut hi) = (inst.first + 1, inst.last + 1);
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2;
                match self.one(m, mid)? {
                    Some(e) if meta(&e, "pod_uid") == uid => hi = mid,
                    _ => lo = mid,
                }
            }
            inst.first = hi - 1;
            out.push(inst);
            match self.one(m, hi - 1)? {
                Some(e) => newest = e,
                None => return Ok(out),
            }
        }
    }
}

/// A structured-metadata value of `e` (empty when absent).
fn meta(e: &ScanEntry, name: &str) -> String {
    e.metadata
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.value.clone())
        .unwrap_or_default()
}
