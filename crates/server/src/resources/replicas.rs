//! Resource reads across replicas (issue #11, `docs/scaling.md`): an agent pushes its
//! node's samples and pod inventory to one replica (the node name's owner), so a replica
//! asked for `metrics.k8s.io` lists, `kelp top`'s capacities and ranges or `kelp pods`
//! asks its peers the same question (`peers.rs`: local data only, the caller's tenant and
//! namespace scope) and answers with the union. A node's or pod's figures normally sit
//! on one replica; where two hold the same object (the node's owner changed while the
//! set of replicas changed), this replica's own is kept for metrics.k8s.io objects, range
//! points are merged by time, and `kelp pods` rows are combined. Missing peers are named
//! in [`crate::peers::MISSING_HEADER`] (the Kubernetes answers have no `warnings`).

use std::collections::BTreeMap;

use axum::http::HeaderMap;
use kelp_model::TenantId;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::auth::Access;
use crate::peers::Answers;
use crate::state::AppState;

/// Asks the peers for `path_and_query` (the same route, answered from their own data),
/// when this replica has peers and the request is not itself a peer's.
pub async fn ask(
    st: &AppState,
    headers: &HeaderMap,
    access: Option<&Access>,
    tenant: &TenantId,
    path_and_query: String,
) -> Option<Answers> {
    let peers = st.peers.clone()?;
    if peers.is_alone() || crate::peers::is_local(headers) {
        return None;
    }
    let access = access.cloned().unwrap_or_else(|| Access {
        tenant: tenant.clone(),
        namespaces: None,
    });
    Some(peers.get(&access, path_and_query).await)
}

/// The `items` of every peer's Kubernetes list added to `local` where their `key` is new.
pub fn union_items<T: DeserializeOwned>(
    local: &mut Vec<T>,
    answers: &Answers,
    key: impl Fn(&T) -> (Option<String>, String),
) {
    #[derive(serde::Deserialize)]
    struct Items<T> {
        #[serde(default = "Vec::new")]
        items: Vec<T>,
    }
    let mut seen: std::collections::BTreeSet<_> = local.iter().map(&key).collect();
    for (url, body) in &answers.bodies {
        match serde_json::from_slice::<Items<T>>(body) {
            Ok(list) => {
                for item in list.items {
                    if seen.insert(key(&item)) {
                        local.push(item);
                    }
                }
            }
            Err(e) => tracing::warn!(peer = %url, error = %e, "a peer's list did not decode"),
        }
    }
    local.sort_by_key(|i| key(i));
}

/// The `data` of a peer's `{"status","data"}` answer.
fn data_of(url: &str, body: &[u8]) -> Option<Value> {
    match serde_json::from_slice::<Value>(body) {
        Ok(mut v) => Some(v["data"].take()),
        Err(e) => {
            tracing::warn!(peer = %url, error = %e, "a peer's answer did not decode");
            None
        }
    }
}

/// `kelp top`'s capacities (`[{node, capacity?, allocatable?}]`): one row a node.
pub fn union_capacities(local: &mut Vec<Value>, answers: &Answers) {
    let mut rows: BTreeMap<String, Value> = local
        .drain(..)
        .map(|r| (r["node"].as_str().unwrap_or_default().to_owned(), r))
        .collect();
    for (url, body) in &answers.bodies {
        let Some(Value::Array(peer)) = data_of(url, body) else {
            continue;
        };
        for r in peer {
            let node = r["node"].as_str().unwrap_or_default().to_owned();
            rows.entry(node).or_insert(r);
        }
    }
    local.extend(rows.into_values());
}

/// The range API's `{"window", "series": [{kind, node, namespace?, pod?, container?, cpu,
/// memory}]}`: series of the same object merged, their points by time.
pub fn merge_range(local: &mut Value, answers: &Answers) {
    fn identity(s: &Value) -> String {
        ["kind", "node", "namespace", "pod", "container"]
            .iter()
            .map(|k| s[*k].as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\u{0}")
    }
    fn merge_points(into: &mut Value, from: &Value) {
        let Some(into) = into.as_array_mut() else {
            return;
        };
        into.extend(from.as_array().into_iter().flatten().cloned());
        let t = |p: &Value| p[0].as_f64().unwrap_or(f64::NAN);
        into.sort_by(|a, b| t(a).total_cmp(&t(b)));
        into.dedup_by(|a, b| t(a) == t(b));
    }
    let mut series: BTreeMap<String, Value> = BTreeMap::new();
    let mut add = |s: Value| match series.get_mut(&identity(&s)) {
        None => {
            series.insert(identity(&s), s);
        }
        Some(have) => {
            merge_points(&mut have["cpu"], &s["cpu"]);
            merge_points(&mut have["memory"], &s["memory"]);
        }
    };
    if let Some(Value::Array(own)) = local.get_mut("series").map(Value::take) {
        own.into_iter().for_each(&mut add);
    }
    for (url, body) in &answers.bodies {
        if let Some(Value::Array(peer)) = data_of(url, body).map(|mut d| d["series"].take()) {
            peer.into_iter().for_each(&mut add);
        }
    }
    local["series"] = Value::Array(series.into_values().collect());
}

/// `kelp pods` rows (`[{namespace, pod, uid, node, first_seen, last_seen, restarts,
/// exists, containers: [{name, restarts, first_seen, last_seen}]}]`): a pod instance's
/// containers may have written to streams owned by different replicas, so rows of the
/// same instance are combined (earliest first, latest last, most restarts; `exists` from
/// whichever replica holds the node's inventory).
pub fn merge_pod_rows(local: &mut Vec<Value>, answers: &Answers) {
    type Key = (String, String, String);
    let key = |r: &Value| -> Key {
        let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
        (s("namespace"), s("pod"), s("uid"))
    };
    let mut rows: BTreeMap<Key, Value> = BTreeMap::new();
    let mut add = |r: Value| match rows.get_mut(&key(&r)) {
        None => {
            rows.insert(key(&r), r);
        }
        Some(have) => combine_pod(have, r),
    };
    local.drain(..).for_each(&mut add);
    for (url, body) in &answers.bodies {
        if let Some(Value::Array(peer)) = data_of(url, body) {
            peer.into_iter().for_each(&mut add);
        }
    }
    let mut out: Vec<Value> = rows.into_values().collect();
    // As a single server sorts them: by namespace, pod, then first seen.
    out.sort_by(|a, b| {
        let k = |r: &Value| {
            (
                r["namespace"].as_str().unwrap_or_default().to_owned(),
                r["pod"].as_str().unwrap_or_default().to_owned(),
                r["first_seen"].as_str().unwrap_or_default().to_owned(),
            )
        };
        k(a).cmp(&k(b))
    });
    *local = out;
}

/// Earlier and later of two RFC 3339 times in the same fixed format (they sort as text).
fn min_max(a: &Value, b: &Value, later: bool) -> Value {
    match (a.as_str(), b.as_str()) {
        (Some(x), Some(y)) => Value::from(if (x < y) == later { y } else { x }),
        (Some(_), None) => a.clone(),
        _ => b.clone(),
    }
}

fn combine_pod(have: &mut Value, other: Value) {
    have["first_seen"] = min_max(&have["first_seen"], &other["first_seen"], false);
    have["last_seen"] = min_max(&have["last_seen"], &other["last_seen"], true);
    // `exists`: known (true/false) beats unknown (null).
    if have["exists"].is_null() {
        have["exists"] = other["exists"].clone();
    }
    let mut containers: BTreeMap<String, Value> = have["containers"]
        .as_array_mut()
        .map(std::mem::take)
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c["name"].as_str().unwrap_or_default().to_owned(), c))
        .collect();
    for c in other["containers"].as_array().into_iter().flatten() {
        let name = c["name"].as_str().unwrap_or_default().to_owned();
        match containers.get_mut(&name) {
            None => {
                containers.insert(name, c.clone());
            }
            Some(h) => {
                h["first_seen"] = min_max(&h["first_seen"], &c["first_seen"], false);
                h["last_seen"] = min_max(&h["last_seen"], &c["last_seen"], true);
                let r = |v: &Value| v["restarts"].as_u64().unwrap_or(0);
                h["restarts"] = Value::from(r(h).max(r(c)));
            }
        }
    }
    have["restarts"] = Value::from(
        containers
            .values()
            .map(|c| c["restarts"].as_u64().unwrap_or(0))
            .sum::<u64>(),
    );
    have["containers"] = Value::Array(containers.into_values().collect());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answers(bodies: &[Value]) -> Answers {
        Answers {
            bodies: bodies
                .iter()
                .enumerate()
                .map(|(i, b)| (format!("http://peer-{i}"), serde_json::to_vec(b).unwrap()))
                .collect(),
            ..Answers::default()
        }
    }

    #[test]
    fn lists_are_unions_with_this_replicas_objects_first() {
        let mut local: Vec<Value> = vec![json!({"metadata": {"name": "b"}, "v": "own"})];
        let peer = json!({"kind": "NodeMetricsList", "items": [
            {"metadata": {"name": "a"}, "v": "peer"}, {"metadata": {"name": "b"}, "v": "peer"}]});
        union_items(
            &mut local,
            &answers(&[peer, json!({"kind": "Status"})]),
            |i| (None, i["metadata"]["name"].as_str().unwrap().to_owned()),
        );
        assert_eq!(
            local,
            [
                json!({"metadata": {"name": "a"}, "v": "peer"}),
                json!({"metadata": {"name": "b"}, "v": "own"})
            ]
        );
    }

    #[test]
    fn range_series_of_one_object_merge_their_points() {
        let mut local = json!({"window": "15s", "series": [
            {"kind": "node", "node": "n1", "cpu": [[10, 0.5], [20, 0.6]], "memory": [[10, 1]]}]});
        let peer = json!({"status": "success", "data": {"window": "15s", "series": [
            {"kind": "node", "node": "n1", "cpu": [[20, 0.6], [30, 0.7]], "memory": []},
            {"kind": "node", "node": "n2", "cpu": [[10, 0.1]], "memory": [[10, 2]]}]}});
        merge_range(&mut local, &answers(&[peer]));
        assert_eq!(
            local["series"],
            json!([
                {"kind": "node", "node": "n1", "cpu": [[10, 0.5], [20, 0.6], [30, 0.7]], "memory": [[10, 1]]},
                {"kind": "node", "node": "n2", "cpu": [[10, 0.1]], "memory": [[10, 2]]}])
        );
    }

    #[test]
    fn pod_rows_of_one_instance_combine() {
        let row = |first: &str, last: &str, exists: Value, c: Value| {
            json!({"namespace": "ns", "pod": "p", "uid": "u", "node": "n1", "first_seen": first,
                   "last_seen": last, "restarts": 0, "exists": exists, "containers": c})
        };
        let mut local = vec![row(
            "2026-11-23T06:00:00.000000000Z",
            "2026-11-23T06:10:00.000000000Z",
            Value::Null,
            json!([{"name": "app", "restarts": 1, "first_seen": "2026-11-23T06:00:00.000000000Z", "last_seen": "2026-11-23T06:10:00.000000000Z"}]),
        )];
        let peer = json!({"status": "success", "data": [row(
            "2026-11-23T05:59:00.000000000Z",
            "2026-11-23T06:05:00.000000000Z",
            json!(true),
            json!([{"name": "app", "restarts": 2, "first_seen": "2026-11-23T05:59:00.000000000Z", "last_seen": "2026-11-23T06:05:00.000000000Z"},
                   {"name": "sidecar", "restarts": 0, "first_seen": "2026-11-23T06:01:00.000000000Z", "last_seen": "2026-11-23T06:02:00.000000000Z"}]),
        )]});
        merge_pod_rows(&mut local, &answers(&[peer]));
        assert_eq!(local.len(), 1);
        let r = &local[0];
        assert_eq!(r["first_seen"], "2026-11-23T05:59:00.000000000Z");
        assert_eq!(r["last_seen"], "2026-11-23T06:10:00.000000000Z");
        assert_eq!(r["exists"], true);
        assert_eq!(r["restarts"], 2);
        assert_eq!(r["containers"][0]["restarts"], 2);
        assert_eq!(
            r["containers"][0]["last_seen"],
            "2026-11-23T06:10:00.000000000Z"
        );
        assert_eq!(r["containers"][1]["name"], "sidecar");
    }

    #[test]
    fn capacities_are_one_row_a_node() {
        let mut local = vec![json!({"node": "n2", "capacity": {"cpu": "2"}})];
        let peer = json!({"status": "success", "data": [{"node": "n1"}, {"node": "n2", "capacity": {"cpu": "4"}}]});
        union_capacities(&mut local, &answers(&[peer]));
        assert_eq!(
            local,
            [
                json!({"node": "n1"}),
                json!({"node": "n2", "capacity": {"cpu": "2"}})
            ]
        );
    }
}
