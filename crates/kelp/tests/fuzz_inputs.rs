//! The fuzz targets' checked-in inputs, run as tests on stable: every seed
//! (`fuzz/seeds/<target>/`) and every regression input (`fuzz/regressions/<target>/`, the
//! inputs that once crashed a target) goes through the target's own body, with its
//! invariants (`fuzz/src/`, included here as a module).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

#[path = "../../../fuzz/src/lib.rs"]
mod kelp_fuzz;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

/// The files under `fuzz/<kind>/<target>/`, sorted.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

#[test]
fn every_target_has_seeds_and_every_checked_in_input_passes() {
    let mut failures = Vec::new();
    let mut ran = 0;
    for (target, run) in kelp_fuzz::TARGETS {
        let seeds = inputs("seeds", target);
        assert!(!seeds.is_empty(), "fuzz/seeds/{target}/ has no seed");
        for file in seeds.iter().chain(&inputs("regressions", target)) {
            let data = std::fs::read(file).expect("readable input");
            if let Err(e) = catch_unwind(AssertUnwindSafe(|| run(&data))) {
                let why = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{target}: {}: {why}", file.display()));
            }
            ran += 1;
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    // Every folder under seeds/ and regressions/ names a target (a typo would skip inputs).
    for kind in ["seeds", "regressions"] {
        for e in std::fs::read_dir(fuzz_dir().join(kind))
            .expect("the folder exists")
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                kelp_fuzz::TARGETS.iter().any(|(t, _)| *t == name),
                "fuzz/{kind}/{name} names no target"
            );
        }
    }
    assert!(ran >= kelp_fuzz::TARGETS.len());
}

#[test]
fn the_cargo_fuzz_targets_are_the_library_targets() {
    // fuzz/Cargo.toml's [[bin]]s, fuzz_targets/ and TARGETS list the same names.
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    let mut bins: Vec<String> = manifest
        .lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .filter(|n| *n != "kelp-fuzz")
        .map(str::to_owned)
        .collect();
    bins.sort();
    let mut files: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
        .expect("fuzz_targets/")
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_suffix(".rs")
                .map(str::to_owned)
        })
        .collect();
    files.sort();
    let mut names: Vec<String> = kelp_fuzz::TARGETS
        .iter()
        .map(|(t, _)| t.to_string())
        .collect();
    names.sort();
    assert_eq!(bins, names);
    assert_eq!(files, names);
}

fn seed(target: &str, name: &str) -> Vec<u8> {
    std::fs::read(fuzz_dir().join("seeds").join(target).join(name)).expect("the seed exists")
}

#[test]
fn the_hand_made_seeds_are_valid_inputs() {
    // A seed that no decoder accepts would start the fuzzer from nothing: each format's
    // seeds decode to what `fuzz/make-seeds.py` wrote.
    use kelp_model::Timestamp;
    let now = Timestamp::from_unix_secs(1_700_000_000);
    let entries =
        |s: &[kelp_model::StreamEntries]| s.iter().map(|s| s.entries.len()).sum::<usize>();
    for (name, ct, want) in [
        ("json", "application/json", 3),
        ("json-spaced", "application/json", 3),
        ("json-escapes", "application/json", 1),
        ("protobuf", "application/x-protobuf", 2),
    ] {
        let s = kelp_wire::decode_push(Some(ct), &seed("loki_push", name)).expect(name);
        assert_eq!(entries(&s), want, "loki_push/{name}");
    }
    for (name, ct) in [
        ("json", "application/json"),
        ("protobuf", "application/x-protobuf"),
    ] {
        let s = kelp_wire::otlp::decode_logs(Some(ct), &seed("otlp_logs", name), now).expect(name);
        assert!(entries(&s) >= 1, "otlp_logs/{name}");
    }
    let mapping = kelp_wire::bulk::BulkMapping::default();
    let bulk =
        kelp_wire::bulk::parse_bulk(&seed("es_bulk", "bulk"), None, &mapping, now).expect("bulk");
    assert_eq!(entries(&bulk.streams), 4);
    let push = kelp_wire::resources::decode(None, &seed("resource_push", "json"), 1 << 20)
        .expect("resource push");
    assert_eq!(push.collections[0].pods[0].containers[0].name, "nginx");
    let chunk = seed("series_chunk", "one-sample");
    assert_eq!(
        kelp_series::codec::decode(&chunk[1..], 1)
            .expect("a chunk")
            .len(),
        1
    );
    for name in ["full-0", "full-3", "partial", "empty-content"] {
        kelp_k8s::cri::parse(&seed("cri_parse", name)).expect(name);
    }
    for name in ["attrs", "escapes", "line-0", "line-2"] {
        kelp_k8s::docker::parse(&seed("docker_json", name)).expect(name);
    }
    for name in ["metric", "topk"] {
        kelp_logql::parse(std::str::from_utf8(&seed("logql_parse", name)).expect("UTF-8"))
            .expect(name);
    }
}
