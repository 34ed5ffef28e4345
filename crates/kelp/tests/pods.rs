//! `kelp pods`, `GET /kelp/api/v1/pods` and the agent's pod inventory; colour and the
//! connection config file of the reading commands. Issue 6.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::common::{http, http_with_headers, kelp, server_on, server_with_env};

const S: i64 = 1_000_000_000;

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn rfc(ns: i64) -> String {
    kelp_model::Timestamp::from_unix_nanos(ns).to_rfc3339_fixed()
}

/// `(namespace, pod, container, node, uid, restart, ts, line)`.
type Row<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    u32,
    i64,
    &'a str,
);

/// Pushes entries as Loki JSON with the agent's structured metadata, as `tenant` if given.
fn push_as(url: &str, tenant: Option<&str>, rows: &[Row]) {
    let streams: Vec<Value> = rows
        .iter()
        .map(|(ns, pod, c, node, uid, restart, ts, line)| {
            json!({
                "stream": {"namespace": ns, "pod": pod, "container": c, "node": node, "stream": "stdout"},
                "values": [[ts.to_string(), line, {"pod_uid": uid, "restart": restart.to_string()}]],
            })
        })
        .collect();
    let body = json!({ "streams": streams }).to_string();
    let (status, answer) = request(url, "POST", "/loki/api/v1/push", tenant, &body);
    assert_eq!(status, 204, "{answer}");
}

/// One HTTP request with an optional `X-Scope-OrgID`.
fn request(url: &str, method: &str, path: &str, tenant: Option<&str>, body: &str) -> (u16, String) {
    match tenant {
        Some(t) => http_with_headers(url, method, path, &[("X-Scope-OrgID", t)], body),
        None => http(url, method, path, body),
    }
}

/// `kelp ARGS` with no connection settings from the environment or a config file of
/// the machine running the tests.
fn kelp_clean(home: &Path) -> Command {
    let mut c = kelp();
    for v in [
        "KELP_SERVER",
        "KELP_TENANT",
        "KELP_TOKEN",
        "KELP_CONFIG",
        "KELP_CONTEXT",
        "NO_COLOR",
        "XDG_CONFIG_HOME",
    ] {
        c.env_remove(v);
    }
    c.env("HOME", home);
    c
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn fail(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// The API's answer for `query`.
fn api_pods(url: &str, query: &str) -> Vec<Value> {
    let (status, body) = http(url, "GET", &format!("/kelp/api/v1/pods{query}"), "");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "success");
    v["data"].as_array().unwrap().clone()
}

/// A StatefulSet pod recreated under the same name (UID a, then b), a pod on a node no
/// agent reports for, a pod of another namespace; the inventory of node-1 lists only the
/// recreated pod's new UID and the other namespace's pod.
fn populate(url: &str, t0: i64) {
    push_as(
        url,
        None,
        &[
            ("data", "db-0", "pg", "node-1", "a", 0, t0, "a0 start"),
            ("data", "db-0", "pg", "node-1", "a", 0, t0 + S, "a0 crash"),
            (
                "data",
                "db-0",
                "pg",
                "node-1",
                "a",
                1,
                t0 + 2 * S,
                "a1 start",
            ),
            (
                "data",
                "db-0",
                "pg",
                "node-1",
                "a",
                1,
                t0 + 3 * S,
                "a1 stop",
            ),
            ("data", "db-0", "exporter", "node-1", "a", 0, t0 + S, "exp"),
            (
                "data",
                "db-0",
                "pg",
                "node-1",
                "b",
                0,
                t0 + 10 * S,
                "b0 start",
            ),
            (
                "data",
                "db-0",
                "pg",
                "node-1",
                "b",
                0,
                t0 + 11 * S,
                "b0 ready",
            ),
            ("data", "web-1", "app", "node-2", "w", 0, t0 + 5 * S, "web"),
            ("other", "x", "c", "node-1", "x", 0, t0 + S, "x"),
        ],
    );
    let inv = json!({"node": "node-1", "pods": [
        {"namespace": "data", "pod": "db-0", "uid": "b", "containers": [{"name": "pg", "restart": 3}]},
        {"namespace": "other", "pod": "x", "uid": "x", "containers": [{"name": "c", "restart": 0}]},
    ]});
    let (status, body) = http(url, "POST", "/kelp/api/v1/inventory", &inv.to_string());
    assert_eq!(status, 204, "{body}");
}

#[test]
fn pods_api_tells_instances_apart_and_knows_which_still_exist() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let (mut server, url) = server_on(&dir.path().join("data"), &listen);
    let t0 = (now_ns() - 600 * S) / S * S;
    populate(&url, t0);

    let want = json!([
        {"namespace": "data", "pod": "db-0", "uid": "a", "node": "node-1",
         "first_seen": rfc(t0), "last_seen": rfc(t0 + 3 * S), "restarts": 1, "exists": false,
         "containers": [
            {"name": "exporter", "restarts": 0, "first_seen": rfc(t0 + S), "last_seen": rfc(t0 + S)},
            {"name": "pg", "restarts": 1, "first_seen": rfc(t0), "last_seen": rfc(t0 + 3 * S)}]},
        {"namespace": "data", "pod": "db-0", "uid": "b", "node": "node-1",
         "first_seen": rfc(t0 + 10 * S), "last_seen": rfc(t0 + 11 * S), "restarts": 3, "exists": true,
         "containers": [
            {"name": "pg", "restarts": 3, "first_seen": rfc(t0 + 10 * S), "last_seen": rfc(t0 + 11 * S)}]},
        {"namespace": "data", "pod": "web-1", "uid": "w", "node": "node-2",
         "first_seen": rfc(t0 + 5 * S), "last_seen": rfc(t0 + 5 * S), "restarts": 0, "exists": null,
         "containers": [
            {"name": "app", "restarts": 0, "first_seen": rfc(t0 + 5 * S), "last_seen": rfc(t0 + 5 * S)}]},
    ]);
    assert_eq!(Value::Array(api_pods(&url, "?namespace=data")), want);
    // deleted=true: only pods known to be gone.
    let gone = api_pods(&url, "?namespace=data&deleted=true");
    assert_eq!(gone, [want[0].clone()]);
    // Every namespace, sorted by namespace.
    let all = api_pods(&url, "");
    let names: Vec<(&str, &str)> = all
        .iter()
        .map(|p| (p["namespace"].as_str().unwrap(), p["uid"].as_str().unwrap()))
        .collect();
    assert_eq!(
        names,
        [("data", "a"), ("data", "b"), ("data", "w"), ("other", "x")]
    );
    // A window (RFC 3339 and Unix seconds) that starts after UID a's last line.
    let start = kelp_model::Timestamp::from_unix_nanos(t0 + 9 * S).to_rfc3339_secs();
    let w = api_pods(
        &url,
        &format!("?namespace=data&start={start}&end={}", (t0 + 20 * S) / S),
    );
    assert_eq!(w, [want[1].clone()]);
    // Bad parameters and bodies.
    for (method, path, body) in [
        ("GET", "/kelp/api/v1/pods?deleted=maybe", ""),
        ("GET", "/kelp/api/v1/pods?start=10&end=5", ""),
        ("GET", "/kelp/api/v1/pods?start=yesterday", ""),
        ("POST", "/kelp/api/v1/inventory", "{"),
        ("POST", "/kelp/api/v1/inventory", r#"{"node":"","pods":[]}"#),
        (
            "POST",
            "/kelp/api/v1/inventory",
            r#"{"node":"n","pods":[{"namespace":"a","pod":"","uid":"u"}]}"#,
        ),
    ] {
        let (status, answer) = http(&url, method, path, body);
        assert_eq!(status, 400, "{method} {path} {body}: {answer}");
    }

    // The inventory survives a server restart. A report older than 5 minutes (node-2's,
    // written here as the server writes them) counts as none: web-1 stays unknown.
    server.kill().unwrap();
    server.wait().unwrap();
    let name: String = "fake/node-2".bytes().map(|b| format!("{b:02x}")).collect();
    std::fs::write(
        dir.path()
            .join("data/inventory")
            .join(format!("{name}.json")),
        r#"{"tenant":"fake","node":"node-2","received":0,"pods":[]}"#,
    )
    .unwrap();
    let (mut server, url) = server_on(&dir.path().join("data"), &listen);
    assert_eq!(Value::Array(api_pods(&url, "?namespace=data")), want);

    // kelp pods: kubectl's table, statuses, --deleted, -A, -o json.
    let home = dir.path();
    let pods = |args: &[&str]| {
        kelp_clean(home)
            .arg("pods")
            .args(args)
            .args(["--server", &url])
            .output()
            .unwrap()
    };
    let table = ok(&pods(&["-n", "data"]));
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        table.lines().next().unwrap(),
        "NAME      NODE      RESTARTS   FIRST SEEN   LAST SEEN   STATUS"
    );
    assert_eq!(lines[1][0], "db-0");
    assert_eq!((lines[1][2], lines[1][5]), ("1", "Deleted"));
    assert_eq!((lines[2][2], lines[2][5]), ("3", "Running"));
    assert_eq!(
        (lines[3][0], lines[3][1], lines[3][5]),
        ("web-1", "node-2", "Unknown")
    );
    // Ages as kubectl prints them: the first line is about ten minutes old.
    assert!(["10m", "11m"].contains(&lines[1][3]), "{table}");
    assert_eq!(lines.len(), 4);
    assert!(!table.contains('\x1b'), "no colour when piped");
    let deleted = ok(&pods(&["-A", "--deleted"]));
    let rows: Vec<&str> = deleted.lines().collect();
    assert!(rows[0].starts_with("NAMESPACE   NAME"), "{deleted}");
    assert_eq!(rows.len(), 2, "{deleted}");
    assert!(rows[1].starts_with("data        db-0") && rows[1].ends_with("Deleted"));
    let j: Value = serde_json::from_str(&ok(&pods(&["-n", "data", "-o", "json"]))).unwrap();
    assert_eq!(j["data"], want);
    let coloured = ok(&pods(&["-n", "data", "--color", "always"]));
    assert!(coloured.contains("\x1b[1mNAME"), "bold header");
    assert!(coloured.contains("\x1b[31mDeleted"), "{coloured:?}");
    assert!(coloured.contains("\x1b[32mRunning"));
    let o = pods(&["-n", "nothing-here"]);
    assert_eq!(ok(&o), "");
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "No resources found in nothing-here namespace.\n"
    );
    // Errors.
    let e = fail(&pods(&["--since", "yesterday"]));
    assert!(
        e.starts_with("error: invalid argument \"yesterday\" for \"--since\" flag"),
        "{e}"
    );
    let e = fail(
        &kelp_clean(home)
            .args(["pods", "--server", "http://127.0.0.1:1"])
            .output()
            .unwrap(),
    );
    assert!(e.starts_with("error: asking http://127.0.0.1:1"), "{e}");
    let e = fail(
        &kelp_clean(home)
            .args(["pods", "--server", "ftp://x"])
            .output()
            .unwrap(),
    );
    assert!(e.contains("only http://"), "{e}");

    // kelp logs --prefix: coloured like stern on request, plain when piped.
    let logs = |extra: &[&str]| {
        let mut c = kelp_clean(home);
        c.args([
            "logs", "-n", "data", "db-0", "-c", "pg", "--prefix", "--server", &url,
        ]);
        ok(&c.args(extra).output().unwrap())
    };
    assert_eq!(
        logs(&[]),
        "[pod/db-0/pg] b0 start\n[pod/db-0/pg] b0 ready\n"
    );
    let c = logs(&["--color", "always"]);
    assert!(
        c.starts_with("[\x1b[3") && c.contains("pod/db-0\x1b[0m/") && c.contains("] b0 start\n"),
        "{c:?}"
    );
    assert_eq!(logs(&["--color", "never"]), logs(&[]));
    // -o json: one object per line.
    let out = ok(&kelp_clean(home)
        .args([
            "logs", "-n", "data", "db-0", "-c", "pg", "-o", "json", "--server", &url,
        ])
        .output()
        .unwrap());
    let objs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        objs,
        [
            json!({"timestamp": rfc(t0 + 10 * S), "namespace": "data", "pod": "db-0", "container": "pg", "stream": "stdout", "line": "b0 start"}),
            json!({"timestamp": rfc(t0 + 11 * S), "namespace": "data", "pod": "db-0", "container": "pg", "stream": "stdout", "line": "b0 ready"}),
        ]
    );
    // kelp query's table: labels coloured by their hash, times dim, on request only.
    let q = |extra: &[&str]| {
        ok(&kelp_clean(home)
            .args([
                "query",
                r#"{pod="db-0", container="pg"}"#,
                "--since",
                "1h",
                "--server",
                &url,
            ])
            .args(extra)
            .output()
            .unwrap())
    };
    assert!(!q(&[]).contains('\x1b'));
    let c = q(&["--color", "always"]);
    assert!(c.starts_with("\x1b[2m") && c.contains("\x1b[3"), "{c:?}");
    // NO_COLOR does not override an explicit --color always, and auto stays plain in a pipe.
    let mut c = kelp_clean(home);
    c.env("NO_COLOR", "1").args([
        "logs", "-n", "data", "db-0", "-c", "pg", "--prefix", "--server", &url,
    ]);
    assert!(!ok(&c.output().unwrap()).contains('\x1b'));
    server.kill().unwrap();
    server.wait().unwrap();
}

/// Connection settings: flags over the environment over the config file (and its
/// contexts) over the default.
#[test]
fn connection_settings_come_from_flags_then_env_then_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url) = server_with_env(
        &dir.path().join("data"),
        "127.0.0.1:0",
        &[("KELP_SERVER_AUTH_ENABLED", "true")],
    );
    let t0 = now_ns() - 60 * S;
    push_as(
        &url,
        Some("t1"),
        &[("one", "p", "c", "n", "u", 0, t0, "from t1")],
    );
    push_as(
        &url,
        Some("t2"),
        &[("two", "p", "c", "n", "u", 0, t0, "from t2")],
    );
    let home = dir.path().join("home");
    let cfg_dir = home.join(".config/kelp");
    std::fs::create_dir_all(&cfg_dir).unwrap();
    let dead = "http://127.0.0.1:1";
    // The default location: ~/.config/kelp/config.yaml.
    std::fs::write(
        cfg_dir.join("config.yaml"),
        format!("server: {url}\ntenant: t1\ncontexts:\n  second: {{tenant: t2}}\n  dead: {{server: '{dead}'}}\n"),
    )
    .unwrap();
    let namespaces = |cmd: &mut Command| -> Output { cmd.output().unwrap() };
    let kelp_clean = |home: &Path| {
        let mut c = kelp_clean(home);
        c.args(["labels", "namespace"]);
        c
    };
    assert_eq!(ok(&namespaces(&mut kelp_clean(&home))), "one\n");
    // A context overrides the top level; the environment chooses one too.
    assert_eq!(
        ok(&namespaces(kelp_clean(&home).args(["--context", "second"]))),
        "two\n"
    );
    assert_eq!(
        ok(&namespaces(kelp_clean(&home).env("KELP_CONTEXT", "second"))),
        "two\n"
    );
    let e = fail(&namespaces(kelp_clean(&home).args(["--context", "third"])));
    assert_eq!(
        e,
        "error: context \"third\" is not in the config file (contexts: dead, second)\n"
    );
    // The environment beats the file, flags beat the environment.
    assert_eq!(
        ok(&namespaces(kelp_clean(&home).env("KELP_TENANT", "t2"))),
        "two\n"
    );
    assert_eq!(
        ok(&namespaces(
            kelp_clean(&home)
                .env("KELP_TENANT", "t2")
                .args(["--tenant", "t1"])
        )),
        "one\n"
    );
    assert!(fail(&namespaces(kelp_clean(&home).args(["--context", "dead"]))).contains(dead));
    assert_eq!(
        ok(&namespaces(
            kelp_clean(&home)
                .args(["--context", "dead"])
                .env("KELP_SERVER", &url)
        )),
        "one\n"
    );
    assert!(fail(&namespaces(kelp_clean(&home).env("KELP_SERVER", dead))).contains(dead));
    assert_eq!(
        ok(&namespaces(
            kelp_clean(&home)
                .env("KELP_SERVER", dead)
                .args(["--server", &url])
        )),
        "one\n"
    );
    // A named file (flag over $KELP_CONFIG) with current-context.
    let named = dir.path().join("other.yaml");
    std::fs::write(
        &named,
        format!("current-context: t2\ncontexts:\n  t2: {{server: '{url}', tenant: t2}}\n"),
    )
    .unwrap();
    assert_eq!(
        ok(&namespaces(kelp_clean(&home).env("KELP_CONFIG", &named))),
        "two\n"
    );
    assert_eq!(
        ok(&namespaces(
            kelp_clean(&home)
                .env("KELP_CONFIG", "/nonexistent")
                .arg("--config")
                .arg(&named)
        )),
        "two\n"
    );
    // A named file must exist and be valid; the default one may be missing.
    let e = fail(&namespaces(
        kelp_clean(&home).env("KELP_CONFIG", "/nonexistent/kelp.yaml"),
    ));
    assert!(
        e.starts_with("error: reading the config file /nonexistent/kelp.yaml"),
        "{e}"
    );
    std::fs::write(&named, "sever: typo\n").unwrap();
    let e = fail(&namespaces(kelp_clean(&home).arg("--config").arg(&named)));
    assert!(
        e.contains("is not valid") && e.contains("unknown field `sever`"),
        "{e}"
    );
    let nohome = dir.path().join("nohome");
    let e = fail(&namespaces(kelp_clean(&nohome).args(["--server", &url])));
    assert!(e.contains("no org id"), "auth on, no tenant: {e}");
    server.kill().unwrap();
    server.wait().unwrap();
}

/// `kelp pods` and `kelp logs` flags on what the real agent shipped from a simulated
/// node: live pods Running, deleted ones Deleted, restarts and first/last seen as the
/// simulator's ledger and the node's final tree have them.
#[test]
fn kelp_pods_and_logs_on_what_the_agent_shipped() {
    let dir = tempfile::tempdir().unwrap();
    let (root, ledger, state) = (
        dir.path().join("node"),
        dir.path().join("ledger.jsonl"),
        dir.path().join("agent"),
    );
    let (mut server, url) = server_on(&dir.path().join("data"), "127.0.0.1:0");
    let sim = kelp()
        .arg("simulate")
        .arg("--root")
        .arg(&root)
        .args(["--pods", "4", "--rate", "300", "--duration", "7"])
        .args(["--restart-every", "2", "--delete-every", "3", "--seed", "5"])
        .arg("--ledger")
        .arg(&ledger)
        .stdout(Stdio::null())
        .spawn();
    let mut agent = crate::agent::agent(&root, &state, &url);
    assert!(sim.unwrap().wait().unwrap().success());
    let (shipped, report) = crate::agent::verify(&ledger, &url, Duration::from_secs(60));
    assert!(shipped, "{report}");
    let entries = kelp_sim::verify::read_ledger(&ledger).unwrap();
    let pods_dir = root.join("var/log/pods");

    // What the ledger and the node's tree say: (ns, pod, uid) → container → (first, last,
    // restart).
    type Key = (String, String, String);
    let mut want: std::collections::BTreeMap<
        Key,
        std::collections::BTreeMap<String, (i64, i64, u32)>,
    > = Default::default();
    for e in &entries {
        let ts = kelp_model::Timestamp::parse_rfc3339(e.time.as_bytes())
            .unwrap()
            .as_unix_nanos();
        let c = want
            .entry((e.namespace.clone(), e.pod.clone(), e.pod_uid.clone()))
            .or_default()
            .entry(e.container.clone())
            .or_insert((ts, ts, e.restart));
        *c = (c.0.min(ts), c.1.max(ts), c.2.max(e.restart));
    }
    let on_node = |k: &Key| pods_dir.join(format!("{}_{}_{}", k.0, k.1, k.2));
    // A live container's current restart may have written nothing yet: the tree has it.
    let restart_on_node = |k: &Key, c: &str| -> u32 {
        std::fs::read_dir(on_node(k).join(c))
            .map(|d| {
                d.filter_map(|f| {
                    let name = f.ok()?.file_name().to_string_lossy().into_owned();
                    name.split('.').next()?.parse::<u32>().ok()
                })
                .max()
                .unwrap_or(0)
            })
            .unwrap_or(0)
    };
    let expected: Vec<Value> = want
        .iter()
        .map(|(k, cs)| {
            let exists = on_node(k).exists();
            let containers: Vec<Value> = cs
                .iter()
                .map(|(c, (first, last, restart))| {
                    let r = if exists { (*restart).max(restart_on_node(k, c)) } else { *restart };
                    json!({"name": c, "restarts": r, "first_seen": rfc(*first), "last_seen": rfc(*last)})
                })
                .collect();
            let first = cs.values().map(|v| v.0).min().unwrap();
            let last = cs.values().map(|v| v.1).max().unwrap();
            let restarts: u64 = containers.iter().map(|c| c["restarts"].as_u64().unwrap()).sum();
            json!({"namespace": k.0, "pod": k.1, "uid": k.2, "node": "node-1",
                   "first_seen": rfc(first), "last_seen": rfc(last), "restarts": restarts,
                   "exists": exists, "containers": containers})
        })
        .collect();
    let mut expected_sorted = expected.clone();
    expected_sorted.sort_by_key(|p| {
        (
            p["namespace"].as_str().unwrap().to_owned(),
            p["pod"].as_str().unwrap().to_owned(),
            p["first_seen"].as_str().unwrap().to_owned(),
        )
    });
    assert!(
        expected.iter().any(|p| p["exists"] == false),
        "the simulator deleted a pod"
    );
    assert!(expected.iter().any(|p| p["exists"] == true));
    assert!(expected.iter().any(|p| p["restarts"].as_u64().unwrap() > 0));
    // The agent reports its inventory within a second or two of a change.
    let deadline = Instant::now() + Duration::from_secs(30);
    let got = loop {
        let got = api_pods(&url, "");
        if got == expected_sorted || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(Value::Array(got), Value::Array(expected_sorted.clone()));
    crate::agent::kill(&mut agent);

    // The table: Deleted and Running rows with the ledger's restarts.
    let home = dir.path();
    let table = ok(&kelp_clean(home)
        .args(["pods", "-A", "--server", &url])
        .output()
        .unwrap());
    for p in &expected_sorted {
        let row = table.lines().find(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f[0] == p["namespace"]
                && f[1] == p["pod"]
                && f[3].parse::<u64>().ok() == p["restarts"].as_u64()
                && f[6]
                    == if p["exists"] == true {
                        "Running"
                    } else {
                        "Deleted"
                    }
        });
        assert!(row.is_some(), "{p}\n{table}");
    }
    let deleted = ok(&kelp_clean(home)
        .args(["pods", "-A", "--deleted", "--server", &url])
        .output()
        .unwrap());
    assert_eq!(
        deleted.lines().count() - 1,
        expected.iter().filter(|p| p["exists"] == false).count(),
        "{deleted}"
    );
    assert!(!deleted.contains("Running"));

    // kelp logs flags on the same data, against the ledger, line for line in order.
    let live = expected_sorted
        .iter()
        .filter(|p| p["exists"] == true)
        .max_by_key(|p| p["containers"].as_array().unwrap().len())
        .unwrap();
    let (ns, pod, uid) = (
        live["namespace"].as_str().unwrap(),
        live["pod"].as_str().unwrap(),
        live["uid"].as_str().unwrap(),
    );
    let names: Vec<&str> = live["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    // The current instance of a container: (time, sha256) in order.
    let instance = |c: &str| -> Vec<(String, String)> {
        let newest = entries
            .iter()
            .filter(|e| e.pod_uid == uid && e.container == c)
            .map(|e| e.restart)
            .max()
            .unwrap();
        let mut v: Vec<(i64, String, String)> = entries
            .iter()
            .filter(|e| e.pod_uid == uid && e.container == c && e.restart == newest)
            .map(|e| {
                let ts = kelp_model::Timestamp::parse_rfc3339(e.time.as_bytes()).unwrap();
                (ts.as_unix_nanos(), ts.to_rfc3339_fixed(), e.sha256.clone())
            })
            .collect();
        v.sort_by_key(|x| x.0);
        v.into_iter().map(|(_, t, h)| (t, h)).collect()
    };
    let logs = |args: &[&str]| -> String {
        ok(&kelp_clean(home)
            .arg("logs")
            .args(["-n", ns])
            .args(args)
            .args(["--server", &url])
            .output()
            .unwrap())
    };
    let hashes = |out: &str| -> Vec<String> {
        let body = out.strip_suffix('\n').unwrap_or(out);
        if out.is_empty() {
            return Vec::new();
        }
        body.split('\n')
            .map(|l| hex::encode(Sha256::digest(l.as_bytes())))
            .collect()
    };
    let c0 = names[0];
    let all: Vec<String> = instance(c0).into_iter().map(|x| x.1).collect();
    assert!(all.len() >= 3, "enough lines to cut");
    assert_eq!(hashes(&logs(&[pod, "-c", c0])), all);
    assert_eq!(hashes(&logs(&[pod, "-c", c0, "--since", "1h"])), all);
    assert_eq!(
        hashes(&logs(&[pod, "-c", c0, "--tail", "3"])),
        all[all.len() - 3..]
    );
    // --timestamps: the ledger's time of each line, nine digits.
    let out = logs(&[pod, "-c", c0, "--tail", "2", "--timestamps"]);
    let want_ts: Vec<String> = instance(c0)[all.len() - 2..]
        .iter()
        .map(|x| x.0.clone())
        .collect();
    let got_ts: Vec<&str> = out
        .split('\n')
        .filter(|l| !l.is_empty())
        .map(|l| l.split_once(' ').unwrap().0)
        .collect();
    assert_eq!(got_ts, want_ts);
    // --prefix on every line, --limit-bytes a cut of the full output.
    let full = logs(&[pod, "-c", c0, "--prefix"]);
    assert!(full
        .split('\n')
        .filter(|l| !l.is_empty())
        .all(|l| l.starts_with(&format!("[pod/{pod}/{c0}] "))));
    assert_eq!(
        logs(&[pod, "-c", c0, "--prefix", "--limit-bytes", "100"]),
        full[..100]
    );
    // --all-containers: every container's current instance, one after the other by name;
    // -l picks the pod by its labels (tail 10 by default).
    let every: Vec<String> = names
        .iter()
        .flat_map(|c| instance(c).into_iter().map(|x| x.1))
        .collect();
    assert_eq!(hashes(&logs(&[pod, "--all-containers"])), every);
    let sel = format!("pod={pod}");
    let tail10: Vec<String> = names
        .iter()
        .flat_map(|c| {
            let v: Vec<String> = instance(c).into_iter().map(|x| x.1).collect();
            v[v.len().saturating_sub(10)..].to_vec()
        })
        .collect();
    assert_eq!(hashes(&logs(&["-l", &sel, "--all-containers"])), tail10);
    server.kill().unwrap();
    server.wait().unwrap();
}

/// The progress line: on stderr when it is a terminal (a pseudo-terminal from `script`),
/// erased at the end; nothing on stderr when it is not a terminal.
#[test]
fn a_progress_line_shows_on_a_terminal_and_is_erased() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url) = server_on(&dir.path().join("data"), "127.0.0.1:0");
    let t0 = now_ns() - 300 * S;
    let lines: Vec<String> = (0..6000).map(|i| format!("line {i}")).collect();
    for chunk in 0..3 {
        let values: Vec<Value> = (chunk * 2000..(chunk + 1) * 2000)
            .map(|i| json!([(t0 + i as i64 * 1000).to_string(), lines[i], {"pod_uid": "u", "restart": "0"}]))
            .collect();
        let body = json!({"streams": [{"stream": {"namespace": "default", "pod": "big", "container": "c", "node": "n", "stream": "stdout"}, "values": values}]});
        let (status, answer) = http(&url, "POST", "/loki/api/v1/push", &body.to_string());
        assert_eq!(status, 204, "{answer}");
    }
    let out = dir.path().join("out.txt");
    let kelp_bin = env!("CARGO_BIN_EXE_kelp");
    let cmd = format!("{kelp_bin} logs big --server {url} > {}", out.display());
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("KELP_PROGRESS_AFTER_MS", "0")
        .env("HOME", dir.path())
        .env_remove("KELP_CONFIG")
        .output()
        .expect("script (bsdutils) runs a command on a pseudo-terminal");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tty = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(tty.contains("\r\x1b[2Kkelp: "), "{tty:?}");
    assert!(tty.contains(" lines, "), "{tty:?}");
    assert!(tty.ends_with("\r\x1b[2K"), "erased at the end: {tty:?}");
    let printed = std::fs::read_to_string(&out).unwrap();
    assert_eq!(printed.lines().collect::<Vec<_>>(), lines);
    // Not a terminal: stderr stays empty.
    let o = kelp_clean(dir.path())
        .env("KELP_PROGRESS_AFTER_MS", "0")
        .args(["logs", "big", "--tail", "1", "--server", &url])
        .output()
        .unwrap();
    assert_eq!(ok(&o), "line 5999\n");
    assert!(o.stderr.is_empty());
    server.kill().unwrap();
    server.wait().unwrap();
}
