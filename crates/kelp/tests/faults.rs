//! Faults with real processes (issue #9, point 4).
//!
//! - `kelp server` killed with SIGKILL during ingest, again and again: after every restart
//!   each acknowledged entry is there, exactly once. `KELP_FAULT_ROUNDS` sets the rounds
//!   (5 by default, for CI; bench/RESULTS.md records a run of 50).
//! - The server's disk full (a small tmpfs): pushes fail with a clean 5xx, the agent
//!   retries, nothing is lost or duplicated once space returns.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::common::{http, kelp, server_on};

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

const PER_BATCH: usize = 20;

fn line(round: u32, batch: u32, i: usize) -> String {
    format!("fault r{round} b{batch} e{i} {}", "x".repeat(i * 5))
}

fn body(round: u32, batch: u32, t0: i64) -> String {
    let values: Vec<serde_json::Value> = (0..PER_BATCH)
        .map(|i| serde_json::json!([(t0 + i as i64).to_string(), line(round, batch, i)]))
        .collect();
    serde_json::json!({"streams": [{"stream": {"job": "fault", "round": round.to_string()}, "values": values}]})
        .to_string()
}

/// Every line of `round` in the store, with its count.
fn stored(url: &str, round: u32) -> HashMap<String, u32> {
    let q = format!("{{job=\"fault\", round=\"{round}\"}}");
    let mut enc = form_urlencoded::Serializer::new(String::new());
    enc.append_pair("query", &q)
        .append_pair("since", "1h")
        .append_pair("limit", "5000")
        .append_pair("direction", "forward");
    let (status, body) = http(
        url,
        "GET",
        &format!("/loki/api/v1/query_range?{}", enc.finish()),
        "",
    );
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut out = HashMap::new();
    for s in v["data"]["result"].as_array().unwrap() {
        for e in s["values"].as_array().unwrap() {
            *out.entry(e[1].as_str().unwrap().to_owned()).or_insert(0) += 1;
        }
    }
    out
}

#[test]
fn server_sigkill_during_ingest_loses_no_acknowledged_entry() {
    let rounds: u32 = std::env::var("KELP_FAULT_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut acked: Vec<(u32, u32)> = Vec::new();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let began = Instant::now();
    for round in 0..rounds {
        let (mut server, url) = server_on(&data, "127.0.0.1:0");
        // Every entry acknowledged before this start is still there, once.
        if round > 0 {
            check(&url, round - 1, &acked);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let pusher = {
            let (stop, url) = (stop.clone(), url.clone());
            std::thread::spawn(move || {
                let mut batch = 0u32;
                while !stop.load(Ordering::SeqCst) {
                    let (status, _) = http(
                        &url,
                        "POST",
                        "/loki/api/v1/push",
                        &body(round, batch, now_ns()),
                    );
                    if status == 204 {
                        let _ = tx.send((round, batch));
                    } else if status == 0 {
                        return; // the server is gone
                    }
                    batch += 1;
                }
            })
        };
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let want = 5 + (seed >> 33) % 60;
        let mut got = 0;
        let t = Instant::now();
        while got < want && t.elapsed() < Duration::from_secs(30) {
            if let Ok(a) = rx.recv_timeout(Duration::from_millis(100)) {
                acked.push(a);
                got += 1;
            }
        }
        std::thread::sleep(Duration::from_micros((seed >> 20) % 20_000));
        server.kill().unwrap(); // SIGKILL, pushes in flight
        server.wait().unwrap();
        stop.store(true, Ordering::SeqCst);
        pusher.join().unwrap();
        acked.extend(rx.try_iter());
        assert!(got > 0, "round {round}: nothing acknowledged");
    }
    let (mut server, url) = server_on(&data, "127.0.0.1:0");
    check(&url, rounds - 1, &acked);
    // Every round once more, after all the kills.
    for round in 0..rounds {
        check(&url, round, &acked);
    }
    server.kill().unwrap();
    server.wait().unwrap();
    eprintln!(
        "server SIGKILL: {rounds} rounds, {} acknowledged batches ({} entries) all present once, {:.1} s",
        acked.len(),
        acked.len() * PER_BATCH,
        began.elapsed().as_secs_f64()
    );
}

/// Every acknowledged entry of `round` is stored exactly once; nothing else is stored.
fn check(url: &str, round: u32, acked: &[(u32, u32)]) {
    let got = stored(url, round);
    for (_, b) in acked.iter().filter(|(r, _)| *r == round) {
        for i in 0..PER_BATCH {
            let l = line(round, *b, i);
            assert_eq!(got.get(&l), Some(&1), "round {round}: acknowledged {l:?}");
        }
    }
    for (l, n) in &got {
        assert_eq!(*n, 1, "round {round}: {l:?} stored {n} times");
    }
}

/// A tmpfs of `mib` MiB mounted on a new directory; unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, mib: u32) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test mounts a tmpfs (as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self(at.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn metric(url: &str, name: &str) -> u64 {
    let (_, text) = http(url, "GET", "/metrics", "");
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn a_full_disk_fails_pushes_cleanly_and_the_agent_delivers_once_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let fs = Tmpfs::mount(&dir.path().join("tmpfs"), 24);
    let (root, ledger) = (dir.path().join("node"), dir.path().join("ledger.jsonl"));
    let sim = kelp()
        .arg("simulate")
        .arg("--root")
        .arg(&root)
        .args([
            "--pods",
            "3",
            "--rate",
            "1500",
            "--duration",
            "2",
            "--seed",
            "3",
        ])
        .arg("--ledger")
        .arg(&ledger)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(sim.success());
    let (mut server, url) = server_on(&fs.0.join("data"), "127.0.0.1:0");
    // Fill the disk but for a little room: the first pushes fit, the rest do not.
    let filler = fs.0.join("filler");
    fill(&filler, &fs.0, 96 << 10);
    let mut agent = spawn_agent(&root, &dir.path().join("agent"), &url);
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric(&url, "kelp_ingest_errors_total") == 0 {
        assert!(Instant::now() < deadline, "the disk never filled");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Clean errors, a live server, and the data acknowledged so far readable.
    let (status, _) = http(&url, "GET", "/ready", "");
    assert_eq!(status, 200);
    let (status, body) = http(&url, "POST", "/loki/api/v1/push", &body(0, 0, now_ns()));
    assert!((500..600).contains(&status), "{status} {body}");
    assert!(!body.is_empty(), "a 5xx says why");
    eprintln!("disk full: push answered {status}: {}", body.trim());
    // Space returns: the agent's retries get through, every line exactly once.
    std::fs::remove_file(&filler).unwrap();
    let (ok, report) = crate::agent::verify(&ledger, &url, Duration::from_secs(90));
    assert!(ok, "{report}");
    crate::agent::kill(&mut agent);
    // And after a restart nothing is corrupt.
    let (status, _) = http(&url, "GET", "/ready", "");
    assert_eq!(status, 200);
    terminate(&mut server);
    let (mut server, url) = server_on(&fs.0.join("data"), "127.0.0.1:0");
    let (ok, report) = crate::agent::verify(&ledger, &url, Duration::from_secs(30));
    assert!(ok, "{report}");
    server.kill().unwrap();
    server.wait().unwrap();
    drop(fs);
}

/// Writes `path` until `mount` has about `leave` bytes free.
fn fill(path: &Path, mount: &Path, leave: u64) {
    let out = Command::new("df")
        .args(["-B1", "--output=avail"])
        .arg(mount)
        .output()
        .unwrap();
    let avail: u64 = String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap();
    let n = avail.saturating_sub(leave) as usize;
    std::fs::write(path, vec![0u8; n]).unwrap();
}

fn spawn_agent(root: &Path, state: &Path, url: &str) -> Child {
    kelp()
        .arg("agent")
        .arg("--pods-dir")
        .arg(root.join("var/log/pods"))
        .arg("--state-dir")
        .arg(state)
        .args(["--server", url, "--node-name", "node-1", "--listen", "none"])
        .env("RUST_LOG", "warn")
        .env("KELP_AGENT_RETRY__MAX_BACKOFF_MS", "500")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn terminate(child: &mut Child) {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    child.wait().unwrap();
}
