//! Resource metrics end to end (issue #7): the real agent reads a fixture node (pod log
//! tree, systemd + containerd cgroup v2 tree, `/proc`), pushes to the real server, and
//! `kelp top`, metrics.k8s.io, the range API and a real Prometheus read the figures back.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{http, kelp, server_on, spawn_announcing};

const MIB: u64 = 1 << 20;
const INACTIVE: u64 = 4_194_304;

/// A container of the fixture: namespace, pod, pod UID, container, id, working set.
struct Ctr {
    ns: &'static str,
    pod: &'static str,
    uid: &'static str,
    name: &'static str,
    id: String,
    ws: u64,
}

fn containers() -> Vec<Ctr> {
    let id = |c: char| c.to_string().repeat(64);
    vec![
        Ctr {
            ns: "shop",
            pod: "web-1",
            uid: "0f3e9c1a-2b4d-4e5f-8a6b-7c8d9e0f1a2b",
            name: "app",
            id: id('a'),
            ws: 48_263_168,
        },
        Ctr {
            ns: "shop",
            pod: "web-1",
            uid: "0f3e9c1a-2b4d-4e5f-8a6b-7c8d9e0f1a2b",
            name: "sidecar",
            id: id('b'),
            ws: 10 * MIB,
        },
        Ctr {
            ns: "kube-system",
            pod: "dns-1",
            uid: "11111111-2222-3333-4444-555555555555",
            name: "dns",
            id: id('c'),
            ws: 20 * MIB,
        },
    ]
}

fn write_cgroup(dir: &Path, usage_usec: u64, ws: u64) {
    fs::create_dir_all(dir).unwrap();
    fs::write(
        dir.join("cpu.stat"),
        format!("usage_usec {usage_usec}\nuser_usec 1\nsystem_usec 1\n"),
    )
    .unwrap();
    fs::write(dir.join("memory.current"), format!("{}\n", ws + INACTIVE)).unwrap();
    fs::write(
        dir.join("memory.stat"),
        format!("anon {ws}\nfile {INACTIVE}\ninactive_file {INACTIVE}\n"),
    )
    .unwrap();
}

fn pod_dir(cgroup: &Path, uid: &str) -> PathBuf {
    cgroup.join(format!(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice",
        uid.replace('-', "_")
    ))
}

/// The node under `root`: static counters (so CPU rates are 0 and memory exact), two
/// CPUs and 8 GiB in `proc`.
fn fixture(root: &Path) {
    let cgroup = root.join("cgroup");
    let pods = root.join("var/log/pods");
    let links = root.join("var/log/containers");
    fs::create_dir_all(&links).unwrap();
    fs::write(cgroup_file(&cgroup, "cgroup.controllers"), "cpu memory\n").unwrap();
    fs::write(cgroup.join("cpu.stat"), "usage_usec 5000000000\n").unwrap();
    let node_ws = 2u64 << 30;
    fs::write(
        cgroup.join("memory.stat"),
        format!("anon {node_ws}\nfile {INACTIVE}\ninactive_file {INACTIVE}\n"),
    )
    .unwrap();
    let proc = root.join("proc");
    fs::create_dir_all(&proc).unwrap();
    fs::write(
        proc.join("stat"),
        "cpu 1 0 1 0\ncpu0 1 0 1 0\ncpu1 1 0 1 0\n",
    )
    .unwrap();
    fs::write(
        proc.join("meminfo"),
        "MemTotal:        8388608 kB\nMemFree: 1 kB\n",
    )
    .unwrap();
    for c in containers() {
        let dir = pods.join(format!("{}_{}_{}/{}", c.ns, c.pod, c.uid, c.name));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("0.log"), "").unwrap();
        std::os::unix::fs::symlink(
            dir.join("0.log"),
            links.join(format!("{}_{}_{}-{}.log", c.pod, c.ns, c.name, c.id)),
        )
        .unwrap();
        let pd = pod_dir(&cgroup, c.uid);
        write_cgroup(
            &pd.join(format!("cri-containerd-{}.scope", c.id)),
            1_000_000,
            c.ws,
        );
    }
    // Pod cgroups: their containers plus 1 MiB of sandbox.
    write_cgroup(
        &pod_dir(&cgroup, containers()[0].uid),
        3_000_000,
        48_263_168 + 11 * MIB,
    );
    write_cgroup(&pod_dir(&cgroup, containers()[2].uid), 2_000_000, 21 * MIB);
}

fn cgroup_file(cgroup: &Path, name: &str) -> PathBuf {
    fs::create_dir_all(cgroup).unwrap();
    cgroup.join(name)
}

/// `kelp agent` on the fixture, collecting every second; returns it and its /metrics URL.
fn agent(root: &Path, state: &Path, url: &str) -> (Child, String) {
    let mut cmd = kelp();
    cmd.arg("agent")
        .arg("--pods-dir")
        .arg(root.join("var/log/pods"))
        .arg("--state-dir")
        .arg(state)
        .arg("--cgroup-root")
        .arg(root.join("cgroup"))
        .arg("--proc-root")
        .arg(root.join("proc"))
        .args([
            "--server",
            url,
            "--node-name",
            "n1",
            "--metrics-interval",
            "1s",
        ])
        .args(["--listen", "127.0.0.1:0"]);
    spawn_announcing(cmd, "kelp agent metrics on ")
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn top(url: &str, args: &[&str]) -> String {
    let out = kelp()
        .arg("top")
        .args(args)
        .args(["--server", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kelp top {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Waits until `f` gives `Some`, at most `secs` seconds.
fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Cells padded as kubectl's tabwriter does (min width 6, padding 3, after every cell).
fn table(rows: &[&[&str]]) -> String {
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].len() + 3).max().unwrap().max(6))
        .collect();
    rows.iter()
        .map(|r| {
            r.iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect::<String>()
                + "\n"
        })
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn json(url: &str, path: &str) -> serde_json::Value {
    let (status, body) = http(url, "GET", path, "");
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn agent_fixture_to_kelp_top_and_metrics_api() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node");
    fixture(&root);
    let (server, url) = server_on(&dir.path().join("data"), "127.0.0.1:0");
    let (agent, _metrics) = agent(&root, &dir.path().join("state"), &url);

    let want_pods = table(&[
        &["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"],
        &["kube-system", "dns-1", "0m", "20Mi"],
        &["shop", "web-1", "0m", "56Mi"],
    ]);
    let pods = wait_for(30, "kelp top pod -A", || {
        let out = top(&url, &["pod", "-A"]);
        (out == want_pods).then_some(out)
    });
    assert_eq!(pods, want_pods);
    assert_eq!(
        top(&url, &["pod", "-n", "shop", "--containers"]),
        table(&[
            &["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"],
            &["web-1", "app", "0m", "46Mi"],
            &["web-1", "sidecar", "0m", "10Mi"],
        ])
    );
    // 2 GiB of 8 GiB; capacity from the fixture's /proc (two CPUs).
    assert_eq!(
        top(&url, &["node"]),
        table(&[
            &["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"],
            &["n1", "0m", "0%", "2048Mi", "25%"],
        ])
    );
    let out = kelp()
        .args(["top", "pod", "-n", "other", "--server", &url])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "No resources found in other namespace.\n"
    );
    let out = kelp()
        .args(["top", "pod", "--sort-by", "name", "--server", &url])
        .output()
        .unwrap();
    assert!(!out.status.success());

    // metrics.k8s.io as metrics-server writes it.
    let pod = json(
        &url,
        "/apis/metrics.k8s.io/v1beta1/namespaces/shop/pods/web-1",
    );
    assert_eq!(pod["kind"], "PodMetrics");
    assert_eq!(
        pod["containers"],
        serde_json::json!([
            {"name": "app", "usage": {"cpu": "0", "memory": "47132Ki"}},
            {"name": "sidecar", "usage": {"cpu": "0", "memory": "10Mi"}}
        ])
    );
    assert!(pod["window"].as_str().unwrap().ends_with('s'), "{pod}");
    let (_, raw) = http(&url, "GET", "/apis/metrics.k8s.io/v1beta1/nodes/n1", "");
    assert!(raw.starts_with(r#"{"kind":"NodeMetrics","apiVersion":"metrics.k8s.io/v1beta1","metadata":{"name":"n1","creationTimestamp":""#), "{raw}");
    assert!(
        raw.ends_with(r#""usage":{"cpu":"0","memory":"2Gi"}}"#),
        "{raw}"
    );
    let json_out = top(&url, &["pod", "web-1", "-n", "shop", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json_out).unwrap();
    assert_eq!(v["kind"], "PodMetricsList");
    assert_eq!(v["items"][0]["metadata"]["name"], "web-1");

    // The app container uses 1.5 s of CPU once: history keeps the spike.
    let before = now_s();
    let app = &containers()[0];
    let scope =
        pod_dir(&root.join("cgroup"), app.uid).join(format!("cri-containerd-{}.scope", app.id));
    write_cgroup(&scope, 1_500_000 + 1_000_000, app.ws);
    let path = format!(
        "/kelp/api/v1/resources/range?kind=container&namespace=shop&pod=web-1&container=app&start={before}&end={}&step=1s",
        before + 60
    );
    let spike = wait_for(30, "the CPU spike in the range API", || {
        let v = json(&url, &path);
        assert_eq!(v["data"]["window"], "1s");
        v["data"]["series"][0]["cpu"]
            .as_array()?
            .iter()
            .find(|p| p[1].as_f64().unwrap_or(0.0) > 0.3)
            .map(|p| p[0].as_i64().unwrap())
    });
    // `kelp top --at` that second shows it; now it is gone again (the counter is flat).
    let at = top(
        &url,
        &[
            "pod",
            "-n",
            "shop",
            "--containers",
            "--at",
            &spike.to_string(),
        ],
    );
    let app_row: Vec<&str> = at.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(app_row[1], "app", "{at}");
    let millis: u64 = app_row[2].trim_end_matches('m').parse().unwrap();
    assert!(millis >= 300, "{at}");
    wait_for(30, "the spike to leave the current window", || {
        let now = top(&url, &["pod", "-n", "shop", "--containers"]);
        let row: Vec<String> = now
            .lines()
            .nth(1)?
            .split_whitespace()
            .map(String::from)
            .collect();
        (row[1] == "app" && row[2] == "0m").then_some(())
    });
    stop(agent);
    stop(server);
}

#[test]
fn resource_samples_survive_a_server_outage_and_an_agent_crash() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node");
    fixture(&root);
    let listen = format!("127.0.0.1:{}", free_port());
    let data = dir.path().join("data");
    let state = dir.path().join("state");
    let (server, url) = server_on(&data, &listen);
    let (mut agent1, metrics) = agent(&root, &state, &url);
    wait_for(30, "first samples", || {
        let v = json(&url, "/apis/metrics.k8s.io/v1beta1/nodes");
        (!v["items"].as_array()?.is_empty()).then_some(())
    });
    // The server goes away; the agent spools; it is killed mid-outage and restarted.
    stop(server);
    let down = now_s();
    std::thread::sleep(Duration::from_secs(6));
    let (status, text) = http(&metrics, "GET", "/metrics", "");
    assert_eq!(status, 200);
    assert!(!text.contains("kelp_agent_resource_spooled 0\n"), "{text}");
    agent1.kill().unwrap();
    agent1.wait().unwrap();
    let (agent2, metrics) = agent(&root, &state, &url);
    std::thread::sleep(Duration::from_secs(6));
    let (server, url) = server_on(&data, &listen);
    let up = now_s();
    wait_for(30, "the spool to drain", || {
        let (_, text) = http(&metrics, "GET", "/metrics", "");
        text.contains("kelp_agent_resource_spooled 0\n")
            .then_some(())
    });
    // A memory point every second of the outage: no gap longer than the staleness
    // limit (5 s), so the spooled samples of both agents arrived.
    let path = format!("/kelp/api/v1/resources/range?kind=node&start={down}&end={up}&step=1s");
    let v = json(&url, &path);
    let points = v["data"]["series"][0]["memory"].as_array().unwrap().len() as i64;
    assert_eq!(points, up - down + 1, "{v}");
    assert!(v["data"]["series"][0]["memory"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p[1] == 2u64 << 30));
    stop(agent2);
    stop(server);
}

#[test]
fn prometheus_scrapes_kelp() {
    let prometheus = Path::new("/usr/bin/prometheus");
    assert!(
        prometheus.exists(),
        "this test needs Debian's prometheus package (.ci/deps installs it: apt-get install prometheus)"
    );
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node");
    fixture(&root);
    let (server, url) = server_on(&dir.path().join("data"), "127.0.0.1:0");
    let (agent, _) = agent(&root, &dir.path().join("state"), &url);
    wait_for(30, "the exposition", || {
        let (_, text) = http(&url, "GET", "/metrics/resource", "");
        text.contains("container_memory_working_set_bytes{")
            .then_some(())
    });
    let target = url.trim_start_matches("http://");
    let config = dir.path().join("prometheus.yml");
    fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: kelp\n    metrics_path: /metrics/resource\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let prom_addr = format!("127.0.0.1:{}", free_port());
    let prom = Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={prom_addr}"))
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.path().join("prometheus.log")).unwrap())
        .spawn()
        .unwrap();
    let prom_url = format!("http://{prom_addr}");
    let query = |q: &str| -> Option<serde_json::Value> {
        let path = format!(
            "/api/v1/query?query={}",
            q.replace('"', "%22")
                .replace('{', "%7B")
                .replace('}', "%7D")
                .replace('=', "%3D")
                .replace(',', "%2C")
        );
        let (status, body) = http(&prom_url, "GET", &path, "");
        if status != 200 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let r = v["data"]["result"].as_array()?.first()?.clone();
        Some(r)
    };
    let node = wait_for(
        60,
        "Prometheus to have Kelp's node_memory_working_set_bytes",
        || query("node_memory_working_set_bytes"),
    );
    assert_eq!(node["metric"]["node"], "n1", "{node}");
    assert_eq!(node["metric"]["job"], "kelp", "{node}");
    assert_eq!(node["value"][1], "2147483648", "{node}");
    let app = query(
        r#"container_memory_working_set_bytes{container="app",namespace="shop",pod="web-1"}"#,
    )
    .unwrap();
    assert_eq!(app["value"][1], "48263168", "{app}");
    let cpu = query(r#"pod_cpu_usage_seconds_total{pod="dns-1"}"#).unwrap();
    assert_eq!(cpu["value"][1], "2", "{cpu}");
    let log = fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
    let _ = Command::new("kill")
        .args(["-TERM", &prom.id().to_string()])
        .status();
    let mut prom = prom;
    let _ = prom.wait();
    assert!(!log.contains("level=error"), "{log}");
    stop(agent);
    stop(server);
}

/// A Kubernetes API on 127.0.0.1 for the agent: the node's pods (list; a watch that
/// stays open without events until the test ends) and its Node object, answered by path
/// as the API server does. Returns its URL and a flag that ends the watches.
fn fake_kubernetes_api() -> (String, std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let pod = |ns: &str, name: &str, uid: &str, labels: serde_json::Value| {
        serde_json::json!({"metadata": {"name": name, "namespace": ns, "uid": uid,
            "resourceVersion": "10", "labels": labels}})
    };
    let c = containers();
    let list = serde_json::json!({"kind": "PodList", "apiVersion": "v1",
        "metadata": {"resourceVersion": "10"},
        "items": [
            pod("shop", "web-1", c[0].uid, serde_json::json!({"app": "web", "app.kubernetes.io/part-of": "shop", "tier": "front"})),
            pod("kube-system", "dns-1", c[2].uid, serde_json::json!({"k8s-app": "kube-dns"})),
        ]})
    .to_string();
    let node = serde_json::json!({"kind": "Node", "apiVersion": "v1",
        "metadata": {"name": "n1", "labels": {"kubernetes.io/hostname": "n1", "topology.kubernetes.io/zone": "z1"}},
        "status": {"capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"},
                   "allocatable": {"cpu": "1500m", "memory": "4Gi", "pods": "110"}}})
    .to_string();
    let flag = done.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let (list, node, flag) = (list.clone(), node.clone(), flag.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                }
                let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                let reply = |conn: &mut std::net::TcpStream, status: &str, body: &str| {
                    let _ = write!(
                        conn,
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                };
                if target == "/api/v1/nodes/n1" {
                    reply(&mut conn, "200 OK", &node);
                } else if target.starts_with("/api/v1/pods?") && target.contains("watch=1") {
                    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
                    let _ = conn.flush();
                    while !flag.load(Ordering::SeqCst) {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    let _ = conn.write_all(b"0\r\n\r\n");
                } else if target.starts_with("/api/v1/pods?")
                    && target.contains("fieldSelector=spec.nodeName%3Dn1")
                {
                    reply(&mut conn, "200 OK", &list);
                } else {
                    reply(
                        &mut conn,
                        "404 Not Found",
                        r#"{"kind":"Status","code":404}"#,
                    );
                }
            });
        }
    });
    (url, done)
}

/// Issue #7: with the Kubernetes API, the agent's one pod watch gives the resource
/// samples every pod label and the Node object gives node labels and allocatable: `kelp
/// top pod -l`, `labelSelector` and `kelp top node`'s percentages (of allocatable, as
/// kubectl's; `--show-capacity` of capacity) work end to end.
#[test]
fn pod_labels_and_node_allocatable_from_the_kubernetes_api() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node");
    fixture(&root);
    let (api, done) = fake_kubernetes_api();
    let (server, url) = server_on(&dir.path().join("data"), "127.0.0.1:0");
    let mut cmd = kelp();
    cmd.env("KELP_AGENT_KUBERNETES__ENABLED", "true")
        .env("KELP_AGENT_KUBERNETES__API_SERVER", &api)
        .arg("agent")
        .arg("--pods-dir")
        .arg(root.join("var/log/pods"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--cgroup-root")
        .arg(root.join("cgroup"))
        .arg("--proc-root")
        .arg(root.join("proc"))
        .args([
            "--server",
            &url,
            "--node-name",
            "n1",
            "--metrics-interval",
            "1s",
        ])
        .args(["--listen", "127.0.0.1:0"]);
    let (agent, _) = spawn_announcing(cmd, "kelp agent metrics on ");

    let want = table(&[
        &["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"],
        &["shop", "web-1", "0m", "56Mi"],
    ]);
    let out = wait_for(30, "kelp top pod -A -l app=web", || {
        let out = top(&url, &["pod", "-A", "-l", "app=web"]);
        (out == want).then_some(out)
    });
    assert_eq!(out, want);
    assert_eq!(
        top(
            &url,
            &[
                "pod",
                "-A",
                "-l",
                "k8s-app in (kube-dns),!tier",
                "--no-headers"
            ]
        ),
        table(&[&["kube-system", "dns-1", "0m", "20Mi"]])
    );
    assert_eq!(
        top(
            &url,
            &[
                "pod",
                "-A",
                "-l",
                "app.kubernetes.io/part-of!=shop",
                "--no-headers"
            ]
        ),
        table(&[&["kube-system", "dns-1", "0m", "20Mi"]])
    );
    let v = json(
        &url,
        "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=tier%3Dfront",
    );
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{v}");
    assert_eq!(
        items[0]["metadata"]["labels"],
        serde_json::json!({"app": "web", "app.kubernetes.io/part-of": "shop", "tier": "front"})
    );
    let v = json(
        &url,
        "/apis/metrics.k8s.io/v1beta1/pods?labelSelector=tier%3Dback",
    );
    assert_eq!(v["items"], serde_json::json!([]));
    // Node labels, and percentages of allocatable (1500m, 4Gi): 2 GiB is 50 %.
    let v = json(&url, "/apis/metrics.k8s.io/v1beta1/nodes/n1");
    assert_eq!(v["metadata"]["labels"]["topology.kubernetes.io/zone"], "z1");
    let want_node = table(&[
        &["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"],
        &["n1", "0m", "0%", "2048Mi", "50%"],
    ]);
    assert_eq!(top(&url, &["node"]), want_node);
    assert_eq!(
        top(&url, &["node", "-l", "topology.kubernetes.io/zone=z1"]),
        want_node
    );
    assert_eq!(
        top(&url, &["node", "--show-capacity"]),
        table(&[
            &["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"],
            &["n1", "0m", "0%", "2048Mi", "25%"],
        ])
    );
    stop(agent);
    stop(server);
    done.store(true, std::sync::atomic::Ordering::SeqCst);
}
