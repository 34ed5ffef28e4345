//! Kubernetes Events and termination records end to end (issue #10, item 4): the real
//! `kelp agent` against a local Kubernetes API (`kelp_agent::kube::fake`: Leases, pod
//! and event lists and watches on 127.0.0.1) and a real `kelp server`; then `kelp logs
//! --previous` ends with the termination the agent recorded.

use std::path::Path;
use std::process::{Child, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kelp_agent::kube::fake::FakeApi;
use kelp_model::Timestamp;
use serde_json::json;

use crate::common::{http, kelp, server_on, spawn_announcing};

const S: i64 = 1_000_000_000;

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn secs(ns: i64) -> String {
    Timestamp::from_unix_nanos(ns).to_rfc3339_secs()
}

/// Container app of pod shop/web-1: attempt 0 (three lines, then an OOM kill) and the
/// running attempt 1, as CRI logs.
fn write_logs(pods: &Path, t0: i64) {
    let dir = pods.join("shop_web-1_u-web-1/app");
    std::fs::create_dir_all(&dir).unwrap();
    let cri = |lines: &[(i64, &str)]| -> String {
        lines
            .iter()
            .map(|(t, l)| {
                format!(
                    "{} stdout F {l}\n",
                    Timestamp::from_unix_nanos(*t).to_rfc3339_nano()
                )
            })
            .collect()
    };
    let zero = cri(&[
        (t0, "a0 start"),
        (t0 + S, "a0 work"),
        (t0 + 2 * S, "a0 allocating"),
    ]);
    std::fs::write(dir.join("0.log"), zero).unwrap();
    std::fs::write(dir.join("1.log"), cri(&[(t0 + 10 * S, "a1 start")])).unwrap();
    let job = pods.join("shop_web-1_u-web-1/job");
    std::fs::create_dir_all(&job).unwrap();
    std::fs::write(job.join("0.log"), cri(&[(t0 + 20 * S, "job done")])).unwrap();
}

/// `kelp agent` with `config`; it and the URL of its `/metrics`.
fn agent(root: &Path, state: &Path, url: &str, config: &Path) -> (Child, String) {
    let mut cmd = kelp();
    cmd.arg("agent")
        .arg("--config")
        .arg(config)
        .arg("--pods-dir")
        .arg(root)
        .arg("--state-dir")
        .arg(state)
        .args([
            "--server",
            url,
            "--node-name",
            "node-1",
            "--listen",
            "127.0.0.1:0",
        ]);
    spawn_announcing(cmd, "kelp agent metrics on ")
}

fn logs(url: &str, args: &[&str]) -> Output {
    kelp()
        .arg("logs")
        .args(args)
        .args(["--server", url])
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The lines of a LogQL query over the last hour, oldest first.
fn query(url: &str, q: &str) -> Vec<String> {
    let enc: String = q
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let path = format!(
        "/loki/api/v1/query_range?query={enc}&start={}&end={}&direction=forward",
        now_ns() - 3600 * S,
        now_ns() + S
    );
    let (status, body) = http(url, "GET", &path, "");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut out: Vec<(String, String)> = Vec::new();
    for s in v["data"]["result"].as_array().unwrap() {
        for e in s["values"].as_array().unwrap() {
            out.push((
                e[0].as_str().unwrap().to_owned(),
                e[1].as_str().unwrap().to_owned(),
            ));
        }
    }
    out.sort();
    out.into_iter().map(|(_, l)| l).collect()
}

/// The server's count of entries dropped as duplicates.
fn duplicates(url: &str) -> u64 {
    let (_, metrics) = http(url, "GET", "/metrics", "");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("kelp_ingest_rejected_entries_total{reason=\"duplicate\"} "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn kelp_logs_previous_ends_with_the_termination_and_events_are_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let (root, state) = (dir.path().join("pods"), dir.path().join("agent"));
    let t0 = now_ns() - 300 * S;
    write_logs(&root, t0);
    let killed = secs(t0 + 3 * S);

    let api = FakeApi::start();
    api.set_list(
        "pods",
        vec![json!({
            "metadata": {"name": "web-1", "namespace": "shop", "uid": "u-web-1", "resourceVersion": "7"},
            "spec": {"nodeName": "node-1"},
            "status": {"containerStatuses": [{
                "name": "app", "restartCount": 1,
                "state": {"running": {"startedAt": secs(t0 + 10 * S)}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137,
                    "message": "memory limit 64Mi reached\n", "startedAt": secs(t0),
                    "finishedAt": killed, "containerID": "containerd://0a1b"}}},
                // Ended for good after its last line.
                {"name": "job", "restartCount": 0,
                 "state": {"terminated": {"reason": "Completed", "exitCode": 0,
                    "finishedAt": secs(t0 + 30 * S), "containerID": "containerd://0c2d"}}}]},
        })],
        "7",
    );
    let event = |rv: u64, count: i64, last: i64| {
        json!({
            "metadata": {"name": "web-1.17f", "namespace": "shop", "uid": "ev-1", "resourceVersion": rv.to_string()},
            "involvedObject": {"kind": "Pod", "namespace": "shop", "name": "web-1"},
            "reason": "BackOff", "type": "Warning", "count": count,
            "message": "Back-off restarting failed container app in pod web-1_shop(u-web-1)",
            "firstTimestamp": secs(t0 + 4 * S), "lastTimestamp": secs(last),
            "source": {"component": "kubelet", "host": "node-1"},
        })
    };
    api.set_list("events", vec![event(40, 1, t0 + 4 * S)], "50");
    api.push_watch(
        "events",
        kelp_agent::kube::fake::Watch::Lines(vec![
            json!({"type": "MODIFIED", "object": event(51, 2, t0 + 20 * S)}).to_string(),
        ]),
    );

    let (mut server, url) = server_on(&dir.path().join("data"), "127.0.0.1:0");
    let config = dir.path().join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "kubernetes:\n  enabled: true\n  api_server: {}\n  events:\n    lease_namespace: kelp\n    identity: agent-1\n    lease_duration_secs: 3\n    renew_deadline_secs: 2\n    retry_period_secs: 1\n",
            api.url
        ),
    )
    .unwrap();
    let (mut first, first_metrics) = agent(&root, &state, &url, &config);

    let comment = format!(
        "# container \"app\" terminated: OOMKilled (exit code 137) at {killed}: memory limit 64Mi reached\n"
    );
    let want = format!("a0 start\na0 work\na0 allocating\n{comment}");
    wait_for("the previous instance and its termination", || {
        let o = logs(&url, &["-n", "shop", "web-1", "-c", "app", "--previous"]);
        o.status.success() && String::from_utf8_lossy(&o.stdout) == want
    });
    // The current instance: its lines only, no termination.
    assert_eq!(
        text(&logs(&url, &["-n", "shop", "web-1", "app"])),
        "a1 start\n"
    );
    // Opted out; JSON output; prefixed.
    let out = text(&logs(
        &url,
        &[
            "-n",
            "shop",
            "web-1",
            "app",
            "-p",
            "--termination-reason=false",
        ],
    ));
    assert_eq!(out, "a0 start\na0 work\na0 allocating\n");
    let out = text(&logs(
        &url,
        &["-n", "shop", "web-1", "app", "-p", "-o", "json"],
    ));
    assert_eq!(out.lines().count(), 3, "{out}");
    assert!(out.lines().all(|l| l.starts_with('{')), "{out}");
    let out = text(&logs(
        &url,
        &[
            "-n",
            "shop",
            "web-1",
            "app",
            "-p",
            "--prefix",
            "--timestamps",
        ],
    ));
    assert!(
        out.ends_with(&format!("[pod/web-1/app] {comment}")),
        "{out}"
    );

    // A container that ended for good: its lines only; `kelp pods` counts its last line,
    // not its termination record, as last seen.
    assert_eq!(
        text(&logs(&url, &["-n", "shop", "web-1", "-c", "job"])),
        "job done\n"
    );
    wait_for("the job's termination", || {
        query(
            &url,
            r#"{source="kubernetes-termination", container="job"}"#,
        )
        .len()
            == 1
    });
    let (status, body) = http(&url, "GET", "/kelp/api/v1/pods?namespace=shop", "");
    assert_eq!(status, 200, "{body}");
    let pods: serde_json::Value = serde_json::from_str(&body).unwrap();
    let web = &pods["data"].as_array().unwrap_or_else(|| panic!("{body}"))[0];
    let job = web["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "job")
        .unwrap();
    assert_eq!(
        job["last_seen"],
        Timestamp::from_unix_nanos(t0 + 20 * S).to_rfc3339_fixed(),
        "{body}"
    );

    // The events: the listed state, then the watched repeat, each once.
    let backoff = "Warning BackOff pod/web-1: Back-off restarting failed container app in pod web-1_shop(u-web-1)";
    let events = r#"{source="kubernetes-events", namespace="shop", involved_kind="Pod", involved_name="web-1", reason="BackOff", type="Warning"}"#;
    wait_for("both event entries", || query(&url, events).len() == 2);
    assert_eq!(
        query(&url, events),
        vec![backoff.to_owned(), format!("{backoff} (x2)")]
    );
    let lease = api.lease("kelp", "kelp-events").unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "agent-1");
    // The agent's /metrics say it leads and count what it stored.
    let (status, metrics) = http(&first_metrics, "GET", "/metrics", "");
    assert_eq!(status, 200);
    for needle in [
        "kelp_agent_events_leader 1\n",
        "kelp_agent_kubernetes_events_shipped_total 2\n",
        "kelp_agent_terminations_shipped_total 2\n",
    ] {
        assert!(metrics.contains(needle), "{needle} in {metrics}");
    }

    // A stop releases the Lease. The next agent (another identity) takes it at once,
    // resumes the watch where the first stopped: nothing is stored twice.
    let pid = first.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    first.wait().unwrap();
    let lease = api.lease("kelp", "kelp-events").unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "");
    assert_eq!(
        lease["metadata"]["annotations"]["kelp.dev/events-resource-version"],
        "51"
    );
    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .unwrap()
            .replace("agent-1", "agent-2"),
    )
    .unwrap();
    assert_eq!(duplicates(&url), 0);
    let (mut second, _) = agent(&root, &state, &url, &config);
    wait_for("the second agent's lease", || {
        api.lease("kelp", "kelp-events").unwrap()["spec"]["holderIdentity"] == "agent-2"
    });
    wait_for("its events watch", || {
        api.requests()
            .iter()
            .any(|r| r.contains("/api/v1/events?watch=1") && r.contains("resourceVersion=51"))
    });
    // The pod watch listed again: both terminations again, identical, dropped by the
    // store as duplicates.
    wait_for("the resent terminations dropped", || duplicates(&url) >= 2);
    let terminations =
        "{source=\"kubernetes-termination\", namespace=\"shop\", pod=\"web-1\", container=\"app\"}";
    assert_eq!(query(&url, terminations).len(), 1);
    assert_eq!(query(&url, r#"{source="kubernetes-termination"}"#).len(), 2);
    assert_eq!(query(&url, events).len(), 2);
    let lease = api.lease("kelp", "kelp-events").unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
    second.kill().unwrap();
    second.wait().unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
}
