//! The bodies of the fuzz targets (`fuzz_targets/` only hands libFuzzer's input to them).
//! They live in a library so that the checked-in seeds and regression inputs
//! (`fuzz/seeds/<target>/`, `fuzz/regressions/<target>/`) run as ordinary tests on stable
//! (`crates/kelp/tests/fuzz_inputs.rs` includes this file), and so that a crash found by
//! libFuzzer becomes a test by saving its input under `regressions/`.

pub mod config;
pub mod cri_join;
pub mod cri_parse;
pub mod docker_json;
pub mod es_bulk;
pub mod journal_file;
pub mod logql_parse;
pub mod logql_template;
pub mod loki_push;
pub mod multiline_join;
pub mod otlp_logs;
pub mod pod_log_path;
pub mod redaction;
pub mod resource_push;
pub mod series_chunk;
pub mod store_files;

/// A target's entry: one input, panics when an invariant breaks.
pub type Entry = fn(&[u8]);

/// Every target: its name (the folder under `seeds/` and `regressions/`) and its entry.
pub const TARGETS: &[(&str, Entry)] = &[
    ("config", config::run),
    ("cri_join", cri_join::run),
    ("cri_parse", cri_parse::run),
    ("docker_json", docker_json::run),
    ("es_bulk", es_bulk::run),
    ("journal_file", journal_file::run),
    ("logql_parse", logql_parse::run),
    ("logql_template", logql_template::run),
    ("loki_push", loki_push::run),
    ("multiline_join", multiline_join::run),
    ("otlp_logs", otlp_logs::run),
    ("pod_log_path", pod_log_path::run),
    ("redaction", redaction::run),
    ("resource_push", resource_push::run),
    ("series_chunk", series_chunk::run),
    ("store_files", store_files::run),
];
