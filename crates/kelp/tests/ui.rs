//! The web UI (issue 8) in a real browser: a `kelp server` fed by the real agent on a
//! simulated node and by Loki pushes, then `crates/ui/tests/browser/ui.test.mjs` drives
//! Debian's chromium through Playwright (`playwright-core`, `npm ci` in that folder) over
//! every view. Screenshots land in `target/ui-screenshots/`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::common::{http, http_with_headers, kelp, server_with_env, spawn_announcing_to};

/// Lines pushed to namespace `bulk` for the virtualised list.
const BULK: usize = 100_000;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// What the browser tests need, or a panic that says how to get it.
fn browser_tools(dir: &Path) {
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is missing: the web UI's browser tests need Node.js (bash .ci/deps installs it)"
    );
    let chromium = std::env::var("KELP_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: the web UI's browser tests need Debian's chromium (bash .ci/deps installs it)"
    );
    assert!(
        dir.join("node_modules/playwright-core/package.json")
            .exists(),
        "{}/node_modules is missing: run `npm ci` there (bash .ci/deps does)",
        dir.display()
    );
}

/// GET `path` with an `Accept` header; the status line and headers, and the body.
fn get_accepting(url: &str, path: &str, accept: &str) -> (String, String) {
    let mut s = TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.to_ascii_lowercase(), body.to_owned())
}

fn push(url: &str, streams: serde_json::Value) {
    let body = serde_json::json!({ "streams": streams }).to_string();
    let (status, answer) = http(url, "POST", "/loki/api/v1/push", &body);
    assert_eq!(status, 204, "{answer}");
}

/// Namespace of the lines [`push_shop`] sends.
const SHOP: &str = "storefront";

/// A shop's day in the last 30 minutes: three pods on node-2 whose traffic rises and falls,
/// with an incident of errors; JSON and logfmt lines, every level, the agent's structured
/// metadata, and node-2's pod inventory.
fn push_shop(url: &str) {
    let now = now_ns();
    let ok = [
        ("info", "GET /api/cart 200"),
        ("info", "order accepted"),
        ("info", "payment authorised"),
        ("debug", "cache miss for user session"),
        ("info", "GET /api/products 200"),
        ("warn", "slow query on orders took 1.2s"),
    ];
    let mut streams = Vec::new();
    let mut present = Vec::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for (p, (pod, container, uid, scale)) in [
        (
            "web-7c9d6b5f4-2xkqz",
            "app",
            "3f1c0a52-5b1e-4c7a-9d2e-1a2b3c4d5e6f",
            1.0,
        ),
        (
            "web-7c9d6b5f4-9wq7m",
            "app",
            "8b2e4d11-0c9f-4e3b-a1d2-6f5e4d3c2b1a",
            0.8,
        ),
        (
            "checkout-0",
            "checkout",
            "c0ffee01-7a6b-4c5d-8e9f-0a1b2c3d4e5f",
            0.5,
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let mut values = Vec::new();
        // One point per second: a slow wave of traffic, and errors from minute 12 to 15.
        for sec in 0..1800i64 {
            let t = sec as f64 / 1800.0;
            let rate = scale * (0.6 + 0.5 * (t * 9.0 + p as f64).sin().abs());
            let incident = (720..900).contains(&sec);
            let n = (rate + (rand() % 100) as f64 / 100.0) as u64 + u64::from(incident);
            for k in 0..n {
                let ts = now - (1800 - sec) * 1_000_000_000 + (rand() % 999_000_000) as i64;
                let (level, msg) = if incident && k == 0 {
                    ("error", "connection refused: db-0.db:5432")
                } else {
                    ok[(rand() % ok.len() as u64) as usize]
                };
                let ms = rand() % 240 + 3;
                let line = if rand() % 3 == 0 {
                    serde_json::json!({"level": level, "msg": msg, "trace_id": format!("{:016x}", rand()), "latency_ms": ms, "user": {"id": rand() % 500, "plan": "pro"}}).to_string()
                } else {
                    format!(
                        "level={level} msg=\"{msg}\" request_id={:08x} duration_ms={ms}",
                        rand() >> 32
                    )
                };
                values.push((ts, line));
            }
        }
        values.sort();
        let values: Vec<serde_json::Value> = values
            .into_iter()
            .map(|(ts, line)| serde_json::json!([ts.to_string(), line, {"pod_uid": uid, "restart": "0"}]))
            .collect();
        streams.push(serde_json::json!({
            "stream": {"namespace": SHOP, "pod": pod, "container": container, "node": "node-2", "stream": "stdout"},
            "values": values,
        }));
        present.push(serde_json::json!({
            "namespace": SHOP, "pod": pod, "uid": uid, "containers": [{"name": container, "restart": 0}],
        }));
    }
    push(url, serde_json::Value::Array(streams));
    // node-2's agent would report these pods as present.
    let inventory = serde_json::json!({"node": "node-2", "pods": present}).to_string();
    let (status, answer) = http(url, "POST", "/kelp/api/v1/inventory", &inventory);
    assert_eq!(status, 204, "{answer}");
}

/// `BULK` lines in namespace `bulk`, 10 ms apart, ending now.
fn push_bulk(url: &str) {
    let now = now_ns();
    let levels = ["info", "info", "info", "warn", "debug", "error"];
    for chunk in (0..BULK).collect::<Vec<_>>().chunks(20_000) {
        let values: Vec<serde_json::Value> = chunk
            .iter()
            .map(|&i| {
                let ts = now - (BULK - i) as i64 * 10_000_000;
                serde_json::json!([
                    ts.to_string(),
                    format!(
                        "level={} msg=\"bulk line {i:06}\" worker={}",
                        levels[i % levels.len()],
                        i % 8
                    )
                ])
            })
            .collect();
        push(
            url,
            serde_json::json!([{"stream": {"namespace": "bulk", "job": "load"}, "values": values}]),
        );
    }
}

/// Runs the simulator (with its fake cgroup tree) and the agent (collecting resource
/// metrics every second); returns the agent, still running so the metrics stay fresh, and
/// a pod the simulator deleted (as facts JSON).
fn feed_from_a_simulated_node(dir: &Path, url: &str) -> (Child, serde_json::Value) {
    let (root, ledger, state) = (
        dir.join("node"),
        dir.join("ledger.jsonl"),
        dir.join("agent"),
    );
    let sim = kelp()
        .arg("simulate")
        .arg("--root")
        .arg(&root)
        .args(["--pods", "4", "--rate", "300", "--duration", "6"])
        .args([
            "--restart-every",
            "2",
            "--delete-every",
            "3",
            "--seed",
            "8",
            "--cgroups",
        ])
        .arg("--ledger")
        .arg(&ledger)
        .stdout(Stdio::null())
        .spawn();
    let agent = kelp()
        .arg("agent")
        .arg("--pods-dir")
        .arg(root.join("var/log/pods"))
        .arg("--state-dir")
        .arg(&state)
        .args([
            "--server",
            url,
            "--node-name",
            "node-1",
            "--metrics-interval",
            "1s",
        ])
        .arg("--cgroup-root")
        .arg(root.join("sys/fs/cgroup"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(sim.unwrap().wait().unwrap().success());
    let (shipped, report) = crate::agent::verify(&ledger, url, Duration::from_secs(60));
    assert!(shipped, "{report}");
    let alive: std::collections::HashSet<String> = std::fs::read_dir(root.join("var/log/pods"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let entries = kelp_sim::verify::read_ledger(&ledger).unwrap();
    let gone = entries
        .iter()
        .rev()
        .find(|e| !alive.contains(&format!("{}_{}_{}", e.namespace, e.pod, e.pod_uid)))
        .expect("the simulator deleted a pod");
    let gone = serde_json::json!({
        "namespace": gone.namespace, "pod": gone.pod, "uid": gone.pod_uid, "container": gone.container,
    });
    (agent, gone)
}

/// The scoped reader's token of [`secured_server`].
const SCOPED: &str = "ui-reader-ns-a-0123456789abcdef";
const WRITER: &str = "ui-writer-0123456789abcdef";

/// A second `kelp server` that requires bearer tokens (issue #9): a writer, and a reader
/// scoped to namespace `ns-a`; lines in `ns-a` and `ns-b`. Its stderr (debug level) goes
/// to `log`, to show the token never appears there. Returns it and its URL.
fn secured_server(dir: &Path, log: &Path) -> (Child, String) {
    let tokens = dir.join("tokens.yaml");
    std::fs::write(
        &tokens,
        format!(
            "- {{token: {WRITER}, tenant: team-a, rights: [write]}}\n\
             - {{token: {SCOPED}, tenant: team-a, rights: [read], namespaces: [ns-a]}}\n"
        ),
    )
    .unwrap();
    let mut cmd = kelp();
    cmd.args(["server", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .env("KELP_SERVER_AUTH__TOKENS_FILE", &tokens);
    let (child, url) = spawn_announcing_to(cmd, "kelp server listening on ", "debug", Some(log));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while http(&url, "GET", "/ready", "").0 != 200 {
        assert!(std::time::Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    let now = now_ns();
    for ns in ["ns-a", "ns-b"] {
        let values: Vec<serde_json::Value> = (0..50)
            .map(|i| {
                serde_json::json!([
                    (now - (50 - i) * 1_000_000_000).to_string(),
                    format!("level=info msg=\"line {i} in {ns}\"")
                ])
            })
            .collect();
        let body = serde_json::json!({"streams": [{"stream": {"namespace": ns, "pod": format!("pod-{ns}"), "container": "app"}, "values": values}]});
        let auth = format!("Bearer {WRITER}");
        let (status, answer) = http_with_headers(
            &url,
            "POST",
            "/loki/api/v1/push",
            &[("Authorization", &auth)],
            &body.to_string(),
        );
        assert_eq!(status, 204, "{answer}");
    }
    (child, url)
}

#[test]
fn web_ui_in_chromium() {
    let browser = workspace_root().join("crates/ui/tests/browser");
    browser_tools(&browser);
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url) = server_with_env(
        &dir.path().join("data"),
        "127.0.0.1:0",
        &[("KELP_SERVER_LIMITS__MAX_ENTRIES_PER_QUERY", "100000")],
    );

    // `/`: Elasticsearch's document for API clients, the UI for browsers.
    let (head, body) = get_accepting(&url, "/", "application/json");
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("x-elastic-product: elasticsearch"), "{head}");
    assert!(body.contains("\"tagline\""), "{body}");
    let (head, _) = get_accepting(&url, "/", "*/*");
    assert!(head.contains("x-elastic-product: elasticsearch"), "{head}");
    let (head, _) = get_accepting(&url, "/", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8");
    assert!(head.starts_with("http/1.1 303"), "{head}");
    assert!(head.contains("location: /ui/"), "{head}");
    let (head, page) = get_accepting(&url, "/ui/explore", "text/html");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(page.contains("/ui/assets/js/main.js"));
    // The UI shadows no API route: an unknown API path is still the API's 404, and an
    // Elasticsearch index named `ui` still takes bulk writes.
    assert_eq!(http(&url, "GET", "/loki/api/v1/nothing", "").0, 404);
    let (status, answer) = http(
        &url,
        "POST",
        "/ui/_bulk",
        "{\"index\":{}}\n{\"message\":\"hi\"}\n",
    );
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("\"_index\":\"ui\""), "{answer}");

    let (mut agent, deleted) = feed_from_a_simulated_node(dir.path(), &url);
    push_shop(&url);
    push_bulk(&url);

    let secured_log = dir.path().join("secured-server.log");
    let secured_dir = dir.path().join("secured");
    std::fs::create_dir_all(&secured_dir).unwrap();
    let (mut secured, secured_url) = secured_server(&secured_dir, &secured_log);

    let shots = workspace_root().join("target/ui-screenshots");
    let facts = serde_json::json!({
        "shop": SHOP, "bulk": BULK, "deleted": deleted,
        "secured": {"url": secured_url, "token": SCOPED, "write": WRITER},
    });
    let out = Command::new("node")
        .arg("ui.test.mjs")
        .arg(&url)
        .arg(&shots)
        .arg(facts.to_string())
        .current_dir(&browser)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    crate::agent::kill(&mut agent);
    server.kill().unwrap();
    server.wait().unwrap();
    secured.kill().unwrap();
    secured.wait().unwrap();
    // The tokens reached the server (as headers and as a WebSocket subprotocol) and were
    // never written to its log, even at debug level.
    let log = std::fs::read_to_string(&secured_log).unwrap();
    assert!(log.contains("kelp server listening on"), "{log}");
    for secret in [SCOPED, WRITER] {
        assert!(!log.contains(secret), "a token in the server's log:\n{log}");
    }
    assert!(
        out.status.success(),
        "browser tests failed:\n{stdout}\n{stderr}"
    );
}
