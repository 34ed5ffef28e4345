//! Bearer tokens end to end (issue #9, point 1): `kelp server` with a token file,
//! `kelp agent --token-file` shipping a simulated node, `kelp verify` and `kelp query`
//! reading with `KELP_TOKEN`; a namespace-scoped token sees only its namespace.

use std::process::Stdio;
use std::time::Duration;

use crate::common::{kelp, server_with_env};

const WRITE: &str = "agent-write-token-0123456789";
const READ: &str = "reader-token-0123456789abcd";

#[test]
fn agent_and_cli_send_tokens_and_scoped_reads_see_one_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node");
    let ledger = dir.path().join("ledger.jsonl");
    let tokens = dir.path().join("tokens.yaml");
    let token_file = dir.path().join("agent-token");
    std::fs::write(&token_file, format!("{WRITE}\n")).unwrap();
    let sim = kelp()
        .arg("simulate")
        .arg("--root")
        .arg(&root)
        .args([
            "--pods",
            "4",
            "--rate",
            "400",
            "--duration",
            "2",
            "--seed",
            "5",
        ])
        .arg("--ledger")
        .arg(&ledger)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(sim.success());
    // The namespaces the simulator used: scope a token to the first one.
    let entries = kelp_sim::verify::read_ledger(&ledger).unwrap();
    let mut namespaces: Vec<String> = entries.iter().map(|e| e.namespace.clone()).collect();
    namespaces.sort();
    namespaces.dedup();
    assert!(namespaces.len() >= 2, "{namespaces:?}");
    let (mine, other) = (&namespaces[0], &namespaces[1]);
    let scoped = "scoped-reader-0123456789abcd";
    std::fs::write(
        &tokens,
        format!(
            "- {{token: {WRITE}, tenant: team-a, rights: [write]}}\n\
             - {{token: {READ}, tenant: team-a, rights: [read]}}\n\
             - {{token: {scoped}, tenant: team-a, rights: [read], namespaces: [{mine}]}}\n"
        ),
    )
    .unwrap();
    let tokens_env = tokens.to_string_lossy().into_owned();
    let (mut server, url) = server_with_env(
        &dir.path().join("data"),
        "127.0.0.1:0",
        &[("KELP_SERVER_AUTH__TOKENS_FILE", &tokens_env)],
    );
    let mut agent = kelp()
        .arg("agent")
        .arg("--pods-dir")
        .arg(root.join("var/log/pods"))
        .arg("--state-dir")
        .arg(dir.path().join("agent"))
        .args([
            "--server",
            &url,
            "--node-name",
            "node-1",
            "--listen",
            "none",
        ])
        .arg("--token-file")
        .arg(&token_file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // `kelp verify` with the read token: every line exactly once.
    let began = std::time::Instant::now();
    let report = loop {
        let out = kelp()
            .arg("verify")
            .arg("--ledger")
            .arg(&ledger)
            .args(["--server", &url])
            .env("KELP_TOKEN", READ)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            break report;
        }
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "never shipped: {report}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(report.contains("\"lost\":0"), "{report}");
    agent.kill().unwrap();
    agent.wait().unwrap();

    let query = |token: Option<&str>| {
        let mut c = kelp();
        c.args([
            "query",
            "--server",
            &url,
            "--since",
            "24h",
            "--limit",
            "5000",
            "-o",
            "json",
            "{node=\"node-1\"}",
        ]);
        c.env_remove("KELP_TOKEN");
        if let Some(t) = token {
            c.env("KELP_TOKEN", t);
        }
        c.env("HOME", dir.path()).output().unwrap()
    };
    let full = query(Some(READ));
    let full_out = String::from_utf8_lossy(&full.stdout);
    assert!(full.status.success(), "{full:?}");
    let has = |out: &str, ns: &str| out.contains(&format!("\"namespace\":\"{ns}\""));
    assert!(has(&full_out, mine) && has(&full_out, other), "{full_out}");
    let part = query(Some(scoped));
    let part_out = String::from_utf8_lossy(&part.stdout);
    assert!(part.status.success(), "{part:?}");
    assert!(has(&part_out, mine), "{part_out}");
    assert!(!has(&part_out, other), "{part_out}");
    let none = query(None);
    assert!(!none.status.success());
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("missing bearer token"),
        "{none:?}"
    );
    server.kill().unwrap();
    server.wait().unwrap();
}
