//! `kelp demo` end to end: server, agent and simulated node as real processes; every line
//! written reaches the store once, and a deleted pod's logs are read back.

use std::process::Command;

#[test]
fn demo_ships_every_line_and_shows_a_deleted_pod() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node");
    let out = Command::new(env!("CARGO_BIN_EXE_kelp"))
        .args([
            "demo",
            "--seconds",
            "11",
            "--pods",
            "3",
            "--rate",
            "5000",
            "--root",
        ])
        .arg(&root)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // 11 s with a deletion every 5 s: two pods are deleted.
    assert!(!stdout.contains("deletions 0"), "{stdout}");
    assert!(
        stdout.contains(" 0 lost, 0 duplicated, 0 altered."),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("Checked against the kubelet's rules: names, gzip, max files, symlinks: ok."),
        "{stdout}"
    );
    let deleted = stdout
        .split("was deleted with its log files, but its logs live on in Kelp:")
        .nth(1)
        .unwrap_or_else(|| panic!("no deleted pod shown:\n{stdout}"));
    // `kelp logs` on the deleted pod, then its last three lines read back from the store.
    assert!(
        deleted
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("  $ kelp logs -n ") && l.contains("--tail 3")),
        "{stdout}"
    );
    assert_eq!(
        deleted
            .lines()
            .skip(2)
            .take(3)
            .filter(|l| !l.trim().is_empty())
            .count(),
        3,
        "{stdout}"
    );
    // kelp top pod -A over what the agent collected from the fake cgroup tree: kubectl's
    // header, then one row per pod with millicores and mebibytes.
    let top = stdout
        .split("$ kelp top pod -A --server ")
        .nth(1)
        .unwrap_or_else(|| panic!("no kelp top shown:\n{stdout}"));
    let rows: Vec<Vec<&str>> = top
        .lines()
        .skip(1)
        .take_while(|l| !l.contains("$ kelp top node"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows.first().map(Vec::as_slice),
        Some(["NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"].as_slice()),
        "{stdout}"
    );
    assert!(rows.len() >= 2, "{stdout}");
    for r in &rows[1..] {
        assert!(
            r.len() == 4 && r[2].ends_with('m') && r[3].ends_with("Mi"),
            "{r:?} in\n{stdout}"
        );
    }
    assert!(stdout.contains("$ kelp top node --server "), "{stdout}");
    assert!(stdout.contains("Stopped."), "{stdout}");
    // The children are gone: nothing listens on the demo's port any more.
    let url = stdout
        .split("server at ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap();
    let addr = url.trim_start_matches("http://");
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "{addr} still open"
    );
}
