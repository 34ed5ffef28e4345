//! End-to-end: `kelp agent --journal-dir` ships the kubelet's and the runtime's journal
//! entries to a real `kelp server`, is killed, and after a rotation resumes from its
//! checkpoint: every entry is stored once. Journal files are written by Debian's
//! `systemd-journal-remote` (`.ci/deps`). Issue #10, item 5.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kelp_agent::journal::export::{write_journal, ExportEntry, BOOT_ID};

use crate::agent::{get, kelp, kill, server};

fn journal_agent(pods: &Path, state: &Path, journal: &Path, url: &str) -> Child {
    kelp()
        .arg("agent")
        .arg("--pods-dir")
        .arg(pods)
        .arg("--state-dir")
        .arg(state)
        .arg("--journal-dir")
        .arg(journal)
        .args(["--server", url, "--node-name", "node-1", "--listen", "none"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// `(unit, level, line)` of every `{source="journal"}` entry, forward.
fn stored(url: &str) -> Vec<(String, String, String)> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let path = format!(
        "/loki/api/v1/query_range?query=%7Bsource%3D%22journal%22%7D&start={}&end={}&direction=forward&limit=1000",
        now - 7200,
        now + 60
    );
    let (status, body) = get(url, &path);
    if status != 200 {
        return Vec::new();
    }
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut out = Vec::new();
    for s in v["data"]["result"].as_array().unwrap() {
        assert_eq!(s["stream"]["node"], "node-1");
        for pair in s["values"].as_array().unwrap() {
            out.push((
                s["stream"]["unit"].as_str().unwrap_or("").to_owned(),
                s["stream"]["level"].as_str().unwrap_or("").to_owned(),
                pair[1].as_str().unwrap().to_owned(),
            ));
        }
    }
    out.sort_by(|a, b| a.2.cmp(&b.2));
    out
}

fn wait_stored(url: &str, n: usize) -> Vec<(String, String, String)> {
    let began = Instant::now();
    while stored(url).len() < n && began.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    // One more poll's worth, so anything extra would show.
    std::thread::sleep(Duration::from_millis(1500));
    stored(url)
}

#[test]
fn journal_entries_arrive_once_through_a_kill_and_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let (pods, state, jdir) = (
        dir.path().join("pods"),
        dir.path().join("state"),
        dir.path().join("journal"),
    );
    let mid = jdir.join(BOOT_ID);
    std::fs::create_dir_all(&mid).unwrap();
    std::fs::create_dir_all(&pods).unwrap();
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
        - 600_000_000;
    let entry = |i: u64| {
        let unit = ["kubelet.service", "containerd.service", "sshd.service"][(i % 3) as usize];
        let mut e = ExportEntry::msg(unit, t + i * 1000, &format!("journal entry {i:02}"));
        if i == 4 {
            e.priority = Some(3);
        }
        e
    };
    let want = |to: u64| -> Vec<(String, String, String)> {
        (0..to)
            .filter(|i| i % 3 != 2)
            .map(|i| {
                let e = entry(i);
                let level = if i == 4 { "error" } else { "info" };
                (e.unit, level.to_owned(), format!("journal entry {i:02}"))
            })
            .collect()
    };
    write_journal(
        &mid.join("system.journal"),
        &(0..9).map(entry).collect::<Vec<_>>(),
        true,
    )
    .unwrap();

    let (mut srv, url) = server(&dir.path().join("data"));
    let mut agent = journal_agent(&pods, &state, &jdir, &url);
    assert_eq!(wait_stored(&url, 6), want(9), "sshd.service is not read");
    kill(&mut agent);

    // journald rotates while the agent is down: the file is archived, a new one written.
    std::fs::rename(
        mid.join("system.journal"),
        mid.join(format!(
            "system@{BOOT_ID}-0000000000000001-0000000000000001.journal"
        )),
    )
    .unwrap();
    write_journal(
        &mid.join("system.journal"),
        &(9..15).map(entry).collect::<Vec<_>>(),
        true,
    )
    .unwrap();
    let mut agent = journal_agent(&pods, &state, &jdir, &url);
    assert_eq!(wait_stored(&url, 10), want(15), "each entry once");
    let cp = std::fs::read_to_string(state.join("checkpoints.json")).unwrap();
    assert!(cp.contains(r#""journal":{"cursor":"SJ1:"#), "{cp}");
    kill(&mut agent);
    kill(&mut srv);
}
