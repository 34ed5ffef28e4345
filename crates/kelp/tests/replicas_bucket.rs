//! Replicas sharing one bucket, end to end (issue #11, item 3): a real S3-compatible server
//! (`s3s-fs`, installed by `.ci/deps`) on 127.0.0.1; three `kelp server` replicas
//! configured through their config file's `storage:` section (one bucket, a replica name
//! each, flushes every second so segments reach the bucket); ten simulated nodes with
//! their agents. One replica is SIGKILLed mid-ingest once it has segments in the bucket.
//! During the outage a query on either survivor returns every entry the dead replica had
//! flushed to the bucket (known exactly by serving a copy of its bucket folder from a
//! separate server) and names the dead replica; nothing under its prefix is written or
//! deleted meanwhile. It restarts on its data, and `kelp verify` finds every line of
//! every node exactly once.

use std::collections::HashSet;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::agent::{kill, verify};
use crate::common::{http, http_with_headers, kelp, spawn_announcing};
use crate::replicas::{agent, env_num, free_addr, raw_head, simulate};

const ACCESS_KEY: &str = "kelp-e2e-access";
const SECRET_KEY: &str = "kelp-e2e-secret-0123456789";
const BUCKET: &str = "kelp-logs";
/// Most entries one query answers here (the check reads everything flushed at once).
const MAX_ENTRIES: usize = 500_000;

/// `s3s-fs` on a free port of 127.0.0.1 with its own root directory; killed on drop.
struct S3 {
    child: Child,
    addr: SocketAddr,
    root: tempfile::TempDir,
}

fn s3s_fs() -> PathBuf {
    if let Some(p) = std::env::var_os("KELP_S3S_FS") {
        return PathBuf::from(p);
    }
    let in_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("s3s-fs"))
            .find(|p| p.is_file())
    });
    let cargo_bin = std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".cargo/bin/s3s-fs"))
        .filter(|p| p.is_file());
    in_path.or(cargo_bin).unwrap_or_else(|| {
        panic!("s3s-fs not found (PATH, ~/.cargo/bin or KELP_S3S_FS): run `bash .ci/deps`")
    })
}

impl S3 {
    fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let addr: SocketAddr = free_addr().parse().unwrap();
        let child = Command::new(s3s_fs())
            .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(root.path())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting s3s-fs");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, addr, root }
    }

    /// The folder s3s-fs keeps replica `name`'s objects in.
    fn replica_dir(&self, name: &str) -> PathBuf {
        self.root
            .path()
            .join(BUCKET)
            .join("kelp/replicas")
            .join(name)
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Child processes killed when dropped, so a failing assertion leaves none behind.
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl std::ops::Deref for Procs {
    type Target = Vec<Child>;
    fn deref(&self) -> &Vec<Child> {
        &self.0
    }
}

impl std::ops::DerefMut for Procs {
    fn deref_mut(&mut self) -> &mut Vec<Child> {
        &mut self.0
    }
}

/// `kelp server --config <file>` with `yaml`, its data in `dir`, on `addr`, once ready.
fn server(dir: &Path, addr: &str, yaml: &str) -> Child {
    std::fs::create_dir_all(dir).unwrap();
    let file = dir.with_extension("yaml");
    std::fs::write(&file, yaml).unwrap();
    let mut cmd = kelp();
    cmd.arg("server")
        .arg("--config")
        .arg(&file)
        .args(["--listen", addr, "--data-dir"])
        .arg(dir)
        // Credentials from the environment, as a deployment gives them.
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    let (child, url) = spawn_announcing(cmd, "kelp server listening on ");
    let deadline = Instant::now() + Duration::from_secs(60);
    while http(&url, "GET", "/ready", "").0 != 200 {
        assert!(Instant::now() < deadline, "server at {url} never ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// Replica `name`'s configuration: the shared bucket, its peers, flushes every second.
fn replica_yaml(s3: &S3, name: &str, me: &str, peers: &str) -> String {
    format!(
        "storage:
  backend: s3
  bucket: {BUCKET}
  prefix: kelp
  endpoint: http://{}
  region: us-east-1
  replica: {name}
  request_timeout_secs: 5
  retry_timeout_secs: 5
store:
  flush_age_secs: 1
limits:
  max_entries_per_query: {MAX_ENTRIES}
replicas:
  peers: {peers}
  self_url: {me}
  timeout_secs: 5
",
        s3.addr
    )
}

/// Every `(stream, time, line)` of a log query over `[start, end)` on `url`.
fn entries(url: &str, start: i64, end: i64, local: bool) -> (HashSet<String>, serde_json::Value) {
    let qs = form_urlencoded::Serializer::new(String::new())
        .append_pair("query", r#"{namespace=~".+"}"#)
        .append_pair("start", &start.to_string())
        .append_pair("end", &end.to_string())
        .append_pair("limit", &MAX_ENTRIES.to_string())
        .append_pair("direction", "forward")
        .finish();
    let path = format!("/loki/api/v1/query_range?{qs}");
    let headers: &[(&str, &str)] = if local { &[("X-Kelp-Local", "1")] } else { &[] };
    let (status, body) = http_with_headers(url, "GET", &path, headers, "");
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut out = HashSet::new();
    for s in v["data"]["result"].as_array().unwrap() {
        let stream = s["stream"].to_string();
        for e in s["values"].as_array().unwrap() {
            out.insert(format!("{stream} {} {}", e[0], e[1]));
        }
    }
    (out, v)
}

/// Every file under `dir` with its length and modification time, sorted.
fn tree(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten() {
        let p = e.unwrap().path();
        let m = std::fs::metadata(&p).unwrap();
        if m.is_dir() {
            out.extend(tree(&p));
        } else {
            out.push((p, m.len(), m.modified().unwrap()));
        }
    }
    out.sort();
    out
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_tree(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

#[test]
fn three_replicas_share_one_s3_bucket_and_a_dead_ones_flushed_data_stays_readable() {
    let nodes = env_num("KELP_REPLICA_NODES", 10);
    let secs = env_num("KELP_REPLICA_SECS", 8);
    let began = kelp_model::Timestamp::now().as_unix_nanos();
    let s3 = S3::start();
    let dir = tempfile::tempdir().unwrap();
    let addrs: Vec<String> = (0..3).map(|_| free_addr()).collect();
    let urls: Vec<String> = addrs.iter().map(|a| format!("http://{a}")).collect();
    let peers = urls.join(",");
    let data: Vec<PathBuf> = (0..3)
        .map(|i| dir.path().join(format!("data-{i}")))
        .collect();
    let yaml: Vec<String> = (0..3)
        .map(|i| replica_yaml(&s3, &format!("r{i}"), &urls[i], &peers))
        .collect();
    let mut servers = Procs(Vec::new());
    for i in 0..3 {
        servers.push(server(&data[i], &addrs[i], &yaml[i]));
    }

    let mut sims = Procs(Vec::new());
    let mut agents = Procs(Vec::new());
    let mut ledgers = Vec::new();
    for n in 0..nodes {
        let node = dir.path().join(format!("node-{n}"));
        let ledger = dir.path().join(format!("ledger-{n}.jsonl"));
        std::fs::create_dir_all(&node).unwrap();
        sims.push(simulate(&node.join("root"), &ledger, secs, 300 + n));
        agents.push(agent(
            &node.join("root"),
            &node.join("agent"),
            &urls,
            &format!("node-{n}"),
            &node.join("agent.log"),
        ));
        ledgers.push(ledger);
    }

    // Mid-ingest, once replica 2 has segments in the bucket, it dies (SIGKILL): what it
    // had not flushed yet is only in its WAL.
    std::thread::sleep(Duration::from_secs(secs * 3 / 8));
    let r2 = s3.replica_dir("r2");
    let deadline = Instant::now() + Duration::from_secs(20);
    let segments = |d: &Path| {
        tree(d)
            .iter()
            .filter(|f| f.0.extension() == Some("kseg".as_ref()))
            .count()
    };
    while segments(&r2) == 0 {
        assert!(
            Instant::now() < deadline,
            "replica r2 never flushed to the bucket"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    kill(&mut servers[2]);
    let killed_at = kelp_model::Timestamp::now().as_unix_nanos();
    let down = Instant::now();
    assert!(r2.join("MANIFEST").is_file());
    let flushed_segments = segments(&r2);
    let before = tree(&r2);

    // Exactly what r2 had flushed: a copy of its bucket folder served read-only by a
    // separate server (an empty data directory loads the manifest from the bucket).
    let witness_bucket = dir.path().join("witness-bucket");
    copy_tree(&r2, &witness_bucket.join("kelp/replicas/r2"));
    let witness_addr = free_addr();
    let mut witness = Procs(Vec::new());
    witness.push(server(
        &dir.path().join("witness"),
        &witness_addr,
        &format!(
            "storage: {{backend: local, bucket: {:?}, prefix: kelp, replica: r2}}\n\
             limits: {{max_entries_per_query: {MAX_ENTRIES}}}\n",
            witness_bucket
        ),
    ));
    let witness_url = format!("http://{witness_addr}");
    let window = (began - 60_000_000_000, killed_at + 1_000_000_000);
    let (flushed, _) = entries(&witness_url, window.0, window.1, true);
    kill(&mut witness[0]);
    assert!(
        !flushed.is_empty(),
        "r2's {flushed_segments} segments in the bucket hold no entry"
    );

    // During the outage, either survivor returns all of it and names the dead replica.
    for (i, url) in urls[..2].iter().enumerate() {
        let asked = Instant::now();
        let (got, v) = entries(url, window.0, window.1, false);
        let took = asked.elapsed();
        let lost: Vec<&String> = flushed.difference(&got).take(3).collect();
        assert!(
            lost.is_empty(),
            "replica {i} misses entries r2 had flushed ({} of {}), e.g. {lost:?}",
            flushed.difference(&got).count(),
            flushed.len()
        );
        let warnings: Vec<&str> = v["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .map(|w| w.as_str().unwrap())
            .collect();
        assert!(
            warnings.iter().any(|w| w.contains(&urls[2])),
            "{warnings:?}"
        );
        assert!(
            warnings.iter().any(|w| w.contains("replica r2")),
            "{warnings:?}"
        );
        eprintln!(
            "replica {i} during the outage: {} entries in {took:?}, all {} r2 had flushed ({flushed_segments} segments)",
            got.len(),
            flushed.len()
        );
    }
    let head = raw_head(&addrs[0], "/loki/api/v1/labels").to_ascii_lowercase();
    assert!(
        head.contains(&format!("x-kelp-missing-replicas: {}", urls[2])),
        "{head}"
    );
    assert!(head.contains("x-kelp-bucket-replicas: r2"), "{head}");
    // The survivors read r2's objects and wrote or deleted none of them.
    assert_eq!(tree(&r2), before, "objects under replicas/r2/ changed");

    // Back on the same data directory and port: its WAL replays the rest.
    std::thread::sleep(Duration::from_millis(3000).saturating_sub(down.elapsed()));
    servers[2] = server(&data[2], &addrs[2], &yaml[2]);

    for s in sims.iter_mut() {
        assert!(s.wait().unwrap().success());
    }
    let all = dir.path().join("ledger-all.jsonl");
    let mut text = String::new();
    for l in &ledgers {
        text.push_str(&std::fs::read_to_string(l).unwrap());
    }
    std::fs::write(&all, text).unwrap();
    let (ok, report) = verify(&all, &urls[1], Duration::from_secs(60));
    for a in agents.iter_mut() {
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
    for s in servers.iter_mut() {
        kill(s);
    }
}
