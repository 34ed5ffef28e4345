//! End-to-end tests of `kelp simulate`: run the real binary into temporary directories, then
//! read the tree back and check it against the spec (kubelet layout, rotation, restarts,
//! deletion, CRI records) and against the ledger.

use std::path::Path;
use std::process::{Command, Output};

use kelp_sim::verify::{self, Tree};
use serde_json::Value;

fn kelp_simulate(root: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_kelp"))
        .arg("simulate")
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kelp simulate {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn summary(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap()
}

fn scan(root: &Path, max_files: u32) -> Tree {
    let tree = verify::scan(root).unwrap();
    assert_eq!(tree.problems(max_files), Vec::<String>::new());
    tree
}

fn assert_ledger_matches(tree: &Tree, ledger: &Path, exact: bool) -> verify::LedgerComparison {
    let entries = verify::read_ledger(ledger).unwrap();
    let cmp = verify::compare_with_ledger(tree, &entries).unwrap();
    assert_eq!(cmp.problems, Vec::<String>::new());
    if exact {
        assert_eq!(
            (
                cmp.lines_in_files,
                cmp.lost_to_rotation,
                cmp.lost_with_instance
            ),
            (entries.len(), 0, 0)
        );
    }
    cmp
}

#[test]
fn simulate_writes_the_kubelet_layout_and_exactly_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node");
    let ledger = dir.path().join("ledger.jsonl");
    let out = kelp_simulate(
        &root,
        &[
            "--pods",
            "4",
            "--lines",
            "20000",
            "--max-size",
            "64Ki",
            "--max-files",
            "1000",
            "--rotate-check-ms",
            "20",
            "--ledger",
            ledger.to_str().unwrap(),
            "--output",
            "json",
            "--seed",
            "5",
        ],
    );
    let s = summary(&out);
    assert_eq!(
        (s["lines"].as_u64(), s["seed"].as_u64(), s["pods"].as_u64()),
        (Some(20000), Some(5), Some(4))
    );
    assert_eq!(s["stopped_by"], "lines");
    assert!(
        s["long_lines"].as_u64().unwrap() > 0 && s["rotations"].as_u64().unwrap() > 0,
        "{s}"
    );
    let tree = scan(&root, 1000);
    assert_eq!(tree.pods.len(), 4);
    assert_ledger_matches(&tree, &ledger, true);

    // Spot checks by hand, independent of kelp_sim::verify.
    let links = std::fs::read_dir(root.join("var/log/containers")).unwrap();
    for link in links {
        let link = link.unwrap().path();
        let name = link.file_name().unwrap().to_str().unwrap().to_string();
        let target = std::fs::read_link(&link).unwrap();
        assert!(
            target.is_absolute()
                && target.starts_with(root.canonicalize().unwrap().join("var/log/pods")),
            "{target:?}"
        );
        assert!(target.ends_with("0.log") && target.is_file());
        let (stem, id) = name.strip_suffix(".log").unwrap().rsplit_once('-').unwrap();
        assert!(
            id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{name}"
        );
        let [pod, ns, container]: [&str; 3] =
            stem.split('_').collect::<Vec<_>>().try_into().unwrap();
        let pod_dir = target
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            pod_dir.starts_with(&format!("{ns}_{pod}_")),
            "{pod_dir} vs {name}"
        );
        assert_eq!(target.parent().unwrap().file_name().unwrap(), container);
        let first = std::fs::read(&target).unwrap();
        if first.is_empty() {
            // Rotated just before the run ended: the kubelet leaves the new
            // file empty until the container writes again.
            let dir = target.parent().unwrap();
            assert!(
                std::fs::read_dir(dir).unwrap().count() > 1,
                "empty {target:?} without a rotation beside it"
            );
            continue;
        }
        let record = first.split(|b| *b == b'\n').next().unwrap();
        let fields: Vec<&[u8]> = record.splitn(4, |b| *b == b' ').collect();
        assert!(
            fields[0].ends_with(b"Z") && fields[0][10] == b'T',
            "{}",
            String::from_utf8_lossy(record)
        );
        assert!(matches!(fields[1], b"stdout" | b"stderr") && matches!(fields[2], b"P" | b"F"));
    }
}

#[test]
fn rotation_keeps_max_files_and_gzips_all_but_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node");
    let ledger = dir.path().join("ledger.jsonl");
    let out = kelp_simulate(
        &root,
        &[
            "--pods",
            "2",
            "--rate",
            "3000",
            "--duration",
            "3.5",
            "--max-size",
            "64Ki",
            "--max-files",
            "3",
            "--rotate-check-ms",
            "20",
            "--ledger",
            ledger.to_str().unwrap(),
            "--output",
            "json",
            "--seed",
            "2",
        ],
    );
    let s = summary(&out);
    assert_eq!(s["stopped_by"], "duration");
    assert!(
        s["gzipped"].as_u64().unwrap() >= 1 && s["rotated_deleted"].as_u64().unwrap() >= 1,
        "{s}"
    );
    let tree = scan(&root, 3);
    let mut gz = 0;
    for inst in tree
        .pods
        .iter()
        .flat_map(|p| &p.containers)
        .flat_map(|c| &c.instances)
    {
        assert!(inst.rotated.len() < 3, "live + rotated <= --max-files 3");
        for f in &inst.rotated {
            if f.gzipped {
                gz += 1;
                // A .gz holds plain CRI records: they parse, and end with a newline.
                let text = verify::read_file(&f.path).unwrap();
                assert!(
                    text.ends_with(b"\n")
                        && text.split(|b| *b == b'\n').next().unwrap().contains(&b' ')
                );
            }
        }
    }
    assert!(gz >= 1);
    let cmp = assert_ledger_matches(&tree, &ledger, false);
    assert!(cmp.lost_to_rotation > 0);
}

#[test]
fn restarts_and_deletions_follow_the_kubelet() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node");
    let ledger = dir.path().join("ledger.jsonl");
    let out = kelp_simulate(
        &root,
        &[
            "--pods",
            "3",
            "--containers-per-pod",
            "1",
            "--rate",
            "4000",
            "--duration",
            "2",
            "--max-files",
            "1000",
            "--restart-every",
            "30ms",
            "--delete-every",
            "0.4",
            "--ledger",
            ledger.to_str().unwrap(),
            "--output",
            "json",
            "--seed",
            "8",
        ],
    );
    let s = summary(&out);
    assert!(
        s["restarts"].as_u64().unwrap() >= 20 && s["deletions"].as_u64().unwrap() >= 3,
        "{s}"
    );
    assert!(s["instances_collected"].as_u64().unwrap() >= 1, "{s}");
    let tree = scan(&root, 1000);
    assert_eq!(tree.pods.len(), 3);
    for c in tree.pods.iter().flat_map(|p| &p.containers) {
        let restarts: Vec<u32> = c.instances.iter().map(|i| i.restart).collect();
        assert!(
            restarts.len() <= 2 && restarts.windows(2).all(|w| w[1] == w[0] + 1),
            "{restarts:?}"
        );
    }
    // Deleted pods left no directory and no symlink: every symlink belongs to a live pod.
    let pod_names: Vec<&str> = tree.pods.iter().map(|p| p.pod.as_str()).collect();
    assert!(tree
        .symlinks
        .iter()
        .all(|l| pod_names.contains(&l.pod.as_str())));
    let cmp = assert_ledger_matches(&tree, &ledger, false);
    assert!(
        cmp.lost_with_instance > 0 && cmp.lost_to_rotation == 0,
        "{cmp:?}"
    );
}

#[test]
fn the_same_seed_writes_the_same_lines_to_the_same_pods() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, seed: &str| {
        let ledger = dir.path().join(format!("{name}.jsonl"));
        kelp_simulate(
            &dir.path().join(name),
            &[
                "--pods",
                "3",
                "--lines",
                "4000",
                "--long-line-every",
                "50",
                "--seed",
                seed,
                "--ledger",
                ledger.to_str().unwrap(),
            ],
        );
        verify::read_ledger(&ledger)
            .unwrap()
            .into_iter()
            .map(|e| (e.pod_uid, e.container, e.container_id, e.stream, e.sha256))
            .collect::<Vec<_>>()
    };
    let a = run("a", "77");
    assert_eq!(a.len(), 4000);
    assert_eq!(a, run("b", "77"));
    assert_ne!(a, run("c", "78"));
}

#[test]
fn long_lines_become_16384_byte_partial_records() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node");
    kelp_simulate(
        &root,
        &[
            "--pods",
            "1",
            "--lines",
            "500",
            "--long-line-every",
            "3",
            "--seed",
            "4",
        ],
    );
    let tree = scan(&root, 5);
    let mut partials = 0;
    for inst in tree
        .pods
        .iter()
        .flat_map(|p| &p.containers)
        .flat_map(|c| &c.instances)
    {
        let data = std::fs::read(inst.live.as_ref().unwrap()).unwrap();
        for rec in data.split(|b| *b == b'\n').filter(|r| !r.is_empty()) {
            let f: Vec<&[u8]> = rec.splitn(4, |b| *b == b' ').collect();
            assert!(f[3].len() <= 16384);
            if f[2] == b"P" {
                assert_eq!(f[3].len(), 16384);
                partials += 1;
            }
        }
    }
    assert!(partials > 50, "{partials}");
}

#[test]
fn sigterm_stops_cleanly_and_the_ledger_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("node");
    let ledger = dir.path().join("ledger.jsonl");
    let child = Command::new(env!("CARGO_BIN_EXE_kelp"))
        .args([
            "simulate", "--pods", "2", "--rate", "2000", "--output", "json", "--root",
        ])
        .arg(&root)
        .arg("--ledger")
        .arg(&ledger)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The ledger fills once the simulator runs, after its signal handler is in place.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::metadata(&ledger).map_or(0, |m| m.len()) == 0
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let s = summary(&out);
    assert_eq!(s["stopped_by"], "stopped");
    assert!(s["lines"].as_u64().unwrap() > 100);
    let tree = scan(&root, 5);
    let cmp = assert_ledger_matches(&tree, &ledger, true);
    assert_eq!(cmp.lines_in_files as u64, s["lines"].as_u64().unwrap());
}

#[test]
fn bad_settings_and_used_roots_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kelp"))
            .arg("simulate")
            .args(args)
            .output()
            .unwrap()
    };
    let root = dir.path().join("node");
    let root = root.to_str().unwrap();
    for args in [
        &["--root", root, "--max-files", "1"][..],
        &["--root", root, "--pods", "0"],
        &["--root", root, "--max-size", "ten"],
        &["--root", root, "--lines", "5", "--duration", "1"],
        &["--pods", "1"],
    ] {
        let out = run(args);
        assert!(!out.status.success(), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
    let out = kelp_simulate(
        Path::new(root),
        &["--pods", "1", "--lines", "10", "--seed", "3"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("lines 10 ") && text.contains("seed 3"),
        "{text}"
    );
    let out = run(&["--root", root, "--lines", "10"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not empty"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn corpus_notice_prints_the_licences() {
    let out = Command::new(env!("CARGO_BIN_EXE_kelp"))
        .args(["simulate", "--corpus-notice"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Apache License")
            && text.contains("MIT")
            && text.contains("elastic/examples")
    );
}
