//! Issue #9, point 4: the node's clock steps backwards and forwards. The simulator writes
//! CRI timestamps from a node clock that jumps (`--clock-jump`), the real agent ships the
//! files, the real server stores them with a 10-minute out-of-order window and its
//! 10-minute creation grace period. Every line is either stored or refused *and counted*
//! on both sides (the agent's `kelp_agent_entries_rejected_total`, the server's
//! `kelp_ingest_rejected_entries_total`); `kelp verify` finds nothing duplicated or
//! altered, and the lost lines are exactly the refused ones. See docs/guarantees.md.

use std::process::Stdio;
use std::time::{Duration, Instant};

use kelp_model::Timestamp;

use crate::common::{http, kelp, server_with_env};

const MIN: i64 = 60_000_000_000;

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
}

#[test]
fn clock_steps_on_the_node_are_stored_or_refused_and_counted_never_silently_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (root, ledger, state) = (
        dir.path().join("node"),
        dir.path().join("ledger.jsonl"),
        dir.path().join("agent"),
    );
    let (mut server, url) = server_with_env(
        &dir.path().join("data"),
        "127.0.0.1:0",
        &[
            ("KELP_SERVER_STORE__UNORDERED_WINDOW_SECS", "600"),
            ("KELP_SERVER_LIMITS__CREATION_GRACE_PERIOD_SECS", "600"),
        ],
    );
    // 0–1 s on time; 1–2 s thirty minutes behind (an NTP step back); 2–3 s an hour ahead
    // (a wrong step forward); from 3 s on time again (the fix).
    let began = Timestamp::now().as_unix_nanos();
    let sim = kelp()
        .arg("simulate")
        .arg("--root")
        .arg(&root)
        .args([
            "--pods",
            "3",
            "--rate",
            "300",
            "--duration",
            "4",
            "--seed",
            "11",
        ])
        .args(["--long-line-every", "0"])
        .args([
            "--clock-jump=-30m@1s",
            "--clock-jump=+90m@2s",
            "--clock-jump=-1h@3s",
        ])
        .arg("--ledger")
        .arg(&ledger)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(sim.success());
    let ended = Timestamp::now().as_unix_nanos();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let agent_url = format!("http://127.0.0.1:{port}");
    let mut agent = kelp()
        .arg("agent")
        .arg("--pods-dir")
        .arg(root.join("var/log/pods"))
        .arg("--state-dir")
        .arg(&state)
        .args(["--server", &url, "--node-name", "node-1"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let entries = kelp_sim::verify::read_ledger(&ledger).unwrap();
    let total = entries.len() as u64;
    let (mut behind, mut ahead) = (0u64, 0u64);
    for e in &entries {
        let t = Timestamp::parse_rfc3339(e.time.as_bytes())
            .unwrap()
            .as_unix_nanos();
        if t < began - 20 * MIN {
            behind += 1;
        } else if t > ended + 20 * MIN {
            ahead += 1;
        } else {
            assert!(t >= began - MIN && t <= ended + MIN, "{}", e.time);
        }
    }
    assert!(
        behind > 0 && ahead > 0,
        "behind {behind}, ahead {ahead} of {total}"
    );

    // Wait until the agent has shipped every line and the server has decided on each.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (agent_metrics, server_metrics) = loop {
        let a = http(&agent_url, "GET", "/metrics", "").1;
        let s = http(&url, "GET", "/metrics", "").1;
        let decided = |s: &str| {
            metric(s, "kelp_ingest_entries_total")
                + metric(s, "kelp_ingest_rejected_entries_total{reason=\"too_old\"}")
                + metric(s, "kelp_ingest_rejected_entries_total{reason=\"too_new\"}")
        };
        if a.contains("kelp_agent_lines_shipped_total")
            && metric(&a, "kelp_agent_lines_shipped_total") == total
            && decided(&s) == total
        {
            break (a, s);
        }
        assert!(Instant::now() < deadline, "not all shipped:\n{a}\n{s}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let stored = metric(&server_metrics, "kelp_ingest_entries_total");
    let too_old = metric(
        &server_metrics,
        "kelp_ingest_rejected_entries_total{reason=\"too_old\"}",
    );
    let too_new = metric(
        &server_metrics,
        "kelp_ingest_rejected_entries_total{reason=\"too_new\"}",
    );
    // Every line an hour ahead is refused as too new; the lines behind are refused as too
    // old where their stream already had newer lines (every stream here does, but a
    // stream that starts behind would keep them).
    assert_eq!(too_new, ahead, "{server_metrics}");
    assert!(
        too_old > 0 && too_old <= behind,
        "too old {too_old} of {behind} behind"
    );
    // The agent counted exactly what the server refused, and did not stop delivering.
    assert_eq!(
        metric(&agent_metrics, "kelp_agent_entries_rejected_total"),
        too_old + too_new,
        "{agent_metrics}"
    );
    assert_eq!(
        metric(&agent_metrics, "kelp_agent_errors_total{kind=\"sink\"}"),
        0
    );

    // What is stored is what the node wrote: `kelp verify` finds the refused lines lost
    // and nothing else wrong. The lines after the fix made it (a forward step refused
    // as too new does not push the stream's newest time into the future).
    let out = kelp()
        .arg("verify")
        .arg("--ledger")
        .arg(&ledger)
        .args(["--server", &url])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["lost"], too_old + too_new, "{report}");
    assert_eq!(report["duplicated"], 0, "{report}");
    assert_eq!(report["altered"], 0, "{report}");
    assert_eq!(report["stored_lines"], stored, "{report}");
    assert_eq!(stored + too_old + too_new, total);

    agent.kill().unwrap();
    agent.wait().unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
}
