//! The Lease election, the events watch of its leader and the termination entries,
//! against [`super::fake::FakeApi`] (a local HTTP server keeping Leases as the API server
//! does), through the real file sink.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::api::Api;
use super::fake::{FakeApi, Watch};
use super::lease::{Elector, VERSION_ANNOTATION};
use super::*;
use crate::sink::FileSink;

fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kube_config(api: &FakeApi, token: &Path) -> KubeConfig {
    KubeConfig {
        api_server: api.url.clone(),
        token_file: Some(token.to_owned()),
        ca_file: None,
        node: "node-a".into(),
        pod_labels: Vec::new(),
        keep_deleted: Duration::from_secs(600),
        watch_timeout: Duration::from_secs(300),
        terminations: false,
        events: None,
    }
}

fn lease_config(identity: &str) -> LeaseConfig {
    let mut l = LeaseConfig::new("kelp".into(), "kelp-events".into(), identity.into());
    l.lease_duration = Duration::from_secs(2);
    l.renew_deadline = Duration::from_millis(1500);
    l.retry_period = Duration::from_millis(200);
    l
}

/// One agent: its token, its file sink's path, its stop flag and elector thread.
struct Agent {
    identity: String,
    out: PathBuf,
    stop: Arc<AtomicBool>,
    stats: Arc<crate::stats::Stats>,
    elector: Option<std::thread::JoinHandle<()>>,
}

impl Agent {
    fn start(api: &FakeApi, dir: &Path, identity: &str) -> Agent {
        let token = dir.join(format!("{identity}.token"));
        std::fs::write(&token, format!("{identity}-token\n")).unwrap();
        let out = dir.join(format!("{identity}.jsonl"));
        let sink: Arc<dyn crate::sink::Sink> = Arc::new(FileSink::open(&out).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let config = kube_config(api, &token);
        let stats = Arc::new(crate::stats::Stats::default());
        let elector = events::spawn(
            &config,
            lease_config(identity),
            sink,
            stats.clone(),
            stop.clone(),
        )
        .unwrap();
        Agent {
            identity: identity.into(),
            out,
            stop,
            stats,
            elector: Some(elector),
        }
    }

    /// The entries its sink stored: (line, labels, metadata).
    fn stored(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn lines(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .stored()
            .iter()
            .map(|e| {
                format!(
                    "{} {}",
                    e["timestamp"].as_str().unwrap(),
                    e["line"].as_str().unwrap()
                )
            })
            .collect();
        v.sort();
        v
    }

    fn stop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.elector.take() {
            t.join().unwrap();
        }
    }
}

fn event(name: &str, rv: u64, reason: &str, count: i64, last: &str, message: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                     "resourceVersion": rv.to_string()},
        "involvedObject": {"kind": "Pod", "namespace": "shop", "name": "web-1",
                           "fieldPath": "spec.containers{app}"},
        "reason": reason, "message": message, "type": if reason == "BackOff" { "Warning" } else { "Normal" },
        "count": count, "firstTimestamp": "2026-11-23T02:00:00Z", "lastTimestamp": last,
        "source": {"component": "kubelet", "host": "node-a"},
    })
}

fn watch_line(kind: &str, object: &Value) -> String {
    json!({"type": kind, "object": object}).to_string()
}

fn bookmark(rv: u64) -> String {
    json!({"type": "BOOKMARK", "object": {"kind": "Event", "apiVersion": "v1",
        "metadata": {"resourceVersion": rv.to_string()}}})
    .to_string()
}

fn holder(api: &FakeApi) -> String {
    api.lease("kelp", "kelp-events")
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[test]
fn one_leader_stores_events_and_another_takes_over_after_expiry_without_resending() {
    let api = FakeApi::start();
    let pulled = event(
        "web-1.a",
        480,
        "Pulled",
        1,
        "2026-11-23T02:00:00Z",
        "Pulled image \"web:1\"",
    );
    let backoff = event(
        "web-1.b",
        490,
        "BackOff",
        3,
        "2026-11-23T02:05:00Z",
        "Back-off restarting failed container app",
    );
    api.set_list("events", vec![pulled.clone(), backoff.clone()], "500");
    let started = event(
        "web-1.c",
        501,
        "Started",
        1,
        "2026-11-23T02:06:00Z",
        "Started container app",
    );
    let again = event(
        "web-1.b",
        502,
        "BackOff",
        4,
        "2026-11-23T02:07:00Z",
        "Back-off restarting failed container app",
    );
    api.push_watch(
        "events",
        Watch::Lines(vec![
            watch_line("ADDED", &started),
            watch_line("MODIFIED", &again),
            bookmark(503),
        ]),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut agents = [
        Agent::start(&api, dir.path(), "agent-a"),
        Agent::start(&api, dir.path(), "agent-b"),
    ];

    wait_for("a leader", || !holder(&api).is_empty());
    let leader = agents
        .iter()
        .position(|a| a.identity == holder(&api))
        .unwrap();
    let follower = 1 - leader;
    wait_for("the leader's four entries", || {
        agents[leader].stored().len() == 4
    });
    wait_for("the acknowledged version in the lease", || {
        api.lease("kelp", "kelp-events").unwrap()["metadata"]["annotations"][VERSION_ANNOTATION]
            == "503"
    });
    assert_eq!(
        agents[leader].lines(),
        vec![
            "2026-11-23T02:00:00Z Normal Pulled pod/web-1: Pulled image \"web:1\"",
            "2026-11-23T02:05:00Z Warning BackOff pod/web-1: Back-off restarting failed container app (x3)",
            "2026-11-23T02:06:00Z Normal Started pod/web-1: Started container app",
            "2026-11-23T02:07:00Z Warning BackOff pod/web-1: Back-off restarting failed container app (x4)",
        ]
    );
    let e = &agents[leader].stored()[0];
    assert_eq!(
        e["labels"],
        json!({"involved_kind": "Pod", "involved_name": "web-1", "namespace": "shop",
               "reason": e["labels"]["reason"], "source": "kubernetes-events",
               "type": e["labels"]["type"]})
    );
    assert_eq!(e["metadata"]["component"], "kubelet");
    assert_eq!(e["metadata"]["field_path"], "spec.containers{app}");
    // The follower never lists or watches events.
    let follower_token = format!("[Bearer {}-token]", agents[follower].identity);
    let leader_token = format!("[Bearer {}-token]", agents[leader].identity);
    let events_by = |token: &str| {
        api.requests()
            .into_iter()
            .filter(|r| r.starts_with("GET /api/v1/events") && r.ends_with(token))
            .collect::<Vec<_>>()
    };
    assert!(events_by(&follower_token).is_empty());
    assert_eq!(
        events_by(&leader_token)[0],
        format!("GET /api/v1/events?limit=500 {leader_token}")
    );
    let leader_gauge = |a: &Agent| {
        a.stats
            .events_leader
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let shipped = |a: &Agent| {
        a.stats
            .events_shipped
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    wait_for("the leader's gauge", || leader_gauge(&agents[leader]));
    assert!(!leader_gauge(&agents[follower]));
    assert_eq!(
        (shipped(&agents[leader]), shipped(&agents[follower])),
        (4, 0)
    );
    let lease = api.lease("kelp", "kelp-events").unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 0);
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 2);

    // The leader is cut off from the API server (as if it hung or lost the network): it
    // cannot renew; the follower takes over once the lease expired, and resumes the
    // watch at the version the leader stored.
    api.cut_off(&format!("{}-token", agents[leader].identity));
    let later = event(
        "web-1.d",
        504,
        "Killing",
        1,
        "2026-11-23T02:08:00Z",
        "Stopping container app",
    );
    api.push_watch("events", Watch::Lines(vec![watch_line("ADDED", &later)]));
    wait_for("the takeover", || holder(&api) == agents[follower].identity);
    wait_for("the new leader's entry", || {
        !agents[follower].stored().is_empty()
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        agents[follower].lines(),
        vec!["2026-11-23T02:08:00Z Normal Killing pod/web-1: Stopping container app"]
    );
    let by_new = events_by(&follower_token);
    assert!(
        by_new[0].starts_with("GET /api/v1/events?watch=1&allowWatchBookmarks=true&timeoutSeconds=60&resourceVersion=503 "),
        "{by_new:?}"
    );
    assert!(
        !by_new.iter().any(|r| r.contains("limit=500")),
        "{by_new:?}"
    );
    // The cut-off agent gave up leading once it could not renew.
    wait_for("the old leader's gauge", || !leader_gauge(&agents[leader]));
    assert!(leader_gauge(&agents[follower]));
    assert_eq!(shipped(&agents[follower]), 1);
    let lease = api.lease("kelp", "kelp-events").unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    assert_ne!(
        lease["spec"]["acquireTime"],
        lease["spec"]["renewTime"].clone().to_string()
    );

    // Stopping the leader releases the lease at once.
    agents[follower].stop();
    let lease = api.lease("kelp", "kelp-events").unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "");
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 1);
    assert_eq!(lease["metadata"]["annotations"][VERSION_ANNOTATION], "504");
    agents[leader].stop();
}

#[test]
fn a_stale_resource_version_loses_the_race_with_409_conflict() {
    let api = FakeApi::start();
    let dir = tempfile::tempdir().unwrap();
    let electors: Vec<Elector> = ["x", "y"]
        .iter()
        .map(|id| {
            let token = dir.path().join(id);
            std::fs::write(&token, *id).unwrap();
            let c = kube_config(&api, &token);
            Elector::new(
                Api::new(&c, Duration::from_secs(10)).unwrap(),
                lease_config(id),
            )
        })
        .collect();
    let mut electors = electors.into_iter();
    let (mut x, mut y) = (electors.next().unwrap(), electors.next().unwrap());
    // x creates the lease; y finds it held and valid.
    assert_eq!(x.try_acquire_or_renew(None).unwrap(), Some(None));
    assert_eq!(y.try_acquire_or_renew(None).unwrap(), None);
    // x renews, recording a version (a renewal reports the version it found); then
    // gives the lease up.
    assert_eq!(x.try_acquire_or_renew(Some("77")).unwrap(), Some(None));
    assert_eq!(
        x.try_acquire_or_renew(Some("77")).unwrap(),
        Some(Some("77".into()))
    );
    x.release(Some("78")).unwrap();
    // Both read the released lease at the same version and update it: one wins, the
    // other gets 409 Conflict.
    api.hold_puts();
    let tx = std::thread::spawn(move || x.try_acquire_or_renew(None).unwrap());
    let ty = std::thread::spawn(move || y.try_acquire_or_renew(None).unwrap());
    wait_for("two updates waiting", || api.pending_puts() == 2);
    api.release_puts();
    let (rx, ry) = (tx.join().unwrap(), ty.join().unwrap());
    // The winner resumes at the version the lease carries.
    let won: Vec<_> = [rx, ry].into_iter().flatten().collect();
    assert_eq!(won, vec![Some("78".to_owned())]);
    let answers = api.lease_answers();
    let last_two: Vec<&str> = answers[answers.len() - 2..]
        .iter()
        .map(|a| a.rsplit(" -> ").next().unwrap())
        .collect();
    let mut sorted = last_two.clone();
    sorted.sort();
    assert_eq!(sorted, vec!["200", "409"], "{answers:?}");
    let lease = api.lease("kelp", "kelp-events").unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    assert_eq!(
        answers[0],
        "GET /apis/coordination.k8s.io/v1/namespaces/kelp/leases/kelp-events [Bearer x] -> 404"
    );
    assert_eq!(
        answers[1],
        "POST /apis/coordination.k8s.io/v1/namespaces/kelp/leases [Bearer x] -> 201"
    );
}

#[test]
fn a_410_gone_watch_lists_again_and_resends_identical_entries() {
    let api = FakeApi::start();
    let a = event("db-0.a", 10, "Pulled", 1, "2026-11-23T01:00:00Z", "Pulled");
    let b = event(
        "db-0.b",
        11,
        "Started",
        1,
        "2026-11-23T01:00:01Z",
        "Started",
    );
    // An event that is no event (a count that is text) is skipped.
    let bad = json!({"metadata": {"name": "bad", "namespace": "x"}, "count": "many",
        "lastTimestamp": "2026-11-23T01:00:00Z"});
    api.set_list("events", vec![a.clone(), bad], "20");
    api.push_watch("events", Watch::Lines(vec![watch_line("ADDED", &b)]));
    api.push_watch(
        "events",
        Watch::Lines(vec![
            json!({"type": "ERROR", "object": {"kind": "Status", "code": 410}}).to_string(),
        ]),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(&api, dir.path(), "solo");
    wait_for("two entries", || agent.stored().len() == 2);
    // The watch ended with 410: the next list (at version 30) has both events.
    api.set_list("events", vec![a, b], "30");
    wait_for("the relist's entries", || agent.stored().len() == 4);
    let lines = agent.lines();
    // Each entry twice, identical: the store drops the second copy.
    assert_eq!(lines[0], lines[1]);
    assert_eq!(lines[2], lines[3]);
    let mut whole: Vec<String> = agent.stored().iter().map(Value::to_string).collect();
    whole.sort();
    assert_eq!((&whole[0], &whole[2]), (&whole[1], &whole[3]));
    let lists = api
        .requests()
        .iter()
        .filter(|r| r.starts_with("GET /api/v1/events?limit=500"))
        .count();
    assert_eq!(lists, 2);
    agent.stop();
}

fn status_pod(statuses: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1"},
        "status": {"containerStatuses": statuses},
    }))
    .unwrap()
}

#[test]
fn terminations_become_one_entry_each_with_the_restart_of_their_log() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.jsonl");
    let sink: Arc<dyn crate::sink::Sink> = Arc::new(FileSink::open(&out).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(crate::stats::Stats::default());
    let ship = ship::spawn(
        "t",
        sink,
        ship::Acked::default(),
        (stats, |s| &s.terminations_shipped),
        stop,
    )
    .unwrap();
    let mut t = termination::Terminations::new("node-a".into(), ship);
    let oom = json!({"reason": "OOMKilled", "exitCode": 137, "message": "out of memory\n",
        "startedAt": "2026-11-23T01:00:00Z", "finishedAt": "2026-11-23T01:10:00Z",
        "containerID": "containerd://aaa"});
    let pod = status_pod(json!([
        // Restarted after an OOM kill: the terminated attempt is the one before.
        {"name": "app", "restartCount": 3, "state": {"running": {"startedAt": "2026-11-23T01:10:05Z"}},
         "lastState": {"terminated": oom}},
        // Ended for good (restartPolicy Never): the current attempt.
        {"name": "init", "restartCount": 0, "state": {"terminated": {"reason": "Completed",
         "exitCode": 0, "finishedAt": "2026-11-23T00:59:00Z", "containerID": "containerd://bbb"}}},
        // In back-off: the latest attempt, not replaced yet.
        {"name": "side", "restartCount": 5, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
         "lastState": {"terminated": {"reason": "Error", "exitCode": 1, "signal": 0,
         "finishedAt": "2026-11-23T01:11:00Z", "containerID": "containerd://ccc"}}},
        // Never terminated; a termination without a time: nothing.
        {"name": "new", "restartCount": 0, "state": {"running": {}}},
        {"name": "odd", "restartCount": 0, "state": {"terminated": {"reason": "Error", "exitCode": 2}}},
    ]));
    let first = t.entries(&pod);
    // Seen again (a MODIFIED event, a relist): nothing new.
    assert!(t.entries(&pod).is_empty());
    let got: Vec<(String, String, String, String)> = first
        .iter()
        .map(|s| {
            let e = &s.entries[0];
            let meta: Vec<String> = e
                .metadata
                .iter()
                .map(|m| format!("{}={}", m.name, m.value))
                .collect();
            (
                s.labels.to_string(),
                e.timestamp.to_rfc3339_nano(),
                meta.join(","),
                String::from_utf8(e.line.to_vec()).unwrap(),
            )
        })
        .collect();
    let labels = |c: &str| {
        format!(
            "{{container=\"{c}\", namespace=\"shop\", node=\"node-a\", pod=\"web-1\", source=\"kubernetes-termination\"}}"
        )
    };
    assert_eq!(
        got,
        vec![
            (
                labels("app"),
                "2026-11-23T01:10:00Z".into(),
                "pod_uid=u-1,restart=2".into(),
                r#"{"reason":"OOMKilled","exitCode":137,"message":"out of memory\n","startedAt":"2026-11-23T01:00:00Z","finishedAt":"2026-11-23T01:10:00Z","containerID":"containerd://aaa"}"#.into()
            ),
            (
                labels("init"),
                "2026-11-23T00:59:00Z".into(),
                "pod_uid=u-1,restart=0".into(),
                r#"{"reason":"Completed","exitCode":0,"finishedAt":"2026-11-23T00:59:00Z","containerID":"containerd://bbb"}"#.into()
            ),
            (
                labels("side"),
                "2026-11-23T01:11:00Z".into(),
                "pod_uid=u-1,restart=5".into(),
                r#"{"reason":"Error","exitCode":1,"finishedAt":"2026-11-23T01:11:00Z","containerID":"containerd://ccc"}"#.into()
            ),
        ]
    );
    // The next attempt ends: a new entry.
    let pod = status_pod(
        json!([{"name": "app", "restartCount": 4, "state": {"running": {}},
        "lastState": {"terminated": {"reason": "Error", "exitCode": 1,
        "finishedAt": "2026-11-23T01:20:00Z", "containerID": "containerd://ddd"}}}]),
    );
    let next = t.entries(&pod);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].entries[0].metadata[1].value, "3");
}

#[test]
fn event_entries_from_every_shape_of_event() {
    let one = |v: Value| {
        events::entry_of(v).unwrap().map(|s| {
            let e = &s.entries[0];
            (
                s.labels.to_string(),
                e.timestamp.to_rfc3339_nano(),
                String::from_utf8(e.line.to_vec()).unwrap(),
            )
        })
    };
    // events.k8s.io/v1 style: eventTime and a series, cluster-scoped object.
    let node = json!({"metadata": {"name": "n.1", "namespace": "default", "uid": "e1",
        "creationTimestamp": "2026-11-23T00:00:00Z"},
        "involvedObject": {"kind": "Node", "name": "node-a"}, "reason": "NodeNotReady",
        "message": "Node node-a status is now: NodeNotReady", "type": "Normal",
        "eventTime": "2026-11-23T00:00:01.250000Z",
        "series": {"count": 2, "lastObservedTime": "2026-11-23T00:05:00.500000Z"},
        "reportingComponent": "node-controller"});
    assert_eq!(
        one(node),
        Some((
            "{involved_kind=\"Node\", involved_name=\"node-a\", namespace=\"default\", reason=\"NodeNotReady\", source=\"kubernetes-events\", type=\"Normal\"}".into(),
            "2026-11-23T00:05:00.5Z".into(),
            "Normal NodeNotReady node/node-a: Node node-a status is now: NodeNotReady (x2)".into()
        ))
    );
    // Only a creation time; no reason or type.
    let bare = json!({"metadata": {"name": "x", "namespace": "ns", "creationTimestamp": "2026-11-23T00:00:00Z"},
        "involvedObject": {"kind": "ConfigMap", "name": "cm"}, "message": "hello"});
    assert_eq!(one(bare).unwrap().2, "- - configmap/cm: hello");
    // No time at all: no entry; not an object: an error.
    assert_eq!(
        one(json!({"metadata": {"name": "y"}, "message": "m"})),
        None
    );
    assert!(events::entry_of(json!("nope")).is_err());
}
