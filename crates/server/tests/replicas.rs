//! Replicas (issue #11, item 2) over real sockets: three servers, each holding part of the
//! data (and a duplicate, as a push retried on another replica leaves), answer every read
//! with everything, once; with one down, the answer still comes, saying which replica is
//! missing; peers authenticate with the peer token and keep the caller's namespace scope.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use kelp_server::ServerConfig;

use crate::support::{enc, now_ns, push_json, request, Resp, JSON};

/// A replica: a real server on a port chosen before any replica starts, so each can be
/// given the others' URLs.
pub struct Replica {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Replica {
    pub fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        request(self.addr, method, path, headers, body)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `n` replicas, each with `yaml` plus `replicas.peers` naming all of them and its own
/// `self_url`.
pub fn replicas(n: usize, yaml: &str) -> Vec<Replica> {
    replicas_with(n, yaml, |_, _| {})
}

/// [`replicas`], with `each(i, config)` changing replica `i`'s configuration.
pub fn replicas_with(
    n: usize,
    yaml: &str,
    each: impl Fn(usize, &mut ServerConfig),
) -> Vec<Replica> {
    let listeners: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let urls: Vec<String> = listeners
        .iter()
        .map(|l| format!("http://{}", l.local_addr().unwrap()))
        .collect();
    let out: Vec<Replica> = listeners
        .into_iter()
        .zip(&urls)
        .enumerate()
        .map(|(i, (listener, me))| {
            let dir = tempfile::tempdir().unwrap();
            let mut config = ServerConfig::from_yaml(yaml, []).unwrap();
            config.data_dir = dir.path().to_path_buf();
            config.replicas.peers = Some(urls.join(","));
            config.replicas.self_url = Some(me.clone());
            config.replicas.timeout_secs = 5;
            each(i, &mut config);
            let addr = listener.local_addr().unwrap();
            listener.set_nonblocking(true).unwrap();
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let thread = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    kelp_server::serve(config, listener, async {
                        let _ = stopped.await;
                    })
                    .await
                    .unwrap();
                });
            });
            Replica {
                addr,
                stop: Some(stop),
                thread: Some(thread),
                _dir: dir,
            }
        })
        .collect();
    for r in &out {
        let deadline = Instant::now() + Duration::from_secs(10);
        while r.req("GET", "/ready", &[], b"").status != 200 {
            assert!(Instant::now() < deadline, "replica never ready");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    out
}

fn push(r: &Replica, auth: &[(&str, &str)], labels: &str, t: i64, lines: &[&str]) {
    let mut h = vec![JSON];
    h.extend_from_slice(auth);
    let resp = r.req(
        "POST",
        "/loki/api/v1/push",
        &h,
        &push_json(labels, t, lines),
    );
    assert_eq!(resp.status, 204, "{}", resp.text());
}

/// Every `(stream app, line)` of a log answer, sorted, duplicates kept.
fn lines(resp: &Resp) -> Vec<(String, String)> {
    assert_eq!(resp.status, 200, "{}", resp.text());
    let v = resp.json();
    let mut out = Vec::new();
    for s in v["data"]["result"].as_array().unwrap() {
        for e in s["values"].as_array().unwrap() {
            out.push((
                s["stream"]["app"].as_str().unwrap_or_default().to_owned(),
                e[1].as_str().unwrap().to_owned(),
            ));
        }
    }
    out.sort();
    out
}

fn range(query: &str, t: i64, extra: &str) -> String {
    format!(
        "/loki/api/v1/query_range?query={}&start={}&end={}{extra}&limit=1000",
        enc(query),
        t - 1,
        t + 60_000_000_000
    )
}

#[test]
fn reads_on_any_replica_merge_every_replica_once_and_name_a_missing_one() {
    let mut rs = replicas(3, "");
    let t = now_ns() - 30_000_000_000;
    // a's stream on replica 0; b's on replica 1; replica 2 holds a repeat of a's first
    // two lines (a push retried there after its answer was lost) and one more line of a.
    push(
        &rs[0],
        &[],
        r#"{"app":"a","job":"r"}"#,
        t,
        &["a0", "a1", "a2"],
    );
    push(&rs[1], &[], r#"{"app":"b","job":"r"}"#, t, &["b0", "b1"]);
    push(&rs[2], &[], r#"{"app":"a","job":"r"}"#, t, &["a0", "a1"]);
    push(
        &rs[2],
        &[],
        r#"{"app":"a","job":"r"}"#,
        t + 5_000_000,
        &["a5"],
    );
    let want: Vec<(String, String)> = [
        ("a", "a0"),
        ("a", "a1"),
        ("a", "a2"),
        ("a", "a5"),
        ("b", "b0"),
        ("b", "b1"),
    ]
    .iter()
    .map(|(a, l)| ((*a).to_owned(), (*l).to_owned()))
    .collect();
    for r in &rs {
        for dir in ["&direction=forward", "&direction=backward"] {
            let resp = r.req("GET", &range(r#"{job="r"}"#, t, dir), &[], b"");
            assert_eq!(lines(&resp), want);
            assert!(resp.json().get("warnings").is_none());
            assert!(resp.header("x-kelp-missing-replicas").is_none());
        }
        // The limit applies to the union: the two newest, whichever replica holds them.
        let resp = r.req(
            "GET",
            &range(r#"{job="r"}"#, t, "&limit=2&direction=backward"),
            &[],
            b"",
        );
        let v = resp.json();
        let mut got: Vec<&str> = v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                s["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e[1].as_str().unwrap())
            })
            .collect();
        got.sort();
        assert_eq!(got, ["a2", "a5"]);
        // Metric queries count every entry once: 4 of a (a0, a1 twice stored), 2 of b.
        let resp = r.req(
            "GET",
            &format!(
                "/loki/api/v1/query?query={}&time={}",
                enc(r#"sum by (app) (count_over_time({job="r"}[1m]))"#),
                t + 30_000_000_000
            ),
            &[],
            b"",
        );
        assert_eq!(resp.status, 200, "{}", resp.text());
        let v = resp.json();
        let mut counts: Vec<(String, String)> = v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["metric"]["app"].as_str().unwrap().to_owned(),
                    s["value"][1].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        counts.sort();
        assert_eq!(
            counts,
            [
                ("a".to_owned(), "4".to_owned()),
                ("b".to_owned(), "2".to_owned())
            ]
        );
        // A range metric query too, over steps.
        let resp = r.req(
            "GET",
            &format!(
                "/loki/api/v1/query_range?query={}&start={}&end={}&step=10",
                enc(r#"sum(count_over_time({job="r"}[2m]))"#),
                t + 10_000_000_000,
                t + 30_000_000_000
            ),
            &[],
            b"",
        );
        let v = resp.json();
        let values = v["data"]["result"][0]["values"].as_array().unwrap();
        assert_eq!(values.len(), 3, "{v}");
        assert!(values.iter().all(|p| p[1] == "6"), "{v}");
        // Metadata: unions.
        let v = r
            .req("GET", "/loki/api/v1/label/app/values", &[], b"")
            .json();
        assert_eq!(v["data"], serde_json::json!(["a", "b"]));
        let v = r.req("GET", "/loki/api/v1/labels", &[], b"").json();
        assert_eq!(v["data"], serde_json::json!(["app", "job", "service_name"]));
        let v = r
            .req(
                "GET",
                &format!("/loki/api/v1/series?match[]={}", enc(r#"{job="r"}"#)),
                &[],
                b"",
            )
            .json();
        assert_eq!(v["data"].as_array().unwrap().len(), 2, "{v}");
    }

    // Replica 1 goes away: answers still come, with what the others hold, and say so.
    let gone = rs.remove(1);
    let gone_url = gone.url();
    drop(gone);
    for r in &rs {
        let resp = r.req("GET", &range(r#"{job="r"}"#, t, ""), &[], b"");
        let got = lines(&resp);
        assert_eq!(got, want[..4].to_vec());
        let v = resp.json();
        let warnings = v["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].as_str().unwrap().contains(&gone_url), "{v}");
        assert_eq!(
            resp.header("x-kelp-missing-replicas"),
            Some(gone_url.as_str())
        );
        let v = r
            .req("GET", "/loki/api/v1/label/app/values", &[], b"")
            .json();
        assert_eq!(v["data"], serde_json::json!(["a"]));
        assert!(v["warnings"][0].as_str().unwrap().contains(&gone_url));
        let metrics = r.req("GET", "/metrics", &[], b"").text();
        assert!(
            metrics.contains(&format!(
                "kelp_replica_peer_failures_total{{peer=\"{gone_url}\"}}"
            )),
            "{metrics}"
        );
    }
}

#[test]
fn peers_use_the_peer_token_and_keep_the_callers_namespace_scope() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.yaml");
    std::fs::write(
        &tokens,
        "- {token: rw-0123456789abcdef, tenant: t1, rights: [read, write]}\n\
         - {token: nsa-0123456789abcdef, tenant: t1, rights: [read], namespaces: [ns-a]}\n",
    )
    .unwrap();
    let peer = dir.path().join("peer-token");
    std::fs::write(&peer, "peer-secret-0123456789abcdef\n").unwrap();
    let rs = replicas(
        2,
        &format!(
            "auth: {{tokens_file: {}}}\nreplicas: {{peer_token_file: {}}}",
            tokens.display(),
            peer.display()
        ),
    );
    let rw = [("Authorization", "Bearer rw-0123456789abcdef")];
    let t = now_ns() - 30_000_000_000;
    push(
        &rs[0],
        &rw,
        r#"{"app":"a","namespace":"ns-a"}"#,
        t,
        &["on-0-ns-a"],
    );
    push(
        &rs[1],
        &rw,
        r#"{"app":"b","namespace":"ns-a"}"#,
        t,
        &["on-1-ns-a"],
    );
    push(
        &rs[1],
        &rw,
        r#"{"app":"c","namespace":"ns-b"}"#,
        t,
        &["on-1-ns-b"],
    );
    let q = range(r#"{app=~".+"}"#, t, "");
    let all = lines(&rs[0].req("GET", &q, &rw, b""));
    assert_eq!(all.len(), 3);
    let scoped = [("Authorization", "Bearer nsa-0123456789abcdef")];
    let got: Vec<String> = lines(&rs[0].req("GET", &q, &scoped, b""))
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    assert_eq!(got, ["on-0-ns-a", "on-1-ns-a"]);
    // The peer token reads only as a peer (local data), and never writes.
    let peer_auth = ("Authorization", "Bearer peer-secret-0123456789abcdef");
    assert_eq!(rs[1].req("GET", &q, &[peer_auth], b"").status, 401);
    let local = rs[1].req(
        "GET",
        &q,
        &[peer_auth, ("X-Kelp-Local", "1"), ("X-Scope-OrgID", "t1")],
        b"",
    );
    assert_eq!(lines(&local).len(), 2);
    let mut h = vec![
        JSON,
        peer_auth,
        ("X-Kelp-Local", "1"),
        ("X-Scope-OrgID", "t1"),
    ];
    let resp = rs[1].req(
        "POST",
        "/loki/api/v1/push",
        &h,
        &push_json(r#"{"app":"x"}"#, t, &["no"]),
    );
    assert_eq!(resp.status, 403, "{}", resp.text());
    // A wrong peer token is just an invalid token.
    h[1] = ("Authorization", "Bearer peer-wrong");
    assert_eq!(rs[1].req("GET", &q, &h[1..], b"").status, 401);
}

/// Every file under `dir` with its bytes, sorted by path.
fn tree(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(tree(&p));
        } else {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn a_replica_that_is_down_is_read_from_the_shared_bucket() {
    let bucket = tempfile::tempdir().unwrap();
    let yaml = format!(
        "storage: {{backend: local, bucket: {:?}, prefix: kelp}}",
        bucket.path()
    );
    let t = now_ns() - 30_000_000_000;
    // A replica scaled down earlier: its objects are in the bucket, no peer answers for it.
    {
        let settings: kelp_bucket::StorageSettings = serde_yaml_ng::from_str(&format!(
            "{{backend: local, bucket: {:?}, prefix: kelp}}",
            bucket.path()
        ))
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut c = kelp_store::StoreConfig::new(dir.path());
        c.bucket = Some(kelp_store::BucketConfig {
            bucket: settings.bucket().unwrap().unwrap(),
            replica: "r9".into(),
            cache_dir: dir.path().join("cache"),
            cache_bytes: 64 << 20,
        });
        let store = kelp_store::Store::open(c).unwrap();
        let labels = kelp_model::Labels::from_pairs([("app", "z"), ("job", "r")]).unwrap();
        let entry = kelp_model::Entry::new(kelp_model::Timestamp::from_unix_nanos(t), "z0");
        store
            .append(
                &kelp_model::TenantId::parse("fake").unwrap(),
                &[kelp_model::StreamEntries {
                    labels,
                    entries: vec![entry],
                }],
            )
            .unwrap();
        store.close().unwrap();
    }
    let mut rs = replicas_with(3, &yaml, |i, c| c.storage.replica = Some(format!("r{i}")));
    push(&rs[0], &[], r#"{"app":"a","job":"r"}"#, t, &["a0", "a1"]);
    push(
        &rs[1],
        &[],
        r#"{"app":"b","job":"r"}"#,
        t,
        &["b0", "b1", "b2"],
    );
    push(&rs[2], &[], r#"{"app":"c","job":"r"}"#, t, &["c0"]);
    // A repeat of b0 on replica 2 (a retried push): still counted once.
    push(&rs[2], &[], r#"{"app":"b","job":"r"}"#, t, &["b0"]);
    let all: Vec<(String, String)> = [
        ("a", "a0"),
        ("a", "a1"),
        ("b", "b0"),
        ("b", "b1"),
        ("b", "b2"),
        ("c", "c0"),
        ("z", "z0"),
    ]
    .iter()
    .map(|(a, l)| ((*a).to_owned(), (*l).to_owned()))
    .collect();
    // Every live replica answers; only the scaled-down one is read from the bucket.
    let resp = rs[0].req("GET", &range(r#"{job="r"}"#, t, ""), &[], b"");
    assert_eq!(lines(&resp), all);
    assert_eq!(resp.header("x-kelp-replica"), Some("r0"));
    assert_eq!(resp.header("x-kelp-bucket-replicas"), Some("r9"));
    assert!(resp.header("x-kelp-missing-replicas").is_none());
    let v = resp.json();
    assert_eq!(v["warnings"].as_array().unwrap().len(), 1, "{v}");
    // A peer's own answer (X-Kelp-Local) is its data only: no fan-out, no bucket reads.
    let resp = rs[0].req(
        "GET",
        &range(r#"{job="r"}"#, t, ""),
        &[("X-Kelp-Local", "1")],
        b"",
    );
    assert_eq!(lines(&resp).len(), 2, "{}", resp.text());
    assert!(resp.header("x-kelp-bucket-replicas").is_none());

    // Replica 1 stops (its shutdown flushes its head to the bucket) and stays down.
    let gone = rs.remove(1);
    let gone_url = gone.url();
    drop(gone);
    let r1_dir = bucket.path().join("kelp/replicas/r1");
    let before = tree(&r1_dir);
    assert!(
        before
            .iter()
            .any(|(p, _)| p.extension() == Some("kseg".as_ref())),
        "{:?}",
        before.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for r in &rs {
        for dir in ["&direction=forward", "&direction=backward"] {
            let resp = r.req("GET", &range(r#"{job="r"}"#, t, dir), &[], b"");
            assert_eq!(lines(&resp), all, "{}", resp.text());
            assert_eq!(
                resp.header("x-kelp-missing-replicas"),
                Some(gone_url.as_str())
            );
            assert_eq!(resp.header("x-kelp-bucket-replicas"), Some("r1,r9"));
            let v = resp.json();
            let warnings: Vec<&str> = v["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w.as_str().unwrap())
                .collect();
            assert!(warnings.iter().any(|w| w.contains(&gone_url)), "{v}");
            assert!(warnings.iter().any(|w| w.contains("replica r1")), "{v}");
        }
        // Metric queries read replica 1's selection from the bucket: b0 once.
        let resp = r.req(
            "GET",
            &format!(
                "/loki/api/v1/query?query={}&time={}",
                enc(r#"sum by (app) (count_over_time({job="r"}[1m]))"#),
                t + 30_000_000_000
            ),
            &[],
            b"",
        );
        assert_eq!(resp.status, 200, "{}", resp.text());
        assert_eq!(resp.header("x-kelp-bucket-replicas"), Some("r1,r9"));
        let v = resp.json();
        let mut counts: Vec<(String, String)> = v["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["metric"]["app"].as_str().unwrap().to_owned(),
                    s["value"][1].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        counts.sort();
        let want: Vec<(String, String)> = [("a", "2"), ("b", "3"), ("c", "1"), ("z", "1")]
            .iter()
            .map(|(a, n)| ((*a).to_owned(), (*n).to_owned()))
            .collect();
        assert_eq!(counts, want, "{v}");
        // Metadata: unions with the bucket's.
        let resp = r.req("GET", "/loki/api/v1/label/app/values", &[], b"");
        assert_eq!(resp.header("x-kelp-bucket-replicas"), Some("r1,r9"));
        let v = resp.json();
        assert_eq!(v["data"], serde_json::json!(["a", "b", "c", "z"]));
        assert!(v["warnings"].as_array().unwrap().len() >= 2, "{v}");
        let v = r.req("GET", "/loki/api/v1/labels", &[], b"").json();
        assert_eq!(v["data"], serde_json::json!(["app", "job", "service_name"]));
        let v = r
            .req(
                "GET",
                &format!("/loki/api/v1/series?match[]={}", enc(r#"{job="r"}"#)),
                &[],
                b"",
            )
            .json();
        assert_eq!(v["data"].as_array().unwrap().len(), 4, "{v}");
        assert!(v["warnings"].as_array().is_some(), "{v}");
    }
    // Nothing under the stopped replica's prefix was written or deleted by the others.
    assert_eq!(tree(&r1_dir), before);
}
