//! Replicas end to end (issue #11, items 2 and 3): three `kelp server` replicas, ten
//! simulated nodes with their agents spreading streams over the replicas; one replica is
//! killed with SIGKILL mid-ingest, queries during the outage answer with what the others
//! hold and name the missing replica, the replica restarts on its data (its WAL replays),
//! and `kelp verify` finds every line of every node exactly once, asking any replica.
//!
//! Local disks; the same with a shared S3 bucket is `replicas_bucket.rs`. `KELP_REPLICA_NODES` and
//! `KELP_REPLICA_SECS` make it bigger (a soak outside CI, see bench/RESULTS.md).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::agent::{kelp, kill, verify};
use crate::common::{http, http_with_headers, server_with_env};

pub(crate) fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A free port on 127.0.0.1 (bound, then released for the server to take).
pub(crate) fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// Replica `addr` with its data in `dir`, knowing every replica in `peers`.
fn replica(dir: &Path, addr: &str, peers: &str) -> Child {
    let me = format!("http://{addr}");
    let (child, url) = server_with_env(
        dir,
        addr,
        &[
            ("KELP_SERVER_REPLICAS__PEERS", peers),
            ("KELP_SERVER_REPLICAS__SELF_URL", &me),
            ("KELP_SERVER_REPLICAS__TIMEOUT_SECS", "5"),
        ],
    );
    assert_eq!(url, me);
    child
}

/// A small busy node: rotation every 64 KiB checked every 50 ms, 3 files, restarts.
pub(crate) fn simulate(root: &Path, ledger: &Path, secs: u64, seed: u64) -> Child {
    kelp()
        .arg("simulate")
        .arg("--root")
        .arg(root)
        .args([
            "--pods",
            "2",
            "--rate",
            "200",
            "--duration",
            &secs.to_string(),
        ])
        .args([
            "--max-size",
            "64Ki",
            "--max-files",
            "3",
            "--rotate-check-ms",
            "50",
        ])
        .args([
            "--restart-every",
            "3",
            "--seed",
            &seed.to_string(),
            "--ledger",
        ])
        .arg(ledger)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

pub(crate) fn agent(
    root: &Path,
    state: &Path,
    servers: &[String],
    node: &str,
    log: &Path,
) -> Child {
    let mut cmd = kelp();
    cmd.arg("agent")
        .arg("--pods-dir")
        .arg(root.join("var/log/pods"))
        .arg("--state-dir")
        .arg(state)
        .args(["--node-name", node, "--listen", "none"]);
    for s in servers {
        cmd.args(["--server", s]);
    }
    let log = std::fs::File::create(log).unwrap();
    cmd.env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

pub(crate) fn query_path(query: &str, extra: &str) -> String {
    let qs = form_urlencoded::Serializer::new(String::new())
        .append_pair("query", query)
        .append_pair("since", "1h")
        .append_pair("limit", "5")
        .finish();
    format!("/loki/api/v1/query_range?{qs}{extra}")
}

#[test]
fn three_replicas_ten_nodes_a_replica_killed_mid_ingest_nothing_lost_or_doubled() {
    let nodes = env_num("KELP_REPLICA_NODES", 10);
    let secs = env_num("KELP_REPLICA_SECS", 8);
    let dir = tempfile::tempdir().unwrap();
    let addrs: Vec<String> = (0..3).map(|_| free_addr()).collect();
    let urls: Vec<String> = addrs.iter().map(|a| format!("http://{a}")).collect();
    let peers = urls.join(",");
    let data: Vec<PathBuf> = (0..3)
        .map(|i| dir.path().join(format!("data-{i}")))
        .collect();
    let mut servers: Vec<Child> = (0..3)
        .map(|i| replica(&data[i], &addrs[i], &peers))
        .collect();

    let mut sims = Vec::new();
    let mut agents = Vec::new();
    let mut ledgers = Vec::new();
    for n in 0..nodes {
        let node = dir.path().join(format!("node-{n}"));
        let ledger = dir.path().join(format!("ledger-{n}.jsonl"));
        std::fs::create_dir_all(&node).unwrap();
        sims.push(simulate(&node.join("root"), &ledger, secs, 100 + n));
        agents.push(agent(
            &node.join("root"),
            &node.join("agent"),
            &urls,
            &format!("node-{n}"),
            &node.join("agent.log"),
        ));
        ledgers.push(ledger);
    }

    // Mid-ingest, replica 2 dies without a chance to flush anything.
    std::thread::sleep(Duration::from_secs(secs * 3 / 8));
    let killed_at = kelp_model::Timestamp::now();
    kill(&mut servers[2]);
    let down = Instant::now();

    // During the outage: every query still answers, from replicas 0 and 1, and names
    // replica 2 as missing, in Loki's warnings and the header.
    std::thread::sleep(Duration::from_millis(1500));
    for url in &urls[..2] {
        let (status, body) = http(url, "GET", &query_path(r#"{namespace=~".+"}"#, ""), "");
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(!v["data"]["result"].as_array().unwrap().is_empty(), "{v}");
        let warnings = v["warnings"].as_array().expect("warnings");
        assert!(warnings[0].as_str().unwrap().contains(&urls[2]), "{v}");
        let (_, body) = http(url, "GET", "/metrics", "");
        assert!(body.contains(&format!(
            "kelp_replica_peer_failures_total{{peer=\"{}\"}}",
            urls[2]
        )));
    }
    let head = raw_head(&addrs[0], &query_path(r#"{namespace=~".+"}"#, ""));
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("x-kelp-missing-replicas: {}", urls[2])),
        "{head}"
    );

    // Back on the same data directory and port: its WAL replays what it acknowledged.
    std::thread::sleep(Duration::from_millis(3000).saturating_sub(down.elapsed()));
    servers[2] = replica(&data[2], &addrs[2], &peers);
    // What replica 2 holds on its own from before the kill (acknowledged, then replayed).
    let (status, body) = http_with_headers(
        &urls[2],
        "GET",
        &format!(
            "{}&end={}",
            query_path(r#"{namespace=~".+"}"#, ""),
            killed_at.as_unix_nanos()
        ),
        &[("X-Kelp-Local", "1")],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        !v["data"]["result"].as_array().unwrap().is_empty(),
        "replica 2 held nothing from before its kill: {v}"
    );

    for s in &mut sims {
        assert!(s.wait().unwrap().success());
    }
    // Every node's lines, once, whichever replica is asked (nodes may share pod names, so
    // their ledgers are checked together).
    let all = dir.path().join("ledger-all.jsonl");
    let mut text = String::new();
    for l in &ledgers {
        text.push_str(&std::fs::read_to_string(l).unwrap());
    }
    std::fs::write(&all, text).unwrap();
    let (ok, report) = verify(&all, &urls[1], Duration::from_secs(90));
    let failovers: String = (0..nodes)
        .map(|n| {
            std::fs::read_to_string(dir.path().join(format!("node-{n}/agent.log")))
                .unwrap_or_default()
        })
        .filter(|l| l.contains("failing over"))
        .take(1)
        .collect();
    for a in &mut agents {
        kill(a);
    }
    eprintln!("kelp verify (asking replica 1): {report}");
    assert!(ok, "{report}");
    assert!(
        report.contains(r#""lost":0,"duplicated":0,"altered":0"#),
        "{report}"
    );
    let (ok, report) = verify(&all, &urls[2], Duration::from_secs(10));
    assert!(ok, "asking the restarted replica: {report}");
    // The agents did fail over (their streams on replica 2 went elsewhere meanwhile).
    assert!(
        failovers.contains(&urls[2]),
        "no agent failed over: {failovers}"
    );
    for s in &mut servers {
        kill(s);
    }
}

/// The status line and headers of a GET.
pub(crate) fn raw_head(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split("\r\n\r\n").next().unwrap_or_default().to_owned()
}
