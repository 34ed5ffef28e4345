//! Resource metrics routes (issue #7) over a real socket: the push (idempotent), the
//! shapes of metrics.k8s.io, the range API and the exposition, tenants, and a restart.

use kelp_wire::resources::{Collection, ContainerSample, NodeSample, PodSample, ResourcePush};

use crate::support::{now_ns, TestServer};

const S: i64 = 1_000_000_000;

/// Collection `i` (0, 1, 2) at `t0 + 15 s × i`: the node uses 20m, `web-1`'s `app` 8m and
/// `sidecar` 2m (the pod cgroup 11m with its sandbox); fixed working sets.
fn collection(t0: i64, i: i64) -> Collection {
    let t = t0 + 15 * S * i;
    let c = |name: &str, milli: i64, mem: u64| ContainerSample {
        name: name.into(),
        time: t,
        start_time: Some(t0 - 3600 * S),
        cpu_ns: (100 * S + milli * 15_000_000 * i) as u64,
        memory: mem,
    };
    Collection {
        seq: i as u64,
        node: NodeSample {
            time: t,
            cpu_ns: (5_000 * S + 20 * 15_000_000 * i) as u64,
            memory: 1 << 30,
            capacity: Some(kelp_wire::resources::Capacity {
                cpu_millis: 2000,
                memory: 8 << 30,
            }),
            ..Default::default()
        },
        pods: vec![PodSample {
            namespace: "shop".into(),
            pod: "web-1".into(),
            uid: "u1".into(),
            labels: [("app".to_string(), "web".to_string())].into(),
            time: t,
            cpu_ns: (300 * S + 11 * 15_000_000 * i) as u64,
            memory: 60 << 20,
            containers: vec![c("app", 8, 48_263_168), c("sidecar", 2, 10 << 20)],
        }],
    }
}

fn push(s: &TestServer, tenant: Option<&str>, collections: Vec<Collection>) -> serde_json::Value {
    let body = kelp_wire::resources::encode(
        &ResourcePush {
            node: "n1".into(),
            collections,
        },
        1,
    );
    let mut h = vec![
        ("Content-Type", "application/json"),
        ("Content-Encoding", "zstd"),
    ];
    if let Some(t) = tenant {
        h.push(("X-Scope-OrgID", t));
    }
    let r = s.req("POST", "/kelp/api/v1/resources/push", &h, &body);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// The answer with `creationTimestamp` blanked (it is the request's time).
fn stable(text: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                if m.contains_key("creationTimestamp") {
                    m.insert("creationTimestamp".into(), "X".into());
                }
                m.values_mut().for_each(walk);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v.to_string()
}

fn rfc3339(t: i64) -> String {
    kelp_model::Timestamp(t).to_rfc3339_secs()
}

#[test]
fn push_is_idempotent_and_metrics_api_answers_as_metrics_server() {
    let s = TestServer::start("");
    // Whole seconds, so that the expected timestamps are exact.
    let t0 = (now_ns() / S - 40) * S;
    let ack = push(&s, None, (0..3).map(|i| collection(t0, i)).collect());
    assert_eq!(
        ack,
        serde_json::json!({"stored": 12, "duplicates": 0, "refused": 0})
    );
    // The agent resends after a lost answer: nothing is stored twice.
    let ack = push(&s, None, (1..3).map(|i| collection(t0, i)).collect());
    assert_eq!(
        ack,
        serde_json::json!({"stored": 0, "duplicates": 8, "refused": 0})
    );

    let r = s.get("/apis/metrics.k8s.io/v1beta1");
    assert_eq!(r.json()["resources"][0]["kind"], "NodeMetrics");
    assert_eq!(r.json()["resources"][1]["namespaced"], true);

    let last = rfc3339(t0 + 30 * S);
    let r = s.get("/apis/metrics.k8s.io/v1beta1/nodes");
    assert_eq!(r.status, 200);
    assert_eq!(
        stable(&r.text()),
        format!(
            r#"{{"apiVersion":"metrics.k8s.io/v1beta1","items":[{{"apiVersion":"metrics.k8s.io/v1beta1","kind":"NodeMetrics","metadata":{{"creationTimestamp":"X","name":"n1"}},"timestamp":"{last}","usage":{{"cpu":"20m","memory":"1Gi"}},"window":"15s"}}],"kind":"NodeMetricsList","metadata":{{}}}}"#
        )
    );
    // Field order as metrics-server writes it.
    let text = s.get("/apis/metrics.k8s.io/v1beta1/nodes/n1").text();
    assert!(text.starts_with(r#"{"kind":"NodeMetrics","apiVersion":"metrics.k8s.io/v1beta1","metadata":{"name":"n1","creationTimestamp":""#), "{text}");
    let r = s.get("/apis/metrics.k8s.io/v1beta1/nodes/n2");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["message"],
        "nodemetrics.metrics.k8s.io \"n2\" not found"
    );

    let pod = format!(
        r#"{{"apiVersion":"metrics.k8s.io/v1beta1","containers":[{{"name":"app","usage":{{"cpu":"8m","memory":"47132Ki"}}}},{{"name":"sidecar","usage":{{"cpu":"2m","memory":"10Mi"}}}}],"kind":"PodMetrics","metadata":{{"creationTimestamp":"X","labels":{{"app":"web"}},"name":"web-1","namespace":"shop"}},"timestamp":"{last}","window":"15s"}}"#
    );
    let r = s.get("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/web-1");
    assert_eq!(stable(&r.text()), pod);
    for path in [
        "/apis/metrics.k8s.io/v1beta1/pods",
        "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods",
        "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Dweb",
        "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%20in%20(api,web)",
    ] {
        let r = s.get(path);
        assert_eq!(r.json()["kind"], "PodMetricsList", "{path}");
        assert_eq!(r.json()["items"].as_array().unwrap().len(), 1, "{path}");
    }
    for path in [
        "/apis/metrics.k8s.io/v1beta1/namespaces/other/pods",
        "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%3Dapi",
    ] {
        assert_eq!(s.get(path).json()["items"], serde_json::json!([]), "{path}");
    }
    let r = s.get("/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%20~%20x");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["reason"], "BadRequest");
    let r = s.get("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/nope");
    assert_eq!(r.status, 404);
    assert_eq!(
        r.json()["message"],
        "podmetrics.metrics.k8s.io \"shop/nope\" not found"
    );

    // History: at the second collection, the window is the first two.
    let at = t0 + 15 * S;
    let r = s.get(&format!(
        "/apis/metrics.k8s.io/v1beta1/nodes/n1?at={}",
        at / S
    ));
    assert_eq!(r.json()["timestamp"], rfc3339(at));
    // Before two samples exist there is no rate.
    let r = s.get(&format!("/apis/metrics.k8s.io/v1beta1/nodes?at={}", t0 / S));
    assert_eq!(r.json()["items"], serde_json::json!([]));
}

#[test]
fn range_api_and_exposition() {
    let s = TestServer::start("");
    let t0 = (now_ns() / S - 40) * S;
    push(&s, None, (0..3).map(|i| collection(t0, i)).collect());
    let q = format!(
        "/kelp/api/v1/resources/range?kind=container&namespace=shop&pod=web-1&start={}&end={}&step=15s",
        t0 / S,
        (t0 + 30 * S) / S
    );
    let r = s.get(&q);
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["window"], "15s");
    let series = v["data"]["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    let app = &series[0];
    assert_eq!(
        (
            app["kind"].as_str(),
            app["node"].as_str(),
            app["namespace"].as_str(),
            app["pod"].as_str(),
            app["container"].as_str()
        ),
        (
            Some("container"),
            Some("n1"),
            Some("shop"),
            Some("web-1"),
            Some("app")
        )
    );
    let t = |i: i64| (t0 + 15 * S * i) / S;
    assert_eq!(
        app["cpu"],
        serde_json::json!([[t(1), 0.008], [t(2), 0.008]])
    );
    assert_eq!(
        app["memory"],
        serde_json::json!([[t(0), 48_263_168], [t(1), 48_263_168], [t(2), 48_263_168]])
    );
    // Node series have no pod names; pods have no container.
    let r = s.get(&format!(
        "/kelp/api/v1/resources/range?kind=node&start={}&end={}&step=30",
        t0 / S,
        t(2)
    ));
    let node = &r.json()["data"]["series"][0];
    assert_eq!(node["node"], "n1");
    assert!(node.get("pod").is_none() && node.get("container").is_none());
    assert_eq!(node["cpu"], serde_json::json!([[t(2), 0.02]]));
    let r = s.get(&format!(
        "/kelp/api/v1/resources/range?start={}&end={}&step=15s",
        t0 / S,
        t(2)
    ));
    let pod = &r.json()["data"]["series"][0];
    assert_eq!(
        (pod["kind"].as_str(), pod.get("container")),
        (Some("pod"), None)
    );
    assert_eq!(pod["cpu"][0][1], 0.011);
    for bad in ["kind=pods", "step=0", "start=x", "step=1ms&start=0"] {
        let r = s.get(&format!("/kelp/api/v1/resources/range?{bad}"));
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }

    let r = s.get("/kelp/api/v1/resources/nodes");
    assert_eq!(
        r.json(),
        serde_json::json!({"status": "success", "data": [{"node": "n1", "capacity": {"cpu": "2", "memory": "8Gi"}}]})
    );

    let r = s.get("/metrics/resource");
    assert_eq!(r.status, 200);
    let text = r.text();
    let ms = (t0 + 30 * S) / 1_000_000;
    for line in [
        "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds".to_string(),
        "# TYPE container_cpu_usage_seconds_total counter".into(),
        format!("container_cpu_usage_seconds_total{{container=\"app\",namespace=\"shop\",node=\"n1\",pod=\"web-1\"}} 100.24 {ms}"),
        format!("container_memory_working_set_bytes{{container=\"app\",namespace=\"shop\",node=\"n1\",pod=\"web-1\"}} 4.8263168e+07 {ms}"),
        format!("container_start_time_seconds{{container=\"app\",namespace=\"shop\",node=\"n1\",pod=\"web-1\"}} {}", super_float((t0 / S - 3600) as f64)),
        format!("node_cpu_usage_seconds_total{{node=\"n1\"}} 5000.6 {ms}"),
        format!("node_memory_working_set_bytes{{node=\"n1\"}} 1.073741824e+09 {ms}"),
        format!("pod_cpu_usage_seconds_total{{namespace=\"shop\",node=\"n1\",pod=\"web-1\"}} 300.33 {ms}"),
        format!("pod_memory_working_set_bytes{{namespace=\"shop\",node=\"n1\",pod=\"web-1\"}} 6.291456e+07 {ms}"),
        "resource_scrape_error 0".into(),
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
}

fn super_float(v: f64) -> String {
    let e = format!("{v:e}");
    let (m, x) = e.split_once('e').unwrap();
    format!("{m}e+{:02}", x.parse::<i32>().unwrap())
}

#[test]
fn tenants_are_apart_and_series_survive_a_restart() {
    let s = TestServer::start("auth_enabled: true");
    let t0 = (now_ns() / S - 40) * S;
    push(
        &s,
        Some("team-a"),
        (0..3).map(|i| collection(t0, i)).collect(),
    );
    let r = s.req(
        "GET",
        "/apis/metrics.k8s.io/v1beta1/nodes",
        &[("X-Scope-OrgID", "team-b")],
        b"",
    );
    assert_eq!(r.json()["items"], serde_json::json!([]));
    let r = s.get("/apis/metrics.k8s.io/v1beta1/nodes");
    assert_eq!(r.status, 401);
    let dir = s.stop();
    let s = TestServer::start_in(dir, "auth_enabled: true");
    let r = s.req(
        "GET",
        "/apis/metrics.k8s.io/v1beta1/pods",
        &[("X-Scope-OrgID", "team-a")],
        b"",
    );
    assert_eq!(
        r.json()["items"][0]["metadata"]["name"],
        "web-1",
        "{}",
        r.text()
    );
    // Resent after the restart: still no duplicates.
    let ack = push(&s, Some("team-a"), vec![collection(t0, 2)]);
    assert_eq!(ack["duplicates"], 4);
    let bad = s.req(
        "POST",
        "/kelp/api/v1/resources/push",
        &[
            ("X-Scope-OrgID", "team-a"),
            ("Content-Type", "application/json"),
        ],
        b"{\"node\":\"n1\",\"collections\":[{\"seq\":1}]}",
    );
    assert_eq!(bad.status, 400);
    assert!(
        bad.text().contains("missing field `node`"),
        "{}",
        bad.text()
    );
}

/// A collection of node `n1` at `t0 + 15 s × i` with one container per pod (5m each),
/// pods given as (namespace, name, labels), and node labels and allocatable.
/// A pod of [`labelled`]: namespace, name, labels.
type LabelledPod<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

fn labelled(t0: i64, i: i64, pods: &[LabelledPod]) -> Collection {
    let t = t0 + 15 * S * i;
    let mut c = collection(t0, i);
    c.node.labels = [("kubernetes.io/hostname", "n1"), ("zone", "a")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    c.node.allocatable = Some(kelp_wire::resources::Capacity {
        cpu_millis: 1930,
        memory: 7 << 30,
    });
    c.pods = pods
        .iter()
        .map(|(ns, name, labels)| PodSample {
            namespace: ns.to_string(),
            pod: name.to_string(),
            uid: format!("uid-{name}"),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            time: t,
            cpu_ns: (100 * S + 5 * 15_000_000 * i) as u64,
            memory: 10 << 20,
            containers: vec![ContainerSample {
                name: "c".into(),
                time: t,
                start_time: Some(t0 - 3600 * S),
                cpu_ns: (100 * S + 5 * 15_000_000 * i) as u64,
                memory: 10 << 20,
            }],
        })
        .collect();
    c
}

fn names(v: &serde_json::Value) -> Vec<String> {
    v["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {v}"))
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Issue #7: PodMetrics carry the pods' real labels, `labelSelector` filters on them with
/// Kubernetes' semantics, node labels and allocatable arrive with the push, and labels
/// survive a restart (kelp-series keeps them).
#[test]
fn label_selectors_use_the_pods_real_labels_and_survive_a_restart() {
    let s = TestServer::start("");
    let t0 = (now_ns() / S - 40) * S;
    let web: &[(&str, &str)] = &[
        ("app", "web"),
        ("tier", "front"),
        ("app.kubernetes.io/name", "shop"),
    ];
    let db: &[(&str, &str)] = &[("app", "db"), ("tier", "back")];
    let pods = [
        ("shop", "web-1", web),
        ("shop", "db-0", db),
        ("shop", "bare", &[][..]),
    ];
    push(&s, None, (0..3).map(|i| labelled(t0, i, &pods)).collect());
    let check = |s: &TestServer| {
        for (sel, want) in [
            ("", vec!["bare", "db-0", "web-1"]),
            ("app=web", vec!["web-1"]),
            ("app==web", vec!["web-1"]),
            ("app!=web", vec!["bare", "db-0"]),
            ("app in (web,db)", vec!["db-0", "web-1"]),
            ("app notin (web)", vec!["bare", "db-0"]),
            ("tier", vec!["db-0", "web-1"]),
            ("!tier", vec!["bare"]),
            ("app.kubernetes.io/name=shop", vec!["web-1"]),
            ("app=web,tier=back", vec![]),
            ("tier,app!=db", vec!["web-1"]),
        ] {
            let r = s.get(&format!(
                "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods?labelSelector={}",
                crate::support::enc(sel)
            ));
            assert_eq!(r.status, 200, "{sel}: {}", r.text());
            assert_eq!(names(&r.json()), want, "{sel}");
        }
        let r = s.get("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/web-1");
        assert_eq!(
            r.json()["metadata"]["labels"],
            serde_json::json!({"app": "web", "app.kubernetes.io/name": "shop", "tier": "front"})
        );
        let r = s.get("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/bare");
        assert!(r.json()["metadata"].get("labels").is_none(), "{}", r.text());
        // Node labels, and node selectors.
        let r = s.get("/apis/metrics.k8s.io/v1beta1/nodes/n1");
        assert_eq!(
            r.json()["metadata"]["labels"],
            serde_json::json!({"kubernetes.io/hostname": "n1", "zone": "a"})
        );
        for (sel, want) in [("zone=a", vec!["n1"]), ("zone!=a", vec![])] {
            let r = s.get(&format!(
                "/apis/metrics.k8s.io/v1beta1/nodes?labelSelector={}",
                crate::support::enc(sel)
            ));
            assert_eq!(names(&r.json()), want, "{sel}");
        }
    };
    check(&s);
    let r = s.get("/apis/metrics.k8s.io/v1beta1/pods?labelSelector=app%20in%20()");
    assert_eq!(
        (r.status, r.json()["reason"].as_str()),
        (400, Some("BadRequest"))
    );
    let r = s.get("/kelp/api/v1/resources/nodes");
    assert_eq!(
        r.json()["data"],
        serde_json::json!([{"node": "n1", "capacity": {"cpu": "2", "memory": "8Gi"},
            "allocatable": {"cpu": "1930m", "memory": "7Gi"}}])
    );
    // Labels change with the pod; the newest push wins.
    let relabelled: &[(&str, &str)] = &[("app", "web"), ("tier", "edge")];
    push(
        &s,
        None,
        vec![labelled(
            t0,
            3,
            &[
                ("shop", "web-1", relabelled),
                ("shop", "db-0", db),
                ("shop", "bare", &[][..]),
            ],
        )],
    );
    let r = s.get("/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods?labelSelector=tier%3Dedge");
    assert_eq!(names(&r.json()), vec!["web-1"]);
    push(&s, None, vec![labelled(t0, 4, &pods)]);
    let dir = s.stop();
    let s = TestServer::start_in(dir, "");
    check(&s);
}

const W: &str = "write-0123456789abcdef";
const R: &str = "read-0123456789abcdef";
const R_NS: &str = "read-nsa-0123456789abcdef";

fn get_as(s: &TestServer, token: &str, path: &str) -> crate::support::Resp {
    s.req(
        "GET",
        path,
        &[("Authorization", &format!("Bearer {token}"))],
        b"",
    )
}

/// Issue #9: a token scoped to `ns-a` sees only `ns-a` on every resource route: lists
/// filtered, other namespaces and the cluster-scoped node figures 403, as a Kubernetes
/// Role bound in `ns-a` would allow.
#[test]
fn a_namespace_scoped_token_sees_only_its_namespaces_on_every_resource_route() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokens.yaml");
    std::fs::write(
        &file,
        format!(
            "- {{token: {W}, tenant: a, rights: [write]}}\n\
             - {{token: {R}, tenant: a, rights: [read]}}\n\
             - {{token: {R_NS}, tenant: a, rights: [read], namespaces: [ns-a]}}\n"
        ),
    )
    .unwrap();
    let s = TestServer::start(&format!("auth: {{tokens_file: {}}}", file.display()));
    let t0 = (now_ns() / S - 40) * S;
    let app: &[(&str, &str)] = &[("app", "x")];
    let pods = [("ns-a", "pod-a", app), ("ns-b", "pod-b", app)];
    let body = kelp_wire::resources::encode(
        &ResourcePush {
            node: "n1".into(),
            collections: (0..3).map(|i| labelled(t0, i, &pods)).collect(),
        },
        1,
    );
    for (token, want) in [(R_NS, 403), (W, 200)] {
        let r = s.req(
            "POST",
            "/kelp/api/v1/resources/push",
            &[
                ("Authorization", &format!("Bearer {token}")),
                ("Content-Type", "application/json"),
                ("Content-Encoding", "zstd"),
            ],
            &body,
        );
        assert_eq!(r.status, want, "{}", r.text());
    }
    let v1 = "/apis/metrics.k8s.io/v1beta1";
    let range = |q: &str| {
        format!(
            "/kelp/api/v1/resources/range?{q}&start={}&end={}&step=15s",
            t0 / S,
            (t0 + 30 * S) / S
        )
    };
    // The unscoped reader sees everything.
    assert_eq!(
        names(&get_as(&s, R, &format!("{v1}/pods")).json()),
        ["pod-a", "pod-b"]
    );
    assert_eq!(get_as(&s, R, &format!("{v1}/nodes")).status, 200);
    // Discovery holds no data.
    for path in ["/apis/metrics.k8s.io", v1] {
        assert_eq!(get_as(&s, R_NS, path).status, 200, "{path}");
    }
    // Lists are filtered.
    for path in [
        format!("{v1}/pods"),
        format!("{v1}/pods?labelSelector=app%3Dx"),
        format!("{v1}/namespaces/ns-a/pods"),
    ] {
        let r = get_as(&s, R_NS, &path);
        assert_eq!(
            (r.status, names(&r.json())),
            (200, vec!["pod-a".to_owned()]),
            "{path}"
        );
    }
    let r = get_as(&s, R_NS, &format!("{v1}/namespaces/ns-a/pods/pod-a"));
    assert_eq!(r.json()["metadata"]["name"], "pod-a");
    // Another namespace, and nodes: Kubernetes' Forbidden.
    for (path, message) in [
        (format!("{v1}/namespaces/ns-b/pods"), "pods.metrics.k8s.io is forbidden: the token cannot list resource \"pods\" in API group \"metrics.k8s.io\" in the namespace \"ns-b\": it may read only some namespaces"),
        (format!("{v1}/namespaces/ns-b/pods/pod-b"), "pods.metrics.k8s.io \"pod-b\" is forbidden: the token cannot get resource \"pods\" in API group \"metrics.k8s.io\" in the namespace \"ns-b\": it may read only some namespaces"),
        (format!("{v1}/nodes"), "nodes.metrics.k8s.io is forbidden: the token cannot list resource \"nodes\" in API group \"metrics.k8s.io\" at the cluster scope: it may read only some namespaces"),
        (format!("{v1}/nodes/n1"), "nodes.metrics.k8s.io \"n1\" is forbidden: the token cannot get resource \"nodes\" in API group \"metrics.k8s.io\" at the cluster scope: it may read only some namespaces"),
    ] {
        let r = get_as(&s, R_NS, &path);
        assert_eq!(r.status, 403, "{path}");
        let v = r.json();
        assert_eq!((v["kind"].as_str(), v["reason"].as_str(), v["code"].as_u64()), (Some("Status"), Some("Forbidden"), Some(403)), "{path}");
        assert_eq!(v["message"], message, "{path}");
    }
    // The range API: pods and containers of ns-a only; nodes and ns-b refused.
    for q in [
        "kind=pod",
        "kind=container",
        "kind=container&namespace=ns-a",
    ] {
        let r = get_as(&s, R_NS, &range(q));
        assert_eq!(r.status, 200, "{q}: {}", r.text());
        let series = r.json()["data"]["series"].as_array().unwrap().clone();
        assert_eq!(series.len(), 1, "{q}");
        assert_eq!(series[0]["namespace"], "ns-a", "{q}");
        // The unscoped reader gets both namespaces.
        let all = get_as(&s, R, &range(q)).json()["data"]["series"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(all, if q.contains("ns-a") { 1 } else { 2 }, "{q}");
    }
    for q in ["kind=node", "kind=pod&namespace=ns-b"] {
        assert_eq!(get_as(&s, R_NS, &range(q)).status, 403, "{q}");
    }
    assert_eq!(get_as(&s, R_NS, "/kelp/api/v1/resources/nodes").status, 403);
    assert_eq!(get_as(&s, R, "/kelp/api/v1/resources/nodes").status, 200);
    // The exposition: ns-a's pods and containers, no node figures.
    let text = get_as(&s, R_NS, "/metrics/resource").text();
    assert!(
        text.contains("pod_cpu_usage_seconds_total{namespace=\"ns-a\""),
        "{text}"
    );
    assert!(
        text.contains("container_cpu_usage_seconds_total{container=\"c\",namespace=\"ns-a\""),
        "{text}"
    );
    assert!(
        !text.contains("ns-b") && !text.contains("node_cpu_usage_seconds_total{"),
        "{text}"
    );
    let all = get_as(&s, R, "/metrics/resource").text();
    assert!(
        all.contains("ns-b") && all.contains("node_cpu_usage_seconds_total{"),
        "{all}"
    );
}
