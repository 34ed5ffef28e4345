//! End-to-end tests of `kelp agent`: the real server, simulator and agent binaries, then
//! `kelp verify` comparing the simulator's ledger with the store. Issue 5.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn kelp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kelp"))
}

/// Starts `kelp server` on a random port; returns it and its URL.
pub(crate) fn server(dir: &Path) -> (Child, String) {
    server_on(dir, "127.0.0.1:0")
}

/// Starts `kelp server` listening on `listen`, ready; returns it and its URL.
fn server_on(dir: &Path, listen: &str) -> (Child, String) {
    crate::common::server_on(dir, listen)
}

pub(crate) fn agent(root: &Path, state: &Path, url: &str) -> Child {
    agent_with(root, state, url, &[], None)
}

/// `kelp agent` on the node's pods directory with `extra` flags; its stderr (WARN and
/// above) appended to `log` when given.
fn agent_with(root: &Path, state: &Path, url: &str, extra: &[&str], log: Option<&Path>) -> Child {
    let stderr = match log {
        Some(p) => Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .unwrap(),
        ),
        None => Stdio::null(),
    };
    kelp()
        .arg("agent")
        .arg("--pods-dir")
        .arg(root.join("var/log/pods"))
        .arg("--state-dir")
        .arg(state)
        .args(["--server", url, "--node-name", "node-1"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// A busy node: 64 KiB rotation checked every 20 ms, 3 files, restarts, a ledger.
fn simulate(root: &Path, ledger: &Path, secs: &str) -> Child {
    kelp()
        .arg("simulate")
        .arg("--root")
        .arg(root)
        .args(["--pods", "4", "--rate", "3000", "--duration", secs])
        .args([
            "--max-size",
            "64Ki",
            "--max-files",
            "3",
            "--rotate-check-ms",
            "20",
        ])
        .args(["--restart-every", "1.5", "--seed", "7", "--ledger"])
        .arg(ledger)
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// Runs `kelp verify` until it passes or `wait` is over; returns its last report.
pub(crate) fn verify(ledger: &Path, url: &str, wait: Duration) -> (bool, String) {
    let began = Instant::now();
    loop {
        let Output { status, stdout, .. } = kelp()
            .arg("verify")
            .arg("--ledger")
            .arg(ledger)
            .args(["--server", url])
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&stdout).into_owned();
        if status.success() || began.elapsed() > wait {
            return (status.success(), report);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Sends SIGTERM and waits for the process to exit.
fn terminate(child: &mut Child) {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    child.wait().unwrap();
}

pub(crate) fn kill(child: &mut Child) {
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

fn run(kills: u32) {
    let dir = tempfile::tempdir().unwrap();
    let (root, ledger, state) = (
        dir.path().join("node"),
        dir.path().join("ledger.jsonl"),
        dir.path().join("agent"),
    );
    let (mut srv, url) = server(&dir.path().join("data"));
    let secs = 4 + kills / 2;
    let mut sim = simulate(&root, &ledger, &secs.to_string());
    let mut a = agent(&root, &state, &url);
    let period = u64::from(secs) * 1000 / u64::from(kills + 1);
    // Kills at random moments: each wait is 10–190 % of the even period, from a seed
    // printed so a failure can be replayed (`KELP_KILL_SEED`).
    let mut seed: u64 = std::env::var("KELP_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
                .into()
        });
    eprintln!("KELP_KILL_SEED={seed}");
    for _ in 0..kills {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let jitter = 10 + (seed >> 33) % 181;
        std::thread::sleep(Duration::from_millis(period * jitter / 100));
        kill(&mut a);
        a = agent(&root, &state, &url);
    }
    assert!(sim.wait().unwrap().success());
    let (ok, report) = verify(&ledger, &url, Duration::from_secs(30));
    kill(&mut a);
    kill(&mut srv);
    assert!(ok, "after {kills} kills: {report}");
    assert!(
        report.contains(r#""lost":0,"duplicated":0,"altered":0"#),
        "{report}"
    );
}

#[test]
fn every_line_arrives_once_through_rotation_and_restarts() {
    run(0);
}

#[test]
/// Issue 5 asks for at least 20 SIGKILLs in CI; `KELP_AGENT_KILLS` changes the count.
fn every_line_arrives_once_when_the_agent_is_killed() {
    let kills = std::env::var("KELP_AGENT_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(20);
    run(kills);
}

/// Seconds an env var asks for, or `default`.
fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
/// Issue 5: the server is down (SIGTERM, then a new process on the same data dir and port
/// after `KELP_OUTAGE_SECS`, default 60 as the issue asks) while the node keeps
/// writing and rotating (64 KiB, 3 files, 20 ms checks, so the kubelet deletes rotated
/// files the agent has not drained yet): the agent holds them open until it sent them.
fn every_line_arrives_once_through_a_server_outage() {
    let outage = env_secs("KELP_OUTAGE_SECS", 60);
    let dir = tempfile::tempdir().unwrap();
    let (root, ledger, state, data) = (
        dir.path().join("node"),
        dir.path().join("ledger.jsonl"),
        dir.path().join("agent"),
        dir.path().join("data"),
    );
    let (mut srv, url) = server(&data);
    let mut sim = simulate(&root, &ledger, &(outage + 3).to_string());
    let mut a = agent(&root, &state, &url);
    std::thread::sleep(Duration::from_secs(1));
    terminate(&mut srv);
    let down = Instant::now();
    std::thread::sleep(Duration::from_secs(outage));
    let (mut srv, url2) = server_on(&data, url.trim_start_matches("http://"));
    assert_eq!(url, url2);
    eprintln!("server down for {:?}", down.elapsed());
    assert!(sim.wait().unwrap().success());
    let began = Instant::now();
    // A long outage leaves a long backlog (and a backoff of up to 10 s).
    let (ok, report) = verify(&ledger, &url, Duration::from_secs(30 + outage));
    eprintln!(
        "caught up {:?} after the simulator: {report}",
        began.elapsed()
    );
    kill(&mut a);
    kill(&mut srv);
    assert!(ok, "after a {outage} s outage: {report}");
    assert!(
        report.contains(r#""lost":0,"duplicated":0,"altered":0"#),
        "{report}"
    );
}

/// `GET path` on `url` (`http://host:port`); the status and body.
pub(crate) fn get(url: &str, path: &str) -> (u16, String) {
    crate::common::http(url, "GET", path, "")
}

/// Every `(timestamp, line)` the server holds for the pod, forward.
fn entries_of(url: &str, pod: &str, start: i64, end: i64) -> Vec<(String, String)> {
    // {pod="<pod>"}, percent-encoded.
    let path = format!(
        "/loki/api/v1/query_range?query=%7Bpod%3D%22{pod}%22%7D&start={start}&end={end}&direction=forward&limit=1000"
    );
    // A server still recovering (or busy) answers 503: asked again, for up to 15 s.
    let began = Instant::now();
    let (status, body) = loop {
        let (status, body) = get(url, &path);
        if status == 200 || began.elapsed() > Duration::from_secs(15) {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut out = Vec::new();
    for stream in v["data"]["result"].as_array().unwrap() {
        for pair in stream["values"].as_array().unwrap() {
            out.push((
                pair[0].as_str().unwrap().to_owned(),
                pair[1].as_str().unwrap().to_owned(),
            ));
        }
    }
    out
}

/// Polls until the pod has at least one entry (or 15 s passed), then lets a batch more
/// arrive; what the server holds then.
fn settled_entries(url: &str, pod: &str, start: i64, end: i64) -> Vec<(String, String)> {
    let began = Instant::now();
    while entries_of(url, pod, start, end).is_empty() && began.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(700));
    entries_of(url, pod, start, end)
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
/// A `P` record at the end of a file is held back until its `F` is appended: the server
/// then holds the joined line once, at the first record's timestamp. Also through an
/// agent SIGKILLed while the line waits (its checkpoint stays at the `P` record).
fn a_partial_line_completed_later_arrives_joined_once() {
    let dir = tempfile::tempdir().unwrap();
    let (root, state) = (dir.path().join("node"), dir.path().join("agent"));
    let pods = root.join("var/log/pods");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (start, end) = ((now - 60) * 1_000_000_000, (now + 60) * 1_000_000_000);
    let ts = |ms: i64| {
        // RFC 3339 of `now - 10 s + ms`, via the nanosecond count the query returns.
        let t = now - 10;
        let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
        let (y, m, d) = civil(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            ms * 1_000_000
        )
    };
    let nanos = |ms: i64| ((now - 10) * 1_000_000_000 + ms * 1_000_000).to_string();
    let log = |pod: &str| {
        let d = pods.join(format!("ns1_{pod}_uid-{pod}/app"));
        std::fs::create_dir_all(&d).unwrap();
        d.join("0.log")
    };
    let (live, killed) = (log("joined"), log("killed"));
    append(&live, &format!("{} stdout F before\n", ts(1)));
    append(&live, &format!("{} stdout P hello, \n", ts(2)));
    append(&killed, &format!("{} stdout P across a \n", ts(3)));
    let (mut srv, url) = server(&dir.path().join("data"));
    let mut a = agent(&root, &state, &url);

    // Asserted once the processes are gone, so a failure leaves none behind.
    let first = settled_entries(&url, "joined", start, end);
    let killed_first = entries_of(&url, "killed", start, end);
    append(&live, &format!("{} stdout F world\n", ts(4)));
    let began = Instant::now();
    while entries_of(&url, "joined", start, end).len() < 2
        && began.elapsed() < Duration::from_secs(15)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let joined = settled_entries(&url, "joined", start, end);
    kill(&mut a);
    append(&killed, &format!("{} stdout F crash\n", ts(5)));
    let mut a = agent(&root, &state, &url);
    let killed = settled_entries(&url, "killed", start, end);
    kill(&mut a);
    kill(&mut srv);
    assert_eq!(first, [(nanos(1), "before".to_owned())], "P sent alone");
    assert_eq!(killed_first, [], "P sent alone");
    assert_eq!(
        joined,
        [
            (nanos(1), "before".to_owned()),
            (nanos(2), "hello, world".to_owned())
        ]
    );
    assert_eq!(killed, [(nanos(3), "across a crash".to_owned())]);
}

/// (year, month, day) of days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[test]
/// 1,000 container logs (500 pods of 2 containers) created at once while the agent runs
/// are all discovered and shipped completely, in bounded time. The agent's own event
/// queue is cut to 64 (hidden `--event-queue`), so the burst overflows it: the test
/// checks the agent said so and rescanned. This exercises the overflow path the kernel's
/// `IN_Q_OVERFLOW` takes too (both set the same flag); the kernel's queue itself
/// (`fs.inotify.max_queued_events`, 16,384 by default) is system-wide and is not
/// lowered by a test.
fn a_thousand_container_logs_created_at_once_overflow_events_and_are_shipped() {
    let dir = tempfile::tempdir().unwrap();
    let (root, ledger, state, log) = (
        dir.path().join("node"),
        dir.path().join("ledger.jsonl"),
        dir.path().join("agent"),
        dir.path().join("agent.log"),
    );
    std::fs::create_dir_all(root.join("var/log/pods")).unwrap();
    let (mut srv, url) = server(&dir.path().join("data"));
    let mut a = agent_with(&root, &state, &url, &["--event-queue", "64"], Some(&log));
    // The agent watches the empty pods directory before the burst.
    std::thread::sleep(Duration::from_millis(500));
    let began = Instant::now();
    let status = kelp()
        .arg("simulate")
        .arg("--root")
        .arg(&root)
        .args([
            "--pods",
            "500",
            "--containers-per-pod",
            "2",
            "--lines",
            "4000",
        ])
        .args(["--seed", "11", "--ledger"])
        .arg(&ledger)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let logs = std::fs::read_dir(root.join("var/log/pods"))
        .unwrap()
        .flat_map(|pod| std::fs::read_dir(pod.unwrap().path()).unwrap())
        .count();
    assert_eq!(logs, 1000, "container directories");
    let (ok, report) = verify(&ledger, &url, Duration::from_secs(60));
    let took = began.elapsed();
    eprintln!("1000 container logs shipped and verified in {took:?}: {report}");
    kill(&mut a);
    kill(&mut srv);
    let warnings = std::fs::read_to_string(&log).unwrap();
    assert!(ok, "{report}\n{warnings}");
    assert!(
        report.contains(r#""lost":0,"duplicated":0,"altered":0"#),
        "{report}"
    );
    assert!(
        warnings.contains("queue overflow"),
        "no overflow seen: {warnings}"
    );
}

#[test]
/// Issue 5: aggressive rotation (64 KiB, 3 files, 10 ms checks) at a few MB/s with
/// restarts every second and a pod deleted every 2 s: every line arrives once.
fn every_line_arrives_once_through_aggressive_rotation_restarts_and_deletions() {
    let dir = tempfile::tempdir().unwrap();
    let (root, ledger, state, log) = (
        dir.path().join("node"),
        dir.path().join("ledger.jsonl"),
        dir.path().join("agent"),
        dir.path().join("agent.log"),
    );
    let (mut srv, url) = server(&dir.path().join("data"));
    std::fs::create_dir_all(root.join("var/log/pods")).unwrap();
    let mut a = agent_with(&root, &state, &url, &[], Some(&log));
    let out = kelp()
        .arg("simulate")
        .arg("--root")
        .arg(&root)
        .args(["--pods", "4", "--rate", "15000", "--duration", "5"])
        .args([
            "--max-size",
            "64Ki",
            "--max-files",
            "3",
            "--rotate-check-ms",
            "10",
        ])
        .args(["--restart-every", "1", "--delete-every", "2", "--seed", "5"])
        .arg("--ledger")
        .arg(&ledger)
        .output()
        .unwrap();
    assert!(out.status.success());
    eprintln!("{}", String::from_utf8_lossy(&out.stdout).trim());
    let (ok, report) = verify(&ledger, &url, Duration::from_secs(60));
    kill(&mut a);
    kill(&mut srv);
    let warnings = std::fs::read_to_string(&log).unwrap();
    assert!(ok, "{report}\n{warnings}");
    assert!(
        report.contains(r#""lost":0,"duplicated":0,"altered":0"#),
        "{report}"
    );
}

#[test]
/// The bound on held files: with the server down and at most one rotated file held,
/// the agent lets go of the oldest unread files, and every line the checker finds lost
/// is one the agent reported lost (WARN, with the file and the line count): nothing is
/// lost silently.
fn files_shed_over_the_held_bound_are_reported_not_lost_silently() {
    let dir = tempfile::tempdir().unwrap();
    let (root, ledger, state, data, log) = (
        dir.path().join("node"),
        dir.path().join("ledger.jsonl"),
        dir.path().join("agent"),
        dir.path().join("data"),
        dir.path().join("agent.log"),
    );
    let (mut srv, url) = server(&data);
    std::fs::create_dir_all(root.join("var/log/pods")).unwrap();
    let mut a = agent_with(&root, &state, &url, &["--max-held-files", "1"], Some(&log));
    std::thread::sleep(Duration::from_millis(300));
    terminate(&mut srv);
    // No restarts, no long lines: one record per line, so lines and records agree.
    let status = kelp()
        .arg("simulate")
        .arg("--root")
        .arg(&root)
        .args(["--pods", "2", "--rate", "4000", "--duration", "4"])
        .args([
            "--max-size",
            "64Ki",
            "--max-files",
            "3",
            "--rotate-check-ms",
            "20",
        ])
        .args(["--long-line-every", "0", "--seed", "9", "--ledger"])
        .arg(&ledger)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let (mut srv, _) = server_on(&data, url.trim_start_matches("http://"));
    // Wait until the agent caught up: the verdict stops changing.
    let mut last = String::new();
    let began = Instant::now();
    let report = loop {
        let (_, report) = verify(&ledger, &url, Duration::ZERO);
        if report == last || began.elapsed() > Duration::from_secs(40) {
            break report;
        }
        last = report;
        std::thread::sleep(Duration::from_secs(3));
    };
    kill(&mut a);
    kill(&mut srv);
    let warnings = strip_ansi(&std::fs::read_to_string(&log).unwrap());
    let reported: u64 = warnings
        .lines()
        .filter(|l| l.contains("let go of the oldest unread"))
        .filter_map(|l| {
            l.split(" lines=")
                .nth(1)?
                .split(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    let lost: u64 = report
        .split(r#""lost":"#)
        .nth(1)
        .and_then(|r| r.split([',', '}']).next()?.parse().ok())
        .unwrap();
    eprintln!("lost {lost}, reported {reported}: {report}");
    assert!(reported > 0, "nothing shed: {warnings}");
    assert_eq!(lost, reported, "{report}\n{warnings}");
    assert!(report.contains(r#""duplicated":0,"altered":0"#), "{report}");
}

/// `text` without terminal colour sequences (`ESC [ ... m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A CRI record of `line` at `now - 10 s + ms`, and its nanosecond timestamp.
fn cri(now: i64, ms: i64, line: &str) -> (String, String) {
    let t = now - 10;
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil(days);
    let ts = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        ms * 1_000_000
    );
    (
        format!("{ts} stdout F {line}\n"),
        (t * 1_000_000_000 + ms * 1_000_000).to_string(),
    )
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Polls until `query` (LogQL, percent-encoded) holds `n` entries or 20 s passed, then
/// lets a batch more arrive; the entries then.
fn wait_for(url: &str, query: &str, n: usize, start: i64, end: i64) -> Vec<(String, String)> {
    let path = format!(
        "/loki/api/v1/query_range?query={query}&start={start}&end={end}&direction=forward&limit=1000"
    );
    let fetch = || {
        let (status, body) = get(url, &path);
        if status != 200 {
            return Vec::new();
        }
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        let mut out = Vec::new();
        for stream in v["data"]["result"].as_array().unwrap() {
            for pair in stream["values"].as_array().unwrap() {
                out.push((
                    pair[0].as_str().unwrap().to_owned(),
                    pair[1].as_str().unwrap().to_owned(),
                ));
            }
        }
        out
    };
    let began = Instant::now();
    while fetch().len() < n && began.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(700));
    fetch()
}

#[test]
/// A pod log truncated in place (copytruncate, as conmon's `log_size_max` or a
/// misconfigured logrotate do) is read again from its start: the lines written after
/// the truncation arrive, and none twice.
fn a_pod_log_truncated_in_place_is_read_again_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let (root, state) = (dir.path().join("node"), dir.path().join("agent"));
    let d = root.join("var/log/pods/ns1_trunc_uid-1/app");
    std::fs::create_dir_all(&d).unwrap();
    let live = d.join("0.log");
    let now = unix_now();
    let (start, end) = ((now - 60) * 1_000_000_000, (now + 60) * 1_000_000_000);
    let recs: Vec<(String, String)> = (1..=6).map(|i| cri(now, i, &format!("line {i}"))).collect();
    append(&live, &(recs[0].0.clone() + &recs[1].0 + &recs[2].0));
    let (mut srv, url) = server(&dir.path().join("data"));
    let mut a = agent(&root, &state, &url);
    let first = wait_for(&url, "%7Bpod%3D%22trunc%22%7D", 3, start, end);
    // copytruncate: copy, truncate, then the writer goes on (fewer bytes than before).
    std::fs::copy(&live, d.join("0.log.20240601-120000")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&live)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&live, &recs[3].0);
    let second = wait_for(&url, "%7Bpod%3D%22trunc%22%7D", 4, start, end);
    // Then refilled past the old read position between two looks.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&live)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(
        &live,
        &(recs[4].0.clone() + &recs[5].0 + &recs[4].0.replace("line 5", "line 5 again")),
    );
    let third = wait_for(&url, "%7Bpod%3D%22trunc%22%7D", 7, start, end);
    kill(&mut a);
    kill(&mut srv);
    let want = |n: usize| -> Vec<(String, String)> {
        recs[..n]
            .iter()
            .enumerate()
            .map(|(i, (_, ts))| (ts.clone(), format!("line {}", i + 1)))
            .collect()
    };
    assert_eq!(first, want(3));
    assert_eq!(second, want(4));
    let mut all = want(6);
    all.insert(5, (recs[4].1.clone(), "line 5 again".into()));
    assert_eq!(third, all);
}

#[test]
/// Node log files (`--node-logs`) and sidecar files (`--files` with static labels),
/// plain lines, through logrotate's `create` (rename, new file; the writer's last lines
/// land in the renamed file) and `copytruncate`, with `job`, `filename` and `node`
/// labels.
fn node_logs_and_sidecar_files_through_logrotate_create_and_copytruncate() {
    let dir = tempfile::tempdir().unwrap();
    let (varlog, shared, state) = (
        dir.path().join("varlog"),
        dir.path().join("shared"),
        dir.path().join("agent"),
    );
    std::fs::create_dir_all(&varlog).unwrap();
    std::fs::create_dir_all(&shared).unwrap();
    let (syslog, app) = (varlog.join("syslog.log"), shared.join("app.log"));
    append(&syslog, "boot 1\nboot 2\n");
    append(&varlog.join("ignored.txt"), "not matched\n");
    let (mut srv, url) = server(&dir.path().join("data"));
    let mut a = kelp()
        .arg("agent")
        .arg("--state-dir")
        .arg(&state)
        .args(["--server", &url, "--node-name", "node-1"])
        .arg("--node-logs")
        .arg(varlog.join("*.log"))
        .arg("--files")
        .arg(shared.join("*.log"))
        .args(["--label", "team=shop"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let now = unix_now();
    let (start, end) = ((now - 60) * 1_000_000_000, (now + 120) * 1_000_000_000);
    let lines = |got: Vec<(String, String)>| -> Vec<String> {
        let mut v: Vec<String> = got.into_iter().map(|(_, l)| l).collect();
        v.sort();
        v
    };
    // {job="varlogs",filename="<syslog>",node="node-1",team="shop"}
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let q_sys = enc(&format!(
        r#"{{job="varlogs",filename="{}",node="node-1",team="shop"}}"#,
        syslog.display()
    ));
    let q_app = enc(&format!(r#"{{job="files",filename="{}"}}"#, app.display()));
    let q_ignored = enc(r#"{job="varlogs",filename=~".*ignored.*"}"#);
    assert_eq!(
        lines(wait_for(&url, &q_sys, 2, start, end)),
        ["boot 1", "boot 2"]
    );

    // logrotate `create`: the writer keeps its descriptor until told to reopen.
    let mut writer = std::fs::OpenOptions::new()
        .append(true)
        .open(&syslog)
        .unwrap();
    std::fs::rename(&syslog, varlog.join("syslog.log.1")).unwrap();
    append(&syslog, "after create 1\n");
    writer.write_all(b"late in the old file\n").unwrap();
    drop(writer);
    append(&syslog, "after create 2\n");
    // The sidecar's file appears later and is truncated in place.
    append(&app, "app 1\napp 2\n");
    assert_eq!(
        lines(wait_for(&url, &q_app, 2, start, end)),
        ["app 1", "app 2"]
    );
    std::fs::copy(&app, shared.join("app.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&app)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&app, "app 3\n");
    let sys = lines(wait_for(&url, &q_sys, 5, start, end));
    let apps = lines(wait_for(&url, &q_app, 3, start, end));
    let ignored = wait_for(&url, &q_ignored, 0, start, end);
    kill(&mut a);
    kill(&mut srv);
    assert_eq!(
        sys,
        [
            "after create 1",
            "after create 2",
            "boot 1",
            "boot 2",
            "late in the old file"
        ]
    );
    assert_eq!(apps, ["app 1", "app 2", "app 3"]);
    assert!(ignored.is_empty());
}

/// Issue 10: the agent configured as the DaemonSet configures it (`control_plane` in the
/// config file, no flags) reads the control plane's files beside the pod logs (pod logs
/// are not turned off as with `--control-plane-logs` alone), with `job="control-plane"`,
/// their `filename`, and klog's time and level.
#[test]
fn control_plane_files_from_the_config_file_beside_pod_logs() {
    let dir = tempfile::tempdir().unwrap();
    let (varlog, pods, out) = (
        dir.path().join("varlog"),
        dir.path().join("pods"),
        dir.path().join("out.jsonl"),
    );
    let ctr = pods.join("default_web_0123/app");
    std::fs::create_dir_all(&ctr).unwrap();
    std::fs::create_dir_all(&varlog).unwrap();
    let now = unix_now();
    append(
        &ctr.join("0.log"),
        &format!("{} stdout F pod line\n", rfc3339(now, 0)),
    );
    let apiserver = varlog.join("kube-apiserver.log");
    append(
        &apiserver,
        "E0102 03:04:05.678901       1 etcd.go:7] etcd slow\nplain line\n",
    );
    append(&varlog.join("syslog"), "not a control-plane file\n");
    let config = dir.path().join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "pods_dir: {}\nstate_dir: {}\nlisten: none\nsink:\n  kind: file\n  path: {}\n\
             control_plane:\n  enabled: true\n  files: [{}/kube-*.log, {}/etcd.log]\n",
            pods.display(),
            dir.path().join("state").display(),
            out.display(),
            varlog.display(),
            varlog.display()
        ),
    )
    .unwrap();
    let mut a = kelp()
        .args(["agent", "--config"])
        .arg(&config)
        .args(["--node-name", "node-1", "--metrics-interval", "0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let read = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let began = Instant::now();
    while read().len() < 3 && began.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    // Anything else would have arrived with these by now (same batch window).
    std::thread::sleep(Duration::from_millis(500));
    kill(&mut a);
    let got = read();
    let find = |line: &str| {
        got.iter()
            .find(|v| v["line"] == line)
            .unwrap_or_else(|| panic!("{line:?} not shipped: {got:?}"))
            .clone()
    };
    assert_eq!(find("pod line")["labels"]["pod"], "web");
    let e = find("E0102 03:04:05.678901       1 etcd.go:7] etcd slow");
    assert_eq!(e["labels"]["job"], "control-plane");
    assert_eq!(
        e["labels"]["filename"],
        apiserver.display().to_string().as_str()
    );
    assert_eq!(e["metadata"]["level"], "error");
    assert!(e["timestamp"]
        .as_str()
        .unwrap()
        .contains("-01-02T03:04:05.678901"));
    assert_eq!(find("plain line")["labels"]["job"], "control-plane");
    assert_eq!(
        got.len(),
        3,
        "only pod logs and the control plane's files: {got:?}"
    );
}

fn agent_with_config(root: &Path, state: &Path, url: &str, config: &Path) -> Child {
    kelp()
        .arg("agent")
        .arg("--config")
        .arg(config)
        .arg("--pods-dir")
        .arg(root.join("var/log/pods"))
        .arg("--state-dir")
        .arg(state)
        .args(["--server", url, "--node-name", "node-1"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// RFC 3339 of `secs` (Unix) plus `ms` milliseconds, nine fraction digits.
fn rfc3339(secs: i64, ms: i64) -> String {
    let (days, s) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms * 1_000_000
    )
}

#[test]
/// Issue 5, processing: a Java stack trace written across CRI `P`/`F` records and across
/// two agent SIGKILLs while it is being joined (once while a `P` waits, once while only
/// whole lines are held) arrives as one entry, once, at its first line's timestamp; a
/// docker json-file log's pieces are rejoined; an excluded namespace never reaches the
/// server; a redacted e-mail address never does either.
fn multiline_policy_and_docker_through_kills() {
    let dir = tempfile::tempdir().unwrap();
    let (root, state) = (dir.path().join("node"), dir.path().join("agent"));
    let pods = root.join("var/log/pods");
    let config = dir.path().join("agent.yaml");
    std::fs::write(
        &config,
        "multiline:\n  flush_timeout: 3s\n  rules:\n    - namespace: shop\n      pod: \"java-*\"\n      kind: java\n\
policy:\n  exclude:\n    - namespace: secret\n  redact:\n    - builtin: email\n",
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (start, end) = ((now - 60) * 1_000_000_000, (now + 60) * 1_000_000_000);
    let ts = |ms: i64| rfc3339(now - 10, ms);
    let nanos = |ms: i64| ((now - 10) * 1_000_000_000 + ms * 1_000_000).to_string();
    let log = |ns: &str, pod: &str| {
        let d = pods.join(format!("{ns}_{pod}_uid-{pod}/app"));
        std::fs::create_dir_all(&d).unwrap();
        d.join("0.log")
    };
    let (java, vault, mailer, legacy) = (
        log("shop", "java-1"),
        log("secret", "vault-0"),
        log("shop", "mailer-0"),
        log("shop", "legacy-0"),
    );
    let cri = |ms: i64, tag: &str, text: &str| format!("{} stdout {tag} {text}\n", ts(ms));
    append(&vault, &cri(1, "F", "the vault combination is 1-2-3"));
    append(
        &mailer,
        &cri(2, "F", "mail sent to alice.smith@example.com ok"),
    );
    let docker = |ms: i64, text: &str| {
        format!(
            "{{\"log\":{},\"stream\":\"stdout\",\"time\":\"{}\"}}\n",
            serde_json::to_string(text).unwrap(),
            ts(ms)
        )
    };
    append(
        &legacy,
        &(docker(3, "docker cut this ") + &docker(4, "line\n")),
    );
    append(
        &java,
        &cri(10, "F", "java.lang.IllegalStateException: boom"),
    );
    append(&java, &cri(11, "F", "\tat shop.Cart.add(Cart.java:10)"));
    append(&java, &cri(12, "P", "\tat shop.Api.post("));
    let (mut srv, url) = server(&dir.path().join("data"));

    // Asserted once the processes are gone, so a failure leaves none behind.
    let mut a = agent_with_config(&root, &state, &url, &config);
    let mailed = settled_entries(&url, "mailer-0", start, end);
    let legacy_lines = entries_of(&url, "legacy-0", start, end);
    kill(&mut a); // while the `P` waits
    let java_1 = entries_of(&url, "java-1", start, end);
    append(&java, &cri(13, "F", "Api.java:20)"));
    append(&java, &cri(14, "F", "\tat shop.Main.run(Main.java:5)"));
    let mut a = agent_with_config(&root, &state, &url, &config);
    std::thread::sleep(Duration::from_millis(1000));
    kill(&mut a); // while whole lines are held, before the 3 s flush timeout
    let java_2 = entries_of(&url, "java-1", start, end);
    append(
        &java,
        &cri(15, "F", "Caused by: java.io.IOException: disk full"),
    );
    append(&java, &cri(16, "F", "\t... 3 more"));
    append(&java, &cri(17, "F", "INFO next request"));
    let mut a = agent_with_config(&root, &state, &url, &config);
    let began = Instant::now();
    while entries_of(&url, "java-1", start, end).len() < 2
        && began.elapsed() < Duration::from_secs(20)
    {
        std::thread::sleep(Duration::from_millis(200));
    }
    let java_3 = settled_entries(&url, "java-1", start, end);
    let vault_lines = entries_of(&url, "vault-0", start, end);
    kill(&mut a);
    kill(&mut srv);
    assert_eq!(
        mailed,
        [(nanos(2), "mail sent to [REDACTED] ok".to_owned())]
    );
    assert_eq!(
        legacy_lines,
        [(nanos(3), "docker cut this line".to_owned())]
    );
    assert_eq!(java_1, [], "nothing of the trace before it is complete");
    assert_eq!(java_2, [], "nothing of the trace before it is complete");
    let trace = "java.lang.IllegalStateException: boom\n\
\tat shop.Cart.add(Cart.java:10)\n\
\tat shop.Api.post(Api.java:20)\n\
\tat shop.Main.run(Main.java:5)\n\
Caused by: java.io.IOException: disk full\n\
\t... 3 more";
    assert_eq!(
        java_3,
        [
            (nanos(10), trace.to_owned()),
            (nanos(17), "INFO next request".to_owned())
        ]
    );
    assert_eq!(vault_lines, [], "an excluded namespace reaches the server");
}
