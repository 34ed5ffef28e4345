//! `kelp agent`'s sinks, metrics and readiness against real files and a real `kelp server`
//! (issue 5, delivery): every line arrives exactly once with its labels through the Loki
//! push and the Elasticsearch `_bulk` sinks, the file sink writes each line once, and
//! `/metrics` and `/ready` answer.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::agent::{get, kelp, kill, server};

const PODS: usize = 3;
const LINES: usize = 400;

/// Writes a pod log tree: `PODS` pods with one container, `LINES` lines each (every
/// fifth on stderr, one of them split into `P` + `F`); returns the expected lines by
/// (pod, stream).
fn tree(pods_dir: &Path) -> BTreeMap<(String, String), Vec<String>> {
    let mut expected: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for p in 0..PODS {
        let dir = pods_dir.join(format!("shop_web-{p}_uid-{p}/app"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = String::new();
        for i in 0..LINES {
            let stream = if i % 5 == 0 { "stderr" } else { "stdout" };
            let ts = format!("2026-11-22T10:00:{:02}.{:09}Z", i / 100, i + 1);
            let line = format!("pod {p} line {i} \"quoted\" \u{e9}");
            if i == 7 {
                let (a, b) = line.split_at(4);
                text.push_str(&format!("{ts} {stream} P {a}\n{ts} {stream} F {b}\n"));
            } else {
                text.push_str(&format!("{ts} {stream} F {line}\n"));
            }
            expected
                .entry((format!("web-{p}"), stream.to_owned()))
                .or_default()
                .push(line);
        }
        if p == 1 {
            // Not a CRI record: skipped, counted as a bad record.
            text.push_str("not a cri record\n");
        }
        std::fs::write(dir.join("0.log"), text).unwrap();
    }
    expected
}

fn agent(pods_dir: &Path, state: &Path, url: &str, extra: &[&str]) -> Child {
    kelp()
        .arg("agent")
        .arg("--pods-dir")
        .arg(pods_dir)
        .arg("--state-dir")
        .arg(state)
        .args(["--server", url, "--node-name", "node-1", "--listen", "none"])
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// What the server holds for namespace `shop`, by (pod, stream), after checking every
/// stream's labels.
fn stored(url: &str) -> BTreeMap<(String, String), Vec<String>> {
    let path = "/loki/api/v1/query_range?query=%7Bnamespace%3D%22shop%22%7D\
                &start=1795305600000000000&end=1795392000000000000&direction=forward&limit=5000";
    // A server still recovering answers 503: asked again, for up to 15 s.
    let began = Instant::now();
    let (status, body) = loop {
        let (status, body) = get(url, path);
        if status == 200 || began.elapsed() > Duration::from_secs(15) {
            break (status, body);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for s in v["data"]["result"].as_array().unwrap() {
        let l = &s["stream"];
        let pod = l["pod"].as_str().unwrap().to_owned();
        assert_eq!(l["container"], "app", "{l}");
        assert_eq!(l["node"], "node-1", "{l}");
        let stream = l["stream"].as_str().unwrap().to_owned();
        let lines = out.entry((pod, stream)).or_default();
        for pair in s["values"].as_array().unwrap() {
            lines.push(pair[1].as_str().unwrap().to_owned());
        }
    }
    out
}

/// Ships the tree through `--sink <kind>` into a real server; every line once.
fn ships_exactly_once(kind: &str) {
    ships_exactly_once_with(kind, &[]);
}

fn ships_exactly_once_with(kind: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let pods = dir.path().join("pods");
    let expected = tree(&pods);
    let (mut srv, url) = server(&dir.path().join("data"));
    let args: Vec<&str> = ["--sink", kind].iter().chain(extra).copied().collect();
    let mut a = agent(&pods, &dir.path().join("state"), &url, &args);
    let total = PODS * LINES;
    let began = Instant::now();
    let mut got = stored(&url);
    while got.values().map(Vec::len).sum::<usize>() < total
        && began.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(200));
        got = stored(&url);
    }
    // A moment more, for anything sent twice to show.
    std::thread::sleep(Duration::from_millis(700));
    let got = stored(&url);
    kill(&mut a);
    kill(&mut srv);
    assert_eq!(got, expected, "sink {kind}");
}

#[test]
fn the_loki_sink_ships_every_line_once_with_its_labels() {
    ships_exactly_once("loki");
}

#[test]
fn the_elasticsearch_sink_ships_every_line_once_with_its_labels() {
    ships_exactly_once("elasticsearch");
}

#[test]
fn the_kelp_sink_with_four_in_flight_ships_every_line_once() {
    ships_exactly_once_with("kelp", &["--max-in-flight", "4"]);
}

#[test]
fn the_file_sink_writes_every_line_once_and_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let pods = dir.path().join("pods");
    let expected = tree(&pods);
    let out = dir.path().join("out.jsonl");
    let state = dir.path().join("state");
    let sink_path = out.to_str().unwrap();
    let read = || -> BTreeMap<(String, String), Vec<String>> {
        let mut got: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for line in std::fs::read_to_string(&out).unwrap_or_default().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["labels"]["namespace"], "shop");
            assert_eq!(v["labels"]["node"], "node-1");
            assert!(v["metadata"]["pod_uid"]
                .as_str()
                .unwrap()
                .starts_with("uid-"));
            let key = (
                v["labels"]["pod"].as_str().unwrap().to_owned(),
                v["labels"]["stream"].as_str().unwrap().to_owned(),
            );
            got.entry(key)
                .or_default()
                .push(v["line"].as_str().unwrap().to_owned());
        }
        got
    };
    let mut a = agent(
        &pods,
        &state,
        "http://127.0.0.1:9",
        &["--sink", "file", "--sink-path", sink_path],
    );
    let began = Instant::now();
    while !state.join("checkpoints.json").exists()
        || read().values().map(Vec::len).sum::<usize>() < PODS * LINES
    {
        assert!(began.elapsed() < Duration::from_secs(30), "{:?}", read());
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    kill(&mut a);
    // Restarted, it resumes at its checkpoints: nothing is written twice.
    let mut a = agent(
        &pods,
        &state,
        "http://127.0.0.1:9",
        &["--sink", "file", "--sink-path", sink_path],
    );
    std::thread::sleep(Duration::from_millis(1500));
    kill(&mut a);
    assert_eq!(read(), expected);
}

/// Starts `kelp agent` with `args` and `/metrics` on a free port; the child and its URL.
fn agent_with_metrics(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> (Child, String) {
    let mut cmd = kelp();
    cmd.arg("agent").args(args).envs(env.iter().copied()).args([
        "--listen",
        "127.0.0.1:0",
        "--node-name",
        "node-1",
    ]);
    crate::common::spawn_announcing(cmd, "kelp agent metrics on ")
}

/// Polls `/metrics` until it contains `want` (or 30 s passed); the last text.
fn metrics_with(url: &str, want: &str) -> String {
    let began = Instant::now();
    loop {
        let (status, body) = get(url, "/metrics");
        assert_eq!(status, 200);
        if body.contains(want) || began.elapsed() > Duration::from_secs(30) {
            return body;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of an unlabelled metric.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[test]
fn metrics_and_ready_answer() {
    let dir = tempfile::tempdir().unwrap();
    let pods = dir.path().join("pods");
    tree(&pods);
    let state = dir.path().join("state");
    let (mut a, url) = agent_with_metrics(
        &[
            "--pods-dir".as_ref(),
            pods.as_os_str(),
            "--state-dir".as_ref(),
            state.as_os_str(),
            "--sink".as_ref(),
            "null".as_ref(),
        ],
        &[],
    );
    let want = format!("kelp_agent_lines_shipped_total {}", PODS * LINES);
    metrics_with(&url, &want);
    // The bad record is counted at the next discovery scan.
    let metrics = metrics_with(&url, "kelp_agent_errors_total{kind=\"bad_record\"} 1");
    assert_eq!(get(&url, "/ready").0, 200);
    assert_eq!(get(&url, "/nope").0, 404);
    kill(&mut a);
    assert!(metrics.contains(&want), "{metrics}");
    for needle in [
        &format!("kelp_agent_lines_read_total {}", PODS * LINES) as &str,
        "kelp_agent_open_files ",
        "kelp_agent_errors_total{kind=\"transport\"} 0",
        "kelp_agent_errors_total{kind=\"bad_record\"} 1",
        "kelp_agent_retries_total 0",
        "kelp_agent_batches_in_flight 0",
        "kelp_agent_records_redacted_total 0",
        "kelp_agent_multiline_records_total 0",
        "kelp_agent_file_lag_bytes{file=\"shop_web-0_uid-0/app/0.log\"} 0",
    ] {
        assert!(metrics.contains(needle), "{needle} in {metrics}");
    }
}

#[test]
/// A server over its ingestion rate answers 429 with `Retry-After`: the agent waits and
/// resends, every line still arrives once, and `/metrics` counts the throttling.
fn a_rate_limited_server_gets_every_line_once_after_retries() {
    let dir = tempfile::tempdir().unwrap();
    let pods = dir.path().join("pods");
    let expected = tree(&pods);
    let (mut srv, server_url) = crate::common::server_with_env(
        &dir.path().join("data"),
        "127.0.0.1:0",
        &[
            ("KELP_SERVER_LIMITS__INGESTION_RATE_BYTES_PER_SEC", "5000"),
            ("KELP_SERVER_LIMITS__INGESTION_BURST_BYTES", "15000"),
        ],
    );
    let state = dir.path().join("state");
    // One pod's lines per batch (≈ 10 KB), under the burst; the three exceed it.
    let (mut a, url) = agent_with_metrics(
        &[
            "--pods-dir".as_ref(),
            pods.as_os_str(),
            "--state-dir".as_ref(),
            state.as_os_str(),
            "--server".as_ref(),
            server_url.as_ref(),
        ],
        &[("KELP_AGENT_BATCH__MAX_BYTES", "20000")],
    );
    let want = format!("kelp_agent_lines_shipped_total {}", PODS * LINES);
    let metrics = metrics_with(&url, &want);
    std::thread::sleep(Duration::from_millis(500));
    let got = stored(&server_url);
    kill(&mut a);
    kill(&mut srv);
    assert!(metrics.contains(&want), "{metrics}");
    assert_eq!(got, expected);
    let throttled = metrics
        .lines()
        .find_map(|l| l.strip_prefix("kelp_agent_errors_total{kind=\"throttled\"} "))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(throttled > 0, "{metrics}");
    assert!(
        metric(&metrics, "kelp_agent_retries_total") >= throttled,
        "{metrics}"
    );
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.yaml");
    std::fs::write(&cfg, "batch:\n  max_in_flight: 0\n").unwrap();
    for (args, env, needle) in [
        (vec!["--sink", "kafka"], None, "unknown sink"),
        (
            vec!["--config", cfg.to_str().unwrap()],
            None,
            "max_in_flight",
        ),
        (vec!["--sink", "file"], None, "needs a path"),
        (
            vec![],
            Some(("KELP_AGENT_BATCH__MAX_BYTES", "lots")),
            "KELP_AGENT_BATCH__MAX_BYTES",
        ),
    ] {
        let mut cmd = kelp();
        cmd.arg("agent")
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--pods-dir")
            .arg(dir.path())
            .args(["--listen", "none"])
            .args(&args);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}
