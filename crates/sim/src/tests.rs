//! Whole-simulation tests: small nodes run for a second or two, then the tree is read back
//! with [`crate::verify`] and checked against the spec and the ledger.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tempfile::TempDir;

use crate::verify::{self, Tree};
use crate::{LedgerEntry, Report, SimConfig, SimError, Simulator, StopReason};

struct Run {
    /// Keeps the tree until the test ends.
    _dir: TempDir,
    report: Report,
    tree: Tree,
    ledger: Vec<LedgerEntry>,
}

/// Runs a node with small, fast settings changed by `tweak`, with a ledger.
fn simulate(tweak: impl FnOnce(&mut SimConfig)) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut config = SimConfig {
        root: dir.path().join("node"),
        pods: 3,
        max_size_bytes: 64 * 1024,
        rotate_check: Duration::from_millis(20),
        ledger: Some(dir.path().join("ledger.jsonl")),
        seed: 1,
        ..SimConfig::default()
    };
    tweak(&mut config);
    let max_files = config.max_files;
    let root = config.root.clone();
    let ledger_path = config.ledger.clone().unwrap();
    let report = Simulator::new(config)
        .unwrap()
        .run(&AtomicBool::new(false), |_| {})
        .unwrap();
    let tree = verify::scan(&root).unwrap();
    assert_eq!(tree.problems(max_files), Vec::<String>::new());
    let ledger = verify::read_ledger(&ledger_path).unwrap();
    assert_eq!(ledger.len() as u64, report.lines);
    Run {
        _dir: dir,
        report,
        tree,
        ledger,
    }
}

fn all_files(tree: &Tree) -> impl Iterator<Item = &verify::RotatedFile> {
    tree.pods
        .iter()
        .flat_map(|p| &p.containers)
        .flat_map(|c| &c.instances)
        .flat_map(|i| &i.rotated)
}

#[test]
fn rotation_gzips_all_but_the_newest_and_keeps_max_files() {
    let run = simulate(|c| {
        c.pods = 2;
        c.max_files = 3;
        c.lines_per_sec = Some(3000.0);
        c.duration = Some(Duration::from_millis(3500));
    });
    let r = &run.report;
    assert_eq!(r.stopped_by, Some(StopReason::Duration));
    assert!(
        r.rotations >= 4 && r.gzipped >= 1 && r.rotated_deleted >= 1,
        "{r:?}"
    );
    assert!(all_files(&run.tree).any(|f| f.gzipped));
    // problems() checked the gzip rule and the file count; every .gz holds valid CRI records.
    let cmp = verify::compare_with_ledger(&run.tree, &run.ledger).unwrap();
    assert_eq!(cmp.problems, Vec::<String>::new());
    assert!(
        cmp.lost_to_rotation > 0 && cmp.lost_with_instance == 0,
        "{cmp:?}"
    );
}

#[test]
fn without_deletions_the_files_hold_exactly_the_ledger() {
    let run = simulate(|c| {
        c.max_files = 1000;
        c.lines = Some(40_000);
        c.long_line_every = 500;
    });
    let cmp = verify::compare_with_ledger(&run.tree, &run.ledger).unwrap();
    assert_eq!(cmp.problems, Vec::<String>::new());
    assert_eq!(
        (
            cmp.lines_in_files,
            cmp.lost_to_rotation,
            cmp.lost_with_instance
        ),
        (40_000, 0, 0)
    );
    assert!(
        run.report.rotations > 0 && run.report.long_lines > 0,
        "{:?}",
        run.report
    );
}

#[test]
fn long_lines_are_split_into_16384_byte_partials() {
    let run = simulate(|c| {
        c.pods = 1;
        c.lines = Some(3000);
        c.long_line_every = 10;
    });
    let mut lens = std::collections::BTreeSet::new();
    for inst in run
        .tree
        .pods
        .iter()
        .flat_map(|p| &p.containers)
        .flat_map(|c| &c.instances)
    {
        for line in verify::read_lines(inst).unwrap() {
            let (last, parts) = line.parts.split_last().unwrap();
            assert!(parts.iter().all(|&p| p == 16384), "{:?}", line.parts);
            assert!(
                *last <= 16384 && (*last > 0 || parts.is_empty()),
                "{:?}",
                line.parts
            );
            lens.insert(line.content.len());
        }
    }
    assert!(
        lens.contains(&16384) && lens.contains(&16385) && lens.contains(&32768),
        "{lens:?}"
    );
    assert!(run.report.partial_records >= run.report.long_lines);
}

#[test]
fn restarts_start_the_next_file_and_gc_keeps_one_dead_instance() {
    let run = simulate(|c| {
        c.pods = 2;
        c.containers_per_pod = Some(1);
        c.max_files = 1000;
        c.restart_every = Some(Duration::from_millis(40));
        c.unterminated_exit_every = 1;
        c.lines_per_sec = Some(5000.0);
        c.duration = Some(Duration::from_millis(1500));
    });
    let r = &run.report;
    assert!(
        r.restarts >= 10 && r.instances_collected >= 5 && r.unterminated_lines > 0,
        "{r:?}"
    );
    let mut max_restart = 0;
    for c in run.tree.pods.iter().flat_map(|p| &p.containers) {
        let restarts: Vec<u32> = c.instances.iter().map(|i| i.restart).collect();
        // the current instance and at most the previous one (problems() checked symlinks)
        assert!(
            restarts.len() <= 2 && restarts.windows(2).all(|w| w[1] == w[0] + 1),
            "{restarts:?}"
        );
        max_restart = max_restart.max(*restarts.last().unwrap());
    }
    assert!(max_restart >= 3);
    let cmp = verify::compare_with_ledger(&run.tree, &run.ledger).unwrap();
    assert_eq!(cmp.problems, Vec::<String>::new());
    assert!(
        cmp.lost_to_rotation == 0 && cmp.lost_with_instance > 0,
        "{cmp:?}"
    );
    assert!(run.ledger.iter().any(|e| e.unterminated));
}

#[test]
fn deleted_pods_go_with_their_symlinks_and_are_replaced() {
    let run = simulate(|c| {
        c.pods = 3;
        c.max_files = 1000;
        c.delete_every = Some(Duration::from_millis(100));
        c.lines_per_sec = Some(3000.0);
        c.duration = Some(Duration::from_millis(1200));
    });
    assert!(run.report.deletions >= 5, "{:?}", run.report);
    assert_eq!(run.tree.pods.len(), 3);
    let instances: usize = run
        .tree
        .pods
        .iter()
        .flat_map(|p| &p.containers)
        .map(|c| c.instances.len())
        .sum();
    assert_eq!(run.tree.symlinks.len(), instances);
    let uids_in_ledger: std::collections::BTreeSet<&str> =
        run.ledger.iter().map(|e| e.pod_uid.as_str()).collect();
    assert!(uids_in_ledger.len() > 3);
    let cmp = verify::compare_with_ledger(&run.tree, &run.ledger).unwrap();
    assert_eq!(cmp.problems, Vec::<String>::new());
    assert!(cmp.lost_with_instance > 0, "{cmp:?}");
}

/// Lines per (namespace, pod, container), in order, as sha256s.
fn sequences(ledger: &[LedgerEntry]) -> BTreeMap<(String, String, String), Vec<String>> {
    let mut out: BTreeMap<_, Vec<String>> = BTreeMap::new();
    for e in ledger {
        out.entry((e.namespace.clone(), e.pod.clone(), e.container.clone()))
            .or_default()
            .push(e.sha256.clone());
    }
    out
}

#[test]
fn a_seed_gives_the_same_pods_and_lines() {
    let run = |seed| {
        simulate(|c| {
            c.seed = seed;
            c.lines = Some(5000);
            c.long_line_every = 100
        })
    };
    let (a, b, other) = (run(9), run(9), run(10));
    assert_eq!(sequences(&a.ledger), sequences(&b.ledger));
    let uids = |r: &Run| {
        r.tree
            .pods
            .iter()
            .map(|p| p.path.file_name().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(uids(&a), uids(&b));
    let ids = |r: &Run| {
        r.tree
            .symlinks
            .iter()
            .map(|l| l.container_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&a), ids(&b));
    assert_ne!(sequences(&a.ledger), sequences(&other.ledger));
    assert_ne!(uids(&a), uids(&other));
}

#[test]
fn a_corpus_directory_is_replayed_with_crlf_stripped() {
    let corpus = tempfile::tempdir().unwrap();
    std::fs::write(corpus.path().join("win.log"), "one\r\ntwo\r\nthree\r\n").unwrap();
    let run = simulate(|c| {
        c.corpus_dir = Some(corpus.path().to_path_buf());
        c.lines = Some(300);
        c.long_line_every = 0
    });
    let mut seen = std::collections::BTreeSet::new();
    for inst in run
        .tree
        .pods
        .iter()
        .flat_map(|p| &p.containers)
        .flat_map(|c| &c.instances)
    {
        for line in verify::read_lines(inst).unwrap() {
            seen.insert(String::from_utf8(line.content).unwrap());
        }
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["one", "three", "two"]
    );
}

#[test]
fn the_stop_flag_ends_the_run_with_a_complete_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.jsonl");
    let config = SimConfig {
        root: dir.path().join("node"),
        pods: 2,
        ledger: Some(ledger.clone()),
        lines_per_sec: Some(2000.0),
        ..SimConfig::default()
    };
    let stop = AtomicBool::new(false);
    let mut calls = 0;
    let report = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(600));
            stop.store(true, Ordering::Relaxed);
        });
        Simulator::new(config)
            .unwrap()
            .run(&stop, |_| calls += 1)
            .unwrap()
    });
    assert_eq!(report.stopped_by, Some(StopReason::Stopped));
    assert!(calls >= 1 && report.lines > 100, "{calls} {report:?}");
    let tree = verify::scan(&dir.path().join("node")).unwrap();
    let cmp = verify::compare_with_ledger(&tree, &verify::read_ledger(&ledger).unwrap()).unwrap();
    assert_eq!(
        (cmp.lines_in_files as u64, cmp.problems.len()),
        (report.lines, 0)
    );
}

#[test]
fn a_root_with_a_pod_tree_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("var/log/pods/x")).unwrap();
    let err = Simulator::new(SimConfig {
        root: dir.path().to_path_buf(),
        ..SimConfig::default()
    })
    .unwrap_err();
    assert!(matches!(err, SimError::RootNotEmpty { .. }), "{err}");
}
