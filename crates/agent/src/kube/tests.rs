//! The watcher against a local HTTP server on 127.0.0.1 that answers list and watch
//! requests with the responses in `testdata/` (shaped as the API server sends them:
//! paged lists, chunked watch streams with bookmarks, `410 Gone` as an event and as a
//! status), in order, recording the requests.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;

/// What the server answers to the next request.
enum Reply {
    /// A JSON body with a status.
    Json(u16, &'static str),
    /// A watch stream: these lines, one chunk each, then the end of the stream.
    Stream(&'static str),
    /// A watch stream that sends nothing until the test ends.
    Hold(mpsc::Receiver<()>),
    /// A watch stream sending the lines the test sends, until it drops the sender.
    Live(mpsc::Receiver<String>),
}

struct FakeApi {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

fn fake_api(replies: Vec<Reply>) -> FakeApi {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    std::thread::spawn(move || {
        for reply in replies {
            let Ok((conn, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let mut auth = String::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if let Some((name, value)) = h.split_once(':') {
                    if name.eq_ignore_ascii_case("authorization") {
                        auth = value.trim().to_owned();
                    }
                }
                if h == "\r\n" || h.is_empty() {
                    break;
                }
            }
            let target = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            seen.lock().unwrap().push(format!("{target} [{auth}]"));
            answer(conn, reply);
        }
    });
    FakeApi { url, requests }
}

fn answer(mut conn: TcpStream, reply: Reply) {
    let head = |status: u16, extra: &str| {
        format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nConnection: close\r\n{extra}\r\n"
        )
    };
    match reply {
        Reply::Json(status, body) => {
            let h = head(status, &format!("Content-Length: {}\r\n", body.len()));
            let _ = conn.write_all(h.as_bytes());
            let _ = conn.write_all(body.as_bytes());
        }
        Reply::Stream(lines) => {
            let _ = conn.write_all(head(200, "Transfer-Encoding: chunked\r\n").as_bytes());
            for l in lines.lines() {
                let chunk = format!("{l}\n");
                let _ = write!(conn, "{:x}\r\n{chunk}\r\n", chunk.len());
                let _ = conn.flush();
            }
            let _ = conn.write_all(b"0\r\n\r\n");
        }
        Reply::Live(lines) => {
            let _ = conn.write_all(head(200, "Transfer-Encoding: chunked\r\n").as_bytes());
            let _ = conn.flush();
            for l in lines {
                let chunk = format!("{l}\n");
                let _ = write!(conn, "{:x}\r\n{chunk}\r\n", chunk.len());
                let _ = conn.flush();
            }
            let _ = conn.write_all(b"0\r\n\r\n");
        }
        Reply::Hold(until) => {
            let _ = conn.write_all(head(200, "Transfer-Encoding: chunked\r\n").as_bytes());
            let _ = conn.flush();
            let _ = until.recv();
        }
    }
}

fn config(api: &FakeApi, token: Option<PathBuf>) -> KubeConfig {
    KubeConfig {
        api_server: api.url.clone(),
        token_file: token,
        ca_file: None,
        node: "node-a".into(),
        pod_labels: vec!["app".into(), "app.kubernetes.io/name".into()],
        keep_deleted: Duration::from_secs(600),
        watch_timeout: Duration::from_secs(300),
        terminations: false,
        events: None,
    }
}

fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn owner(kind: &str, name: &str) -> Option<Owner> {
    Some(Owner {
        kind: kind.into(),
        name: name.into(),
    })
}

const WEB: &str = "0f3e9c1a-2b4d-4e5f-8a6b-7c8d9e0f1a2b";
const DB: &str = "5c1d7a3e-8f2b-4c6d-9e0a-1b2c3d4e5f60";
const FLUENT: &str = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d";
const JOB: &str = "b7c8d9e0-f1a2-4b3c-8d4e-5f6a7b8c9d0e";
const STATIC_HASH: &str = "3c0a5e2f9b1d4c7a8e6f0b2d4a6c8e19";

#[test]
fn lists_watches_restarts_and_relists_after_410_gone() {
    let (release, hold) = mpsc::channel();
    let api = fake_api(vec![
        Reply::Json(200, include_str!("testdata/list-1-page-1.json")),
        Reply::Json(200, include_str!("testdata/list-1-page-2.json")),
        Reply::Stream(include_str!("testdata/watch-1.jsonl")),
        Reply::Stream(include_str!("testdata/watch-2.jsonl")),
        Reply::Json(200, include_str!("testdata/list-2.json")),
        Reply::Json(410, include_str!("testdata/watch-3-gone.json")),
        Reply::Json(200, include_str!("testdata/list-3.json")),
        Reply::Hold(hold),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "tok-1\n").unwrap();
    let config = config(&api, Some(token.clone()));
    let cache = Arc::new(PodCache::new(
        config.pod_labels.clone(),
        config.keep_deleted,
    ));
    let mut watcher = Watcher::new(config, cache.clone()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || watcher.run(&flag));

    wait_for("eight requests", || api.requests.lock().unwrap().len() == 8);
    let requests = api.requests.lock().unwrap().clone();
    let sel = "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a";
    let watch = |rv: &str| {
        format!(
            "{sel}&watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion={rv} \
             [Bearer tok-1]"
        )
    };
    let list = format!("{sel}&limit=500 [Bearer tok-1]");
    let page_2 = format!(
        "{sel}&limit=500&continue=eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTAwLCJzdGFydCI6ImRiLTBcdTAwMDAifQ \
         [Bearer tok-1]"
    );
    assert_eq!(
        requests,
        vec![
            list.clone(),
            page_2,
            watch("100"),
            // The stream ended after a bookmark: watch again from the bookmark's version.
            watch("105"),
            // An ERROR event with 410: list again.
            list.clone(),
            watch("200"),
            // 410 as the watch's status: list again.
            list,
            watch("300"),
        ]
    );

    // Owners: a ReplicaSet's pod belongs to its Deployment.
    let web = cache.get(WEB).unwrap();
    assert_eq!(web.owner, owner("Deployment", "web"));
    // The MODIFIED event changed a label.
    assert_eq!(
        web.labels,
        vec![
            ("app".into(), "web".into()),
            ("app_kubernetes_io_name".into(), "web-frontend".into())
        ]
    );
    assert_eq!(
        web.stream_labels().last(),
        Some(&("owner_name".to_owned(), "web".to_owned()))
    );
    assert_eq!(
        cache.get(JOB).unwrap().owner,
        owner("Job", "backup-28845120")
    );
    // A static pod is found by its config hash, the UID of its log directory.
    assert_eq!(
        cache.get(STATIC_HASH).unwrap().owner,
        owner("Node", "node-a")
    );
    // Deleted pods stay readable: by a DELETED event, and by missing from a relist.
    let db = cache.get(DB).unwrap();
    assert_eq!(db.owner, owner("StatefulSet", "db"));
    assert!(cache.is_deleted(DB));
    assert_eq!(
        cache.get(FLUENT).unwrap().owner,
        owner("DaemonSet", "fluent-bit")
    );
    assert!(cache.is_deleted(FLUENT));
    assert!(!cache.is_deleted(WEB));

    // ... until they expire; the live ones stay.
    cache.expire(Instant::now() + Duration::from_secs(601));
    assert!(cache.get(DB).is_none() && cache.get(FLUENT).is_none());
    assert!(cache.get(WEB).is_some() && cache.get(STATIC_HASH).is_some());

    stop.store(true, Ordering::SeqCst);
    drop(release);
    thread.join().unwrap();
}

#[test]
fn a_failing_api_is_retried_with_the_token_read_again() {
    let (release, hold) = mpsc::channel();
    let api = fake_api(vec![
        Reply::Json(500, r#"{"kind":"Status","code":500}"#),
        Reply::Json(200, include_str!("testdata/list-3.json")),
        Reply::Hold(hold),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "old").unwrap();
    let config = config(&api, Some(token.clone()));
    let cache = Arc::new(PodCache::new(
        config.pod_labels.clone(),
        config.keep_deleted,
    ));
    let mut watcher = Watcher::new(config, cache.clone()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || watcher.run(&flag));
    wait_for("the first request", || {
        api.requests.lock().unwrap().len() == 1
    });
    // The kubelet rotated the token meanwhile.
    std::fs::write(&token, "new").unwrap();
    wait_for("the retried list", || cache.get(WEB).is_some());
    let requests = api.requests.lock().unwrap().clone();
    assert!(requests[0].ends_with("[Bearer old]"));
    assert!(requests[1].ends_with("[Bearer new]"));
    stop.store(true, Ordering::SeqCst);
    drop(release);
    thread.join().unwrap();
}

fn meta(labels: &[(&str, &str)], owners: &[(&str, &str, bool)]) -> ObjectMeta {
    ObjectMeta {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        owner_references: owners
            .iter()
            .map(|(kind, name, controller)| OwnerReference {
                kind: kind.to_string(),
                name: name.to_string(),
                controller: *controller,
            })
            .collect(),
        ..ObjectMeta::default()
    }
}

#[test]
fn owners_resolve_to_the_workload() {
    let hash = [("pod-template-hash", "6b8f9")];
    let cases: &[(ObjectMeta, Option<Owner>)] = &[
        (
            meta(&hash, &[("ReplicaSet", "api-6b8f9", true)]),
            owner("Deployment", "api"),
        ),
        // A ReplicaSet of its own (no Deployment's hash in its name) stays one.
        (
            meta(&hash, &[("ReplicaSet", "legacy", true)]),
            owner("ReplicaSet", "legacy"),
        ),
        (
            meta(&[], &[("ReplicaSet", "rs-x", true)]),
            owner("ReplicaSet", "rs-x"),
        ),
        (
            meta(&[], &[("StatefulSet", "db", true)]),
            owner("StatefulSet", "db"),
        ),
        (
            meta(&[], &[("DaemonSet", "ds", true)]),
            owner("DaemonSet", "ds"),
        ),
        (meta(&[], &[("Job", "j-1", true)]), owner("Job", "j-1")),
        // Only the controller counts.
        (
            meta(&[], &[("ConfigMap", "c", false), ("Job", "j", true)]),
            owner("Job", "j"),
        ),
        (meta(&[], &[("ConfigMap", "c", false)]), None),
        (meta(&[], &[]), None),
    ];
    for (m, want) in cases {
        assert_eq!(&owner_of(m), want, "{m:?}");
    }
}

#[test]
fn pod_label_names_become_valid_label_names() {
    for (pod, stream) in [
        ("app", "app"),
        ("app.kubernetes.io/name", "app_kubernetes_io_name"),
        ("k8s-app", "k8s_app"),
        ("9lives", "_9lives"),
    ] {
        assert_eq!(label_name(pod), stream);
        assert!(kelp_model::is_valid_label_name(&label_name(pod)));
    }
}

/// Records what the agent ships: each line with its stream's labels.
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, String)>>);

impl crate::sink::Sink for Recorder {
    fn send(&self, streams: &[kelp_model::StreamEntries]) -> Result<(), crate::AgentError> {
        let mut out = self.0.lock().unwrap();
        for s in streams {
            for e in &s.entries {
                let line = String::from_utf8_lossy(&e.line).into_owned();
                out.push((line, s.labels.to_string()));
            }
        }
        Ok(())
    }
}

impl Recorder {
    fn labels_of(&self, line: &str) -> Option<String> {
        let lines = self.0.lock().unwrap();
        lines
            .iter()
            .find(|(l, _)| l == line)
            .map(|(_, labels)| labels.clone())
    }
    fn wait(&self, line: &str) -> String {
        wait_for(line, || self.labels_of(line).is_some());
        self.labels_of(line).unwrap()
    }
}

fn write_log(pods: &Path, dir: &str, ctr: &str, line: &str) {
    let d = pods.join(dir).join(ctr);
    std::fs::create_dir_all(&d).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(d.join("0.log"))
        .unwrap();
    writeln!(f, "2026-11-22T10:00:00.5Z stdout F {line}").unwrap();
}

/// The agent's streams carry the pods' labels and owners: a pod listed at start, a
/// deleted pod whose log is read after the DELETED event, a pod whose log appears before
/// the API tells of it (labelled from the next scan on).
#[test]
fn agent_streams_carry_pod_labels_and_owners() {
    let (events, live) = mpsc::channel();
    let api = fake_api(vec![
        Reply::Json(200, include_str!("testdata/list-1-page-1.json")),
        Reply::Json(200, include_str!("testdata/list-1-page-2.json")),
        Reply::Live(live),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let pods = dir.path().join("pods");
    write_log(
        &pods,
        &format!("shop_web-7d9c5b6f4d-x2x9q_{WEB}"),
        "web",
        "web 1",
    );
    let mut config = crate::AgentConfig::new(
        pods.clone(),
        dir.path().join("state"),
        "http://127.0.0.1:9".into(),
        "node-a".into(),
    );
    config.scan_interval = Duration::from_millis(100);
    config.batch_wait = Duration::from_millis(20);
    config.kubernetes = Some(self::config(&api, None));
    let sink = Arc::new(Recorder::default());
    let stop = Arc::new(AtomicBool::new(false));
    let runner = {
        let (sink, stop) = (sink.clone(), stop.clone());
        std::thread::spawn(move || crate::run_with_sink(&config, sink, Arc::default(), stop))
    };

    // Listed at start: labelled from its first line.
    assert_eq!(
        sink.wait("web 1"),
        r#"{app="web", app_kubernetes_io_name="web", container="web", namespace="shop", node="node-a", owner_kind="Deployment", owner_name="web", pod="web-7d9c5b6f4d-x2x9q", stream="stdout"}"#
    );

    // Deleted before its log was read: its metadata is kept.
    let deleted = include_str!("testdata/watch-2.jsonl")
        .lines()
        .next()
        .unwrap();
    events.send(deleted.to_owned()).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    write_log(&pods, &format!("shop_db-0_{DB}"), "db", "db 1");
    assert_eq!(
        sink.wait("db 1"),
        r#"{app="db", container="db", namespace="shop", node="node-a", owner_kind="StatefulSet", owner_name="db", pod="db-0", stream="stdout"}"#
    );

    // A log before its pod is known: no pod labels, then labels once the pod is known.
    let job_dir = format!("ops_backup-28845120-q7w2m_{JOB}");
    write_log(&pods, &job_dir, "backup", "job 1");
    let plain = r#"{container="backup", namespace="ops", node="node-a", pod="backup-28845120-q7w2m", stream="stdout"}"#;
    assert_eq!(sink.wait("job 1"), plain);
    let list: serde_json::Value =
        serde_json::from_str(include_str!("testdata/list-2.json")).unwrap();
    let job = list["items"][2].clone();
    assert_eq!(job["metadata"]["uid"], JOB);
    let added = serde_json::json!({"type": "ADDED", "object": job});
    events.send(added.to_string()).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    write_log(&pods, &job_dir, "backup", "job 2");
    assert_eq!(
        sink.wait("job 2"),
        r#"{app="backup", container="backup", namespace="ops", node="node-a", owner_kind="Job", owner_name="backup-28845120", pod="backup-28845120-q7w2m", stream="stdout"}"#
    );

    stop.store(true, Ordering::SeqCst);
    drop(events);
    runner.join().unwrap().unwrap();
}
