//! Resource reads across replicas (issue #11; `src/resources/replicas.rs`): each agent
//! pushes its node's samples to one replica, so three replicas each holding one node must
//! answer metrics.k8s.io (what `kubectl top` and the HPA read), `kelp top`'s capacities
//! and ranges, and `kelp pods` with every node and pod, from any of them; with a replica
//! down, the answer comes with what is left and names the missing one.

use kelp_wire::resources::{
    Capacity, Collection, ContainerSample, NodeSample, PodSample, ResourcePush,
};
use serde_json::{json, Value};

use crate::replicas::{replicas, Replica};
use crate::support::{now_ns, JSON};

const S: i64 = 1_000_000_000;

/// Three collections 15 s apart of node `node` with one pod `web-<i>` in `shop`.
fn push_node(r: &Replica, i: usize, t0: i64) {
    let node = format!("n{i}");
    let collections = (0..3)
        .map(|k| {
            let t = t0 + 15 * S * k;
            Collection {
                seq: k as u64,
                node: NodeSample {
                    time: t,
                    cpu_ns: (1_000 * S + 15_000_000 * k * (i as i64 + 1)) as u64,
                    memory: 1 << 30,
                    capacity: Some(Capacity {
                        cpu_millis: 2000,
                        memory: 8 << 30,
                    }),
                    ..Default::default()
                },
                pods: vec![PodSample {
                    namespace: "shop".into(),
                    pod: format!("web-{i}"),
                    uid: format!("u{i}"),
                    labels: [("app".to_string(), "web".to_string())].into(),
                    time: t,
                    cpu_ns: (100 * S + 15_000_000 * k) as u64,
                    memory: 50 << 20,
                    containers: vec![ContainerSample {
                        name: "app".into(),
                        time: t,
                        start_time: Some(t0 - 3600 * S),
                        cpu_ns: (100 * S + 15_000_000 * k) as u64,
                        memory: 50 << 20,
                    }],
                }],
            }
        })
        .collect();
    let body = kelp_wire::resources::encode(&ResourcePush { node, collections }, 1);
    let h = [
        ("Content-Type", "application/json"),
        ("Content-Encoding", "zstd"),
    ];
    let resp = r.req("POST", "/kelp/api/v1/resources/push", &h, &body);
    assert_eq!(resp.status, 200, "{}", resp.text());
    // And a log line of the pod, for `kelp pods`.
    let lines = json!({"streams": [{
        "stream": {"namespace": "shop", "pod": format!("web-{i}"), "container": "app", "node": format!("n{i}")},
        "values": [[(t0 + 30 * S).to_string(), "started", {"pod_uid": format!("u{i}"), "restart": "0"}]]}]});
    let resp = r.req(
        "POST",
        "/loki/api/v1/push",
        &[JSON],
        lines.to_string().as_bytes(),
    );
    assert_eq!(resp.status, 204, "{}", resp.text());
}

fn names(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

fn get(r: &Replica, path: &str) -> (Value, Option<String>) {
    let resp = r.req("GET", path, &[], b"");
    assert_eq!(resp.status, 200, "{path}: {}", resp.text());
    let missing = resp.header("x-kelp-missing-replicas").map(str::to_owned);
    (resp.json(), missing)
}

#[test]
fn every_replica_answers_for_every_node_and_names_a_missing_one() {
    let mut rs = replicas(3, "{}");
    let t0 = now_ns() - 60 * S;
    for (i, r) in rs.iter().enumerate() {
        push_node(r, i, t0);
    }
    let at = (t0 + 30 * S) / S;
    for r in &rs {
        let (v, missing) = get(r, &format!("/apis/metrics.k8s.io/v1beta1/nodes?at={at}"));
        assert_eq!(names(&v), ["n0", "n1", "n2"]);
        assert_eq!(missing, None);
        let (v, _) = get(r, &format!("/apis/metrics.k8s.io/v1beta1/pods?at={at}"));
        assert_eq!(names(&v), ["web-0", "web-1", "web-2"]);
        let (v, _) = get(
            r,
            &format!(
                "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods?at={at}&labelSelector=app%3Dweb"
            ),
        );
        assert_eq!(names(&v), ["web-0", "web-1", "web-2"]);
        // A single object held by another replica.
        let (v, _) = get(r, &format!("/apis/metrics.k8s.io/v1beta1/nodes/n2?at={at}"));
        assert_eq!(v["metadata"]["name"], "n2");
        assert_eq!(v["kind"], "NodeMetrics");
        let (v, _) = get(
            r,
            &format!("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/web-0?at={at}"),
        );
        assert_eq!(v["metadata"]["name"], "web-0");
        let nf = r.req(
            "GET",
            &format!("/apis/metrics.k8s.io/v1beta1/nodes/n9?at={at}"),
            &[],
            b"",
        );
        assert_eq!(nf.status, 404, "{}", nf.text());
        // kelp top's capacities and the range API.
        let (v, _) = get(r, "/kelp/api/v1/resources/nodes");
        let nodes: Vec<&str> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["node"].as_str().unwrap())
            .collect();
        assert_eq!(nodes, ["n0", "n1", "n2"]);
        let (v, _) = get(
            r,
            &format!(
                "/kelp/api/v1/resources/range?kind=node&start={}&end={}&step=15",
                t0 / S - 1,
                t0 / S + 60
            ),
        );
        let series: Vec<&str> = v["data"]["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["node"].as_str().unwrap())
            .collect();
        assert_eq!(series, ["n0", "n1", "n2"]);
        // kelp pods: every pod, with its node.
        let (v, _) = get(r, "/kelp/api/v1/pods?since=1h");
        let pods: Vec<(&str, &str)> = v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["pod"].as_str().unwrap(), p["node"].as_str().unwrap()))
            .collect();
        assert_eq!(pods, [("web-0", "n0"), ("web-1", "n1"), ("web-2", "n2")]);
    }
    // Replica 2 goes away: the others answer with what they hold and name it.
    let gone = rs.pop().unwrap();
    let gone_url = gone.url();
    drop(gone);
    let (v, missing) = get(
        &rs[0],
        &format!("/apis/metrics.k8s.io/v1beta1/nodes?at={at}"),
    );
    assert_eq!(names(&v), ["n0", "n1"]);
    assert_eq!(missing.as_deref(), Some(gone_url.as_str()));
    let (_, missing) = get(&rs[1], "/kelp/api/v1/resources/nodes");
    assert_eq!(missing.as_deref(), Some(gone_url.as_str()));
}

#[test]
fn index_stats_and_volumes_add_up_every_replica() {
    let rs = replicas(3, "{}");
    let t = now_ns() - 60 * S;
    let push = |r: &Replica, app: &str, lines: &[&str]| {
        let labels = format!(r#"{{"app":"{app}"}}"#);
        let resp = r.req(
            "POST",
            "/loki/api/v1/push",
            &[JSON],
            &crate::support::push_json(&labels, t, lines),
        );
        assert_eq!(resp.status, 204, "{}", resp.text());
    };
    push(&rs[0], "a", &["0123456789", "0123456789"]);
    push(&rs[1], "b", &["01234", "01234", "01234"]);
    push(&rs[2], "a", &["0123456789"]);
    let q = crate::support::enc(r#"{app=~"a|b"}"#);
    let (start, end) = (t / S - 10, t / S + 10);
    for r in &rs {
        let (v, missing) = get(
            r,
            &format!("/loki/api/v1/index/stats?query={q}&start={start}&end={end}"),
        );
        assert_eq!(missing, None);
        assert_eq!(
            (v["entries"].as_u64(), v["bytes"].as_u64()),
            (Some(6), Some(45)),
            "{v}"
        );
        assert_eq!(v["streams"], 3, "a stream on two replicas counts on each");
        let (v, _) = get(
            r,
            &format!(
                "/loki/api/v1/index/volume?query={q}&start={start}&end={end}&targetLabels=app"
            ),
        );
        let vols: Vec<(String, String)> = v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["metric"]["app"].as_str().unwrap().to_owned(),
                    s["value"][1].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            vols,
            [
                ("a".to_string(), "30".to_string()),
                ("b".to_string(), "15".to_string())
            ]
        );
        let (v, _) = get(
            r,
            &format!("/loki/api/v1/index/volume_range?query={q}&start={start}&end={end}&step=20&targetLabels=app"),
        );
        let total: f64 = v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["values"].as_array().unwrap().iter())
            .map(|p| p[1].as_str().unwrap().parse::<f64>().unwrap())
            .sum();
        assert_eq!(total, 45.0, "{v}");
    }
}
