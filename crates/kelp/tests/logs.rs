//! `kelp logs`, `query`, `labels`, `series` against a real `kelp server`. Issue 6.

use std::io::BufRead;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::{http, kelp, server_on};

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// Pushes `(ns, pod, container, uid, restart, ts, line)` entries as Loki JSON with the
/// agent's structured metadata.
fn push(url: &str, entries: &[(&str, &str, &str, &str, u32, i64, &str)]) {
    let streams: Vec<serde_json::Value> = entries
        .iter()
        .map(|(ns, pod, c, uid, restart, ts, line)| {
            serde_json::json!({
                "stream": {"namespace": ns, "pod": pod, "container": c, "node": "node-1", "stream": "stdout"},
                "values": [[ts.to_string(), line, {"pod_uid": uid, "restart": restart.to_string()}]],
            })
        })
        .collect();
    let body = serde_json::json!({ "streams": streams }).to_string();
    let (status, answer) = http(url, "POST", "/loki/api/v1/push", &body);
    assert_eq!(status, 204, "{answer}");
}

fn logs(url: &str, args: &[&str]) -> Output {
    kelp()
        .arg("logs")
        .args(args)
        .args(["--server", url])
        .output()
        .unwrap()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn err(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stderr.clone()).unwrap()
}

/// Pod web-1 (containers app with restarts 0 and 1, and sidecar), pod
/// api-7d9f8c6b5-x2x4q of deployment api, in namespace shop; `t0` is the first line's time.
fn populate(url: &str, t0: i64) {
    let s = 1_000_000_000;
    let mut e: Vec<(&str, &str, &str, &str, u32, i64, &str)> = Vec::new();
    for (i, l) in ["a0 start", "a0 work", "a0 crash"].iter().enumerate() {
        e.push(("shop", "web-1", "app", "u1", 0, t0 + i as i64 * s, l));
    }
    for (i, l) in ["a1 start", "a1 one", "a1 two", "a1 three"]
        .iter()
        .enumerate()
    {
        e.push(("shop", "web-1", "app", "u1", 1, t0 + (10 + i as i64) * s, l));
    }
    e.push((
        "shop",
        "web-1",
        "sidecar",
        "u1",
        0,
        t0 + 5 * s,
        "side ready",
    ));
    e.push((
        "shop",
        "api-7d9f8c6b5-x2x4q",
        "api",
        "u2",
        0,
        t0 + 2 * s,
        "api up",
    ));
    // Same name, older pod (a deleted StatefulSet-style predecessor) in another namespace.
    e.push(("other", "web-1", "app", "u0", 0, t0, "elsewhere"));
    push(url, &e);
}

#[test]
fn kelp_logs_follows_kubectl_for_live_and_gone_pods() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url) = server_on(dir.path(), "127.0.0.1:0");
    let t0 = now_ns() - 600 * 1_000_000_000;
    populate(&url, t0);

    // The current instance only, oldest first.
    let out = ok(&logs(&url, &["-n", "shop", "web-1", "-c", "app"]));
    assert_eq!(out, "a1 start\na1 one\na1 two\na1 three\n");
    // Positional container, previous instance.
    let out = ok(&logs(&url, &["-n", "shop", "web-1", "app", "-p"]));
    assert_eq!(out, "a0 start\na0 work\na0 crash\n");
    // --tail, --timestamps, --prefix.
    let out = ok(&logs(
        &url,
        &["-n", "shop", "web-1", "-c", "app", "--tail", "2"],
    ));
    assert_eq!(out, "a1 two\na1 three\n");
    let out = ok(&logs(
        &url,
        &[
            "-n",
            "shop",
            "web-1",
            "-c",
            "app",
            "--tail=1",
            "--timestamps",
            "--prefix",
        ],
    ));
    let ts = out.strip_prefix("[pod/web-1/app] ").unwrap();
    let (stamp, line) = ts.trim_end().split_once(' ').unwrap();
    assert_eq!(line, "a1 three");
    assert!(
        stamp.len() == 30 && stamp.ends_with('Z') && stamp.as_bytes()[19] == b'.',
        "{stamp}"
    );
    // --limit-bytes cuts the output, even mid-line.
    let out = ok(&logs(
        &url,
        &["-n", "shop", "web-1", "-c", "app", "--limit-bytes", "12"],
    ));
    assert_eq!(out, "a1 start\na1 ");
    // --since: nothing in the last minute; --since-time from the third line of restart 1.
    assert_eq!(
        ok(&logs(
            &url,
            &["-n", "shop", "web-1", "-c", "app", "--since", "1m"]
        )),
        ""
    );
    let since = kelp_model_rfc3339(t0 + 12 * 1_000_000_000);
    let out = ok(&logs(
        &url,
        &["-n", "shop", "web-1", "-c", "app", "--since-time", &since],
    ));
    assert_eq!(out, "a1 two\na1 three\n");
    // --all-containers, and a single-container pod needs no -c.
    let out = ok(&logs(&url, &["-n", "shop", "web-1", "--all-containers"]));
    assert_eq!(out, "a1 start\na1 one\na1 two\na1 three\nside ready\n");
    assert_eq!(
        ok(&logs(&url, &["-n", "shop", "api-7d9f8c6b5-x2x4q"])),
        "api up\n"
    );
    // TYPE/NAME.
    assert_eq!(ok(&logs(&url, &["-n", "shop", "deploy/api"])), "api up\n");
    assert_eq!(
        ok(&logs(&url, &["-n", "shop", "pod/web-1", "-c", "sidecar"])),
        "side ready\n"
    );
    // A selector: every matching pod, tail 10 by default.
    let out = ok(&logs(
        &url,
        &["-n", "shop", "-l", "container=api", "--all-containers"],
    ));
    assert_eq!(out, "api up\n");
    let o = logs(&url, &["-n", "shop", "-l", "pod=nothing"]);
    assert!(ok(&o).is_empty());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "No resources found in shop namespace.\n"
    );

    // kubectl's errors.
    let e = err(&logs(&url, &["-n", "shop", "web-1"]));
    assert_eq!(
        e,
        "error: a container name must be specified for pod web-1, choose one of: [app sidecar]\n"
    );
    let e = err(&logs(&url, &["-n", "shop", "web-1", "-c", "nope"]));
    assert_eq!(
        e,
        "error: container nope is not valid for pod web-1 out of: app, sidecar\n"
    );
    let e = err(&logs(&url, &["-n", "shop", "gone-pod"]));
    assert_eq!(
        e,
        "error: error from server (NotFound): pods \"gone-pod\" not found in namespace \"shop\"\n"
    );
    let e = err(&logs(&url, &["-n", "shop", "web-1", "-c", "sidecar", "-p"]));
    assert_eq!(e, "Error from server (BadRequest): previous terminated container \"sidecar\" in pod \"web-1\" not found\n");
    let e = err(&logs(&url, &["-n", "shop", "web-1", "app", "-c", "app"]));
    assert_eq!(
        e,
        "error: only one of -c or an inline [CONTAINER] arg is allowed\n"
    );
    let e = err(&logs(
        &url,
        &["-n", "shop", "web-1", "-c", "app", "--tail", "-5"],
    ));
    assert_eq!(e, "error: --tail must be greater than or equal to -1\n");
    let e = err(&logs(
        &url,
        &[
            "-n",
            "shop",
            "web-1",
            "-c",
            "app",
            "--since",
            "1h",
            "--since-time",
            &since,
        ],
    ));
    assert_eq!(
        e,
        "error: at most one of `sinceTime` or `sinceSeconds` may be specified\n"
    );
    let e = err(&logs(
        &url,
        &["-n", "shop", "web-1", "--all-containers", "-c", "app"],
    ));
    assert_eq!(
        e,
        "error: --all-containers=true should not be specified with container name app\n"
    );
    let e = err(&logs(&url, &["-n", "shop", "web-1", "-l", "a=b"]));
    assert_eq!(e, "error: only a selector (-l) or a POD name is allowed\n");

    // query, labels, series.
    let q = |args: &[&str]| ok(&kelp().args(args).args(["--server", &url]).output().unwrap());
    let out = q(&[
        "query",
        r#"{namespace="shop", container="app"} |= "a0""#,
        "--since",
        "1h",
        "-o",
        "raw",
        "--direction",
        "forward",
    ]);
    assert_eq!(out, "a0 start\na0 work\na0 crash\n");
    let out = q(&[
        "query",
        r#"sum(count_over_time({namespace="shop"}[1h]))"#,
        "--since",
        "1h",
        "--step",
        "1h",
        "-o",
        "raw",
    ]);
    assert!(out.lines().any(|l| l == "9"), "{out}");
    let v: serde_json::Value = serde_json::from_str(&q(&[
        "query",
        r#"{pod="web-1"}"#,
        "--since",
        "1h",
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(v["status"], "success");
    assert_eq!(q(&["labels", "namespace"]), "other\nshop\n");
    assert!(q(&["labels"]).lines().any(|l| l == "container"));
    let out = q(&["series", r#"{namespace="shop", container="api"}"#]);
    assert_eq!(
        out.trim(),
        r#"{container="api", namespace="shop", node="node-1", pod="api-7d9f8c6b5-x2x4q", service_name="api", stream="stdout"}"#
    );

    server.kill().unwrap();
    server.wait().unwrap();
}

/// RFC 3339 with nanoseconds of `ns`.
fn kelp_model_rfc3339(ns: i64) -> String {
    kelp_model::Timestamp::from_unix_nanos(ns).to_rfc3339_nano()
}

#[test]
fn kelp_logs_follow_survives_a_server_restart_and_ends_with_the_instance() {
    let dir = tempfile::tempdir().unwrap();
    // A fixed port, so the restarted server is found at the same URL.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let (mut server, url) = server_on(dir.path(), &listen);
    let s = 1_000_000_000;
    let t0 = now_ns() - 60 * s;
    let line = |i: i64| format!("line {i}");
    let mut pushed = Vec::new();
    // Line `i` (or `text`) at `t0 + i` ms.
    let mut push_at = |url: &str, i: i64, restart: u32, text: Option<&str>| {
        let l = text.map_or_else(|| line(i), str::to_owned);
        push(
            url,
            &[("ns", "p", "c", "u", restart, t0 + i * 1_000_000, &l)],
        );
        pushed.push(l);
    };
    for i in 0..3 {
        push_at(&url, i, 0, None);
    }
    let mut follower = kelp()
        .args(["logs", "-f", "-n", "ns", "p", "--server", &url])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(stdout).lines() {
            if tx.send(l.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut got = Vec::new();
    let wait_for = |n: usize, got: &mut Vec<String>| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while got.len() < n && Instant::now() < deadline {
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
                got.push(l);
            }
        }
    };
    wait_for(3, &mut got);
    // It follows through the tail WebSocket, not by polling.
    assert_tail_clients(&url, 1);
    for i in 3..6 {
        push_at(&url, i, 0, None);
    }
    wait_for(6, &mut got);
    // The server goes away and comes back on the same data; lines pushed meanwhile.
    server.kill().unwrap();
    server.wait().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let (mut server, url) = server_on(dir.path(), &listen);
    // A line at the timestamp of the last one printed: printed once, the other not again.
    push_at(&url, 5, 0, Some("line 5 twin"));
    for i in 6..9 {
        push_at(&url, i, 0, None);
    }
    wait_for(10, &mut got);
    assert_eq!(got, pushed, "every line once, in order");
    assert_tail_clients(&url, 1);
    // A newer instance: the followed container stopped, so does kelp logs -f.
    push(
        &url,
        &[(
            "ns",
            "p",
            "c",
            "u",
            1,
            t0 + 100 * 1_000_000,
            "next instance",
        )],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = follower.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "kelp logs -f did not end");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success());
    assert!(rx.try_iter().all(|l| l != "next instance"));
    server.kill().unwrap();
    server.wait().unwrap();
}

/// Waits until the server's `kelp_tail_clients` gauge is `n`.
fn assert_tail_clients(url: &str, n: u64) {
    let want = format!("kelp_tail_clients {n}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, metrics) = http(url, "GET", "/metrics", "");
        if metrics.lines().any(|l| l == want) {
            return;
        }
        assert!(Instant::now() < deadline, "no {want:?} in /metrics");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn completions_cover_the_subcommands_and_their_flags() {
    for shell in ["bash", "zsh", "fish"] {
        let o = kelp().args(["completions", shell]).output().unwrap();
        let text = ok(&o);
        for word in [
            "logs",
            "all-containers",
            "since-time",
            "query",
            "agent",
            "pods",
            "deleted",
            "context",
        ] {
            assert!(text.contains(word), "{shell}: {word}");
        }
    }
    let o = kelp().args(["completions", "nosh"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

/// `kelp logs` on what the real agent shipped from a simulated node: a deleted pod's
/// current instance and a restarted container's previous one come back line for line as
/// the simulator's ledger has them.
#[test]
fn kelp_logs_reads_deleted_pods_and_previous_instances_shipped_by_the_agent() {
    use sha2::{Digest, Sha256};
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
        .args(["--pods", "3", "--rate", "400", "--duration", "7"])
        .args([
            "--restart-every",
            "2",
            "--delete-every",
            "3",
            "--seed",
            "11",
        ])
        .arg("--ledger")
        .arg(&ledger)
        .stdout(Stdio::null())
        .spawn();
    let mut agent = crate::agent::agent(&root, &state, &url);
    assert!(sim.unwrap().wait().unwrap().success());
    let (shipped, report) = crate::agent::verify(&ledger, &url, Duration::from_secs(60));
    assert!(shipped, "{report}");
    crate::agent::kill(&mut agent);

    let entries = kelp_sim::verify::read_ledger(&ledger).unwrap();
    let alive: std::collections::HashSet<String> = std::fs::read_dir(root.join("var/log/pods"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let is_alive = |e: &kelp_sim::LedgerEntry| {
        alive.contains(&format!("{}_{}_{}", e.namespace, e.pod, e.pod_uid))
    };
    // (ns, pod, container) → the sorted sha256s of one instance's lines.
    let instance = |ns: &str, pod: &str, c: &str, uid: &str, restart: u32| {
        let mut v: Vec<String> = entries
            .iter()
            .filter(|e| {
                e.namespace == ns
                    && e.pod == pod
                    && e.container == c
                    && e.pod_uid == uid
                    && e.restart == restart
            })
            .map(|e| e.sha256.clone())
            .collect();
        v.sort();
        v
    };
    let shown = |args: &[&str]| {
        let out = ok(&logs(&url, args));
        // Split at LF only: a line may end with CR (the Windows kubelet log excerpt).
        let mut v: Vec<String> = out
            .strip_suffix('\n')
            .unwrap_or(&out)
            .split('\n')
            .filter(|_| !out.is_empty())
            .map(|l| hex::encode(Sha256::digest(l.as_bytes())))
            .collect();
        v.sort();
        v
    };
    // A deleted pod: its newest instance of one container.
    let gone = entries
        .iter()
        .rev()
        .find(|e| !is_alive(e))
        .expect("the simulator deleted a pod");
    let newest = entries
        .iter()
        .filter(|e| e.pod_uid == gone.pod_uid && e.container == gone.container)
        .map(|e| e.restart)
        .max()
        .unwrap();
    let want = instance(
        &gone.namespace,
        &gone.pod,
        &gone.container,
        &gone.pod_uid,
        newest,
    );
    let got = shown(&["-n", &gone.namespace, &gone.pod, "-c", &gone.container]);
    assert!(!want.is_empty());
    assert_eq!(got, want, "deleted pod {}/{}", gone.namespace, gone.pod);
    // A container that restarted: --previous is the instance before the newest.
    let restarted = entries
        .iter()
        .filter(|e| e.restart >= 1)
        .max_by_key(|e| e.restart)
        .expect("the simulator restarted a container");
    let newest = restarted.restart;
    let want = instance(
        &restarted.namespace,
        &restarted.pod,
        &restarted.container,
        &restarted.pod_uid,
        newest - 1,
    );
    let got = shown(&[
        "-n",
        &restarted.namespace,
        &restarted.pod,
        "-c",
        &restarted.container,
        "--previous",
    ]);
    assert_eq!(
        got, want,
        "previous of {}/{}",
        restarted.pod, restarted.container
    );
    server.kill().unwrap();
    server.wait().unwrap();
}

/// `kelp logs -f` on what the real agent ships from a simulated node, through a server
/// restart in the middle: the followed container's every line once, as the simulator's
/// ledger has it.
#[test]
fn kelp_logs_follow_of_agent_shipped_lines_across_a_server_restart() {
    use sha2::{Digest, Sha256};
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let (root, ledger, state, data) = (
        dir.path().join("node"),
        dir.path().join("ledger.jsonl"),
        dir.path().join("agent"),
        dir.path().join("data"),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let (mut server, url) = server_on(&data, &listen);
    let mut sim = kelp()
        .arg("simulate")
        .arg("--root")
        .arg(&root)
        .args([
            "--pods",
            "2",
            "--rate",
            "200",
            "--duration",
            "9",
            "--seed",
            "3",
        ])
        .arg("--ledger")
        .arg(&ledger)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut agent = crate::agent::agent(&root, &state, &url);
    // A container of the node, once it has logged.
    let pods_dir = root.join("var/log/pods");
    let deadline = Instant::now() + Duration::from_secs(30);
    let (pod_dir, container) = loop {
        let found = std::fs::read_dir(&pods_dir).ok().and_then(|d| {
            let mut pods: Vec<_> = d.flatten().map(|e| e.path()).collect();
            pods.sort();
            let pod = pods.into_iter().next()?;
            let mut cs: Vec<_> = std::fs::read_dir(&pod)
                .ok()?
                .flatten()
                .map(|e| e.file_name())
                .collect();
            cs.sort();
            let c = cs.into_iter().next()?.to_string_lossy().into_owned();
            Some((pod.file_name()?.to_string_lossy().into_owned(), c))
        });
        if let Some(f) = found {
            break f;
        }
        assert!(Instant::now() < deadline, "the simulator wrote no pod");
        std::thread::sleep(Duration::from_millis(100));
    };
    let parts: Vec<&str> = pod_dir.split('_').collect();
    let (ns, pod, uid) = (
        parts[0].to_owned(),
        parts[1].to_owned(),
        parts[2].to_owned(),
    );
    // Wait until the store knows the container (kelp logs needs it).
    let deadline = Instant::now() + Duration::from_secs(30);
    while !logs(&url, &["-n", &ns, &pod, "-c", &container, "--tail", "1"])
        .status
        .success()
    {
        assert!(
            Instant::now() < deadline,
            "the container never reached the store"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut follower = kelp()
        .args([
            "logs", "-f", "-n", &ns, &pod, "-c", &container, "--server", &url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut r = std::io::BufReader::new(stdout);
        loop {
            let mut line = Vec::new();
            if r.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                return;
            }
            line.pop();
            if tx.send(hex::encode(Sha256::digest(&line))).is_err() {
                return;
            }
        }
    });
    std::thread::sleep(Duration::from_secs(2));
    server.kill().unwrap();
    server.wait().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let (mut server, url) = server_on(&data, &listen);
    assert!(sim.wait().unwrap().success());
    let (shipped, report) = crate::agent::verify(&ledger, &url, Duration::from_secs(90));
    assert!(shipped, "{report}");
    crate::agent::kill(&mut agent);
    let mut want: Vec<String> = kelp_sim::verify::read_ledger(&ledger)
        .unwrap()
        .into_iter()
        .filter(|e| e.pod_uid == uid && e.container == container)
        .map(|e| e.sha256)
        .collect();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < want.len() && Instant::now() < deadline {
        if let Ok(h) = rx.recv_timeout(Duration::from_millis(200)) {
            got.push(h);
        }
    }
    // Anything beyond would be a repeat.
    std::thread::sleep(Duration::from_secs(1));
    got.extend(rx.try_iter());
    follower.kill().unwrap();
    follower.wait().unwrap();
    want.sort();
    got.sort();
    assert!(want.len() > 100, "{} lines", want.len());
    assert_eq!(got.len(), want.len(), "no line lost or repeated");
    assert_eq!(got, want);
    server.kill().unwrap();
    server.wait().unwrap();
}

/// `-f` of several containers at once (one tail WebSocket each): each ends with its
/// instance, the command when the last one has; `--max-log-requests` bounds them.
#[test]
fn kelp_logs_follows_every_container_until_each_instance_ends() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url) = server_on(dir.path(), "127.0.0.1:0");
    let t0 = now_ns() - 60 * 1_000_000_000;
    let ms = 1_000_000;
    push(
        &url,
        &[
            ("ns", "m", "a", "u", 0, t0, "a0"),
            ("ns", "m", "b", "u", 0, t0 + ms, "b0"),
        ],
    );
    let e = err(&logs(
        &url,
        &[
            "-f",
            "-n",
            "ns",
            "m",
            "--all-containers",
            "--max-log-requests",
            "1",
        ],
    ));
    assert_eq!(e, "error: you are attempting to follow 2 log streams, but maximum allowed concurrency is 1, use --max-log-requests to increase the limit\n");
    let mut follower = kelp()
        .args([
            "logs",
            "-f",
            "-n",
            "ns",
            "m",
            "--all-containers",
            "--prefix",
            "--server",
            &url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = follower.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(stdout).lines() {
            if tx.send(l.unwrap()).is_err() {
                break;
            }
        }
    });
    let mut got: Vec<String> = Vec::new();
    let wait_for = |line: &str, got: &mut Vec<String>| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !got.iter().any(|l| l == line) {
            assert!(Instant::now() < deadline, "no {line:?} in {got:?}");
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
                got.push(l);
            }
        }
    };
    wait_for("[pod/m/a] a0", &mut got);
    wait_for("[pod/m/b] b0", &mut got);
    push(
        &url,
        &[
            ("ns", "m", "a", "u", 0, t0 + 2 * ms, "a1"),
            ("ns", "m", "b", "u", 0, t0 + 3 * ms, "b1"),
        ],
    );
    wait_for("[pod/m/a] a1", &mut got);
    wait_for("[pod/m/b] b1", &mut got);
    // Container a's next instance: a's following ends, b's goes on.
    push(&url, &[("ns", "m", "a", "u", 1, t0 + 4 * ms, "a next")]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        follower.try_wait().unwrap().is_none(),
        "b is still followed"
    );
    push(&url, &[("ns", "m", "b", "u", 0, t0 + 5 * ms, "b2")]);
    wait_for("[pod/m/b] b2", &mut got);
    push(&url, &[("ns", "m", "b", "u", 1, t0 + 6 * ms, "b next")]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = follower.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < deadline, "kelp logs -f did not end");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success());
    got.extend(rx.try_iter());
    got.sort();
    assert_eq!(
        got,
        [
            "[pod/m/a] a0",
            "[pod/m/a] a1",
            "[pod/m/b] b0",
            "[pod/m/b] b1",
            "[pod/m/b] b2"
        ]
    );
    server.kill().unwrap();
    server.wait().unwrap();
}
