//! Query limits and shutdown over real sockets: the timeout (504), the concurrent-query
//! limit (429), an in-flight push drained at shutdown, and `categorize-labels` with real
//! structured metadata. Requests are held in flight by sending their body in two parts,
//! so nothing depends on how fast a query runs.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::{enc, now_ns, push_json, Partial, TestServer, JSON};

const FORM: (&str, &str) = ("Content-Type", "application/x-www-form-urlencoded");

fn push_some(s: &TestServer, app: &str, n: usize) {
    let lines: Vec<String> = (0..n).map(|i| format!("line {i}")).collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let body = push_json(&format!(r#"{{"app":"{app}"}}"#), now_ns(), &lines);
    let r = s.req("POST", "/loki/api/v1/push", &[JSON], &body);
    assert_eq!(r.status, 204, "{}", r.text());
}

#[test]
fn query_timeout_is_504_with_lokis_message() {
    let s = TestServer::start("limits: {query_timeout_secs: 0}");
    push_some(&s, "slow", 3);
    for path in [
        format!(
            "/loki/api/v1/query_range?query={}&since=1h",
            enc(r#"{app="slow"}"#)
        ),
        format!(
            "/loki/api/v1/query?query={}",
            enc(r#"count_over_time({app="slow"}[1h])"#)
        ),
    ] {
        let r = s.get(&path);
        assert_eq!(r.status, 504, "{path}: {}", r.text());
        assert!(r.text().starts_with("request timed out"), "{}", r.text());
        assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    }
}

#[test]
fn concurrent_queries_over_the_limit_are_429() {
    let s = TestServer::start("limits: {max_concurrent_queries: 1}");
    push_some(&s, "busy", 3);
    let form = format!("query={}&since=1h", enc(r#"{app="busy"}"#));
    let url = format!("/loki/api/v1/query_range?{form}");
    // The first query holds the only slot while its body is incomplete. (One CI run out
    // of many saw no refusal within 5 s; a held request that did not take its slot is
    // finished and held again, up to three times, before the test fails.)
    let mut attempt = 0;
    let (held, refused) = loop {
        attempt += 1;
        let held = Partial::start(
            s.addr,
            "POST",
            "/loki/api/v1/query_range",
            &[FORM],
            form.as_bytes(),
            3,
        );
        let deadline = Instant::now() + Duration::from_secs(5);
        let refused = loop {
            let r = s.get(&url);
            if r.status == 429 {
                break Some(r);
            }
            assert_eq!(r.status, 200, "{}", r.text());
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        match refused {
            Some(r) => break (held, r),
            None => {
                let first = held.finish();
                eprintln!(
                    "attempt {attempt}: no refusal in 5 s; the held query answered {}",
                    first.status
                );
                assert!(attempt < 3, "never refused a second query");
            }
        }
    };
    assert_eq!(refused.text(), "too many outstanding requests");
    assert_eq!(refused.header("retry-after"), Some("1"));
    let first = held.finish();
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(
        first.json()["data"]["result"][0]["values"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // The slot is free again.
    assert_eq!(s.get(&url).status, 200);
}

#[test]
fn shutdown_finishes_an_in_flight_push() {
    let mut s = TestServer::start("");
    let addr = s.addr;
    let body = push_json(r#"{"app":"drain"}"#, now_ns(), &["a", "b", "c"]);
    let held = Partial::start(addr, "POST", "/loki/api/v1/push", &[JSON], &body, 10);
    // Connections are accepted in order: once a later one is answered, ours is in.
    assert_eq!(s.get("/ready").status, 200);
    s.signal_stop();
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "still accepting after shutdown began"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let r = held.finish();
    assert_eq!(r.status, 204, "{}", r.text());
    let dir = s.stop();
    let s = TestServer::start_in(dir, "");
    let r = s.get(&format!(
        "/loki/api/v1/query_range?query={}&since=1h&direction=forward",
        enc(r#"{app="drain"}"#)
    ));
    let values = r.json()["data"]["result"][0]["values"].clone();
    let lines: Vec<&str> = values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[1].as_str().unwrap())
        .collect();
    assert_eq!(lines, ["a", "b", "c"]);
}

#[test]
fn categorize_labels_with_structured_metadata() {
    let s = TestServer::start("");
    let t0 = now_ns();
    let body = serde_json::json!({"streams": [{
        "stream": {"app": "cat"},
        "values": [
            [t0.to_string(), "level=info msg=one", {"trace_id": "abc", "user": "u1"}],
            [(t0 + 1000).to_string(), "level=warn msg=two"],
        ]
    }]});
    let r = s.req(
        "POST",
        "/loki/api/v1/push",
        &[JSON],
        &serde_json::to_vec(&body).unwrap(),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let q = enc(r#"{app="cat"} | logfmt"#);
    let path = format!("/loki/api/v1/query_range?query={q}&since=1h&direction=forward");

    // Without the flag, metadata and parsed labels are stream labels (Loki's default).
    let j = s.get(&path).json();
    let result = j["data"]["result"].as_array().unwrap();
    assert!(j["data"].get("encodingFlags").is_none());
    let first = result
        .iter()
        .find(|s| s["stream"]["trace_id"] == "abc")
        .unwrap_or_else(|| panic!("{j}"));
    assert_eq!(first["stream"]["user"], "u1");
    assert_eq!(first["stream"]["level"], "info");
    assert_eq!(first["values"][0].as_array().unwrap().len(), 2);

    // With it: one stream of indexed labels (with the discovered `service_name`);
    // metadata and parsed labels per entry.
    let r = s.req(
        "GET",
        &path,
        &[("X-Loki-Response-Encoding-Flags", "categorize-labels")],
        b"",
    );
    let j = r.json();
    assert_eq!(
        j["data"]["encodingFlags"],
        serde_json::json!(["categorize-labels"])
    );
    let result = j["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 1, "{j}");
    assert_eq!(
        result[0]["stream"],
        serde_json::json!({"app": "cat", "service_name": "cat"})
    );
    let values = result[0]["values"].as_array().unwrap();
    assert_eq!(values.len(), 2);
    assert_eq!(values[0][1], "level=info msg=one");
    assert_eq!(
        values[0][2]["structuredMetadata"],
        serde_json::json!({"trace_id": "abc", "user": "u1"})
    );
    assert_eq!(values[0][2]["parsed"]["level"], "info");
    assert_eq!(values[0][2]["parsed"]["msg"], "one");
    assert!(values[1][2].get("structuredMetadata").is_none(), "{j}");
    assert_eq!(values[1][2]["parsed"]["level"], "warn");
}

/// Issue #9: a stream selector's regex is capped by `limits.max_regex_bytes` as line
/// filters are, on the query routes and the metadata routes alike (400, the reason).
#[test]
fn a_stream_selector_regex_over_the_size_limit_is_400() {
    let s = TestServer::start("limits: {max_regex_bytes: 4096}");
    push_some(&s, "sel", 2);
    let big = enc(r#"{app=~"(a{100}){100}"}"#);
    for path in [
        format!("/loki/api/v1/query_range?query={big}&since=1h"),
        format!(
            "/loki/api/v1/query?query={}",
            enc(r#"count_over_time({app=~"(a{100}){100}"}[1h])"#)
        ),
        format!(
            "/loki/api/v1/query?query={}",
            enc(
                r#"count_over_time({app="sel"}[1h]) / count_over_time({app=~"(a{100}){100}"}[1h])"#
            )
        ),
        format!("/loki/api/v1/series?match[]={big}&since=1h"),
        format!("/loki/api/v1/labels?query={big}&since=1h"),
        format!("/loki/api/v1/label/app/values?query={big}&since=1h"),
        format!("/loki/api/v1/index/stats?query={big}&since=1h"),
        format!("/loki/api/v1/index/volume?query={big}&since=1h"),
    ] {
        let r = s.get(&path);
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        let text = r.text();
        assert!(
            text.starts_with(r#"invalid stream selector regex "(a{100}){100}": "#)
                && text.contains("exceeds size limit"),
            "{path}: {text}"
        );
    }
    // The same selector under a larger limit runs.
    let s = TestServer::start("limits: {max_regex_bytes: 1048576}");
    push_some(&s, "sel", 2);
    let r = s.get(&format!("/loki/api/v1/query_range?query={big}&since=1h"));
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Issue #9: query work runs on the query pool's threads at `limits.query_nice` (19 by
/// default), below every other thread of the process (ingest, HTTP), which keep nice 0.
#[cfg(target_os = "linux")]
#[test]
fn queries_run_on_threads_below_the_servers_priority() {
    let s = TestServer::start("");
    push_some(&s, "nice", 3);
    let r = s.get(&format!(
        "/loki/api/v1/query_range?query={}&since=1h",
        enc(r#"{app="nice"}"#)
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    // Every thread of this test process, by name, with its nice value (field 19 of
    // /proc/self/task/<tid>/stat, counted after the parenthesised name).
    let mut query_threads = Vec::new();
    let mut other_threads = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(dir.join("comm")),
            std::fs::read_to_string(dir.join("stat")),
        ) else {
            continue; // the thread ended meanwhile
        };
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        let nice: i32 = after_name.split(' ').nth(16).unwrap().parse().unwrap();
        if name.starts_with("kelp-query-") {
            query_threads.push(nice);
        } else {
            other_threads.push((name.trim().to_owned(), nice));
        }
    }
    assert!(!query_threads.is_empty(), "no query pool thread found");
    assert!(query_threads.iter().all(|n| *n == 19), "{query_threads:?}");
    // The test harness, the server's runtime (HTTP, ingest), the store's threads.
    assert!(other_threads.len() > 2, "{other_threads:?}");
    assert!(
        other_threads.iter().all(|(_, n)| *n == 0),
        "{other_threads:?}"
    );
}

/// Issue #9: past `limits.max_running_queries` an evaluation waits its turn, counted in
/// `kelp_query_evaluations_queued`; one that waits past the query timeout is 504 without
/// ever running, and the next one runs once the slot is free.
#[test]
fn a_query_past_the_running_cap_waits_and_times_out_with_504() {
    use std::sync::mpsc;
    use tower::ServiceExt;
    let config = kelp_server::ServerConfig::from_yaml(
        "limits: {max_running_queries: 1, query_timeout_secs: 1}",
        [],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = kelp_store::Store::open(kelp_store::StoreConfig::new(dir.path())).unwrap();
    let state = kelp_server::AppState::with_store(config, std::sync::Arc::new(store));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let call = |path: String| {
        let app = kelp_server::app(state.clone());
        async move {
            let req = axum::http::Request::get(path)
                .body(axum::body::Body::empty())
                .unwrap();
            let resp = app.oneshot(req).await.unwrap();
            let status = resp.status().as_u16();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    let gauge = |name: &str| -> u64 {
        let (_, m) = rt.block_on(call("/metrics".into()));
        m.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} missing from /metrics"))
    };
    let query = format!(
        "/loki/api/v1/query_range?query={}&since=1h",
        enc(r#"{app="x"}"#)
    );
    // Something holds the only running slot until told to stop.
    let (started_tx, started_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let holder = {
        let st = state.clone();
        rt.spawn(async move {
            st.query_pool
                .evaluate(&st.metrics, move || {
                    started_tx.send(()).unwrap();
                    release_rx.recv().unwrap();
                    Ok(())
                })
                .await
        })
    };
    started_rx.recv().unwrap();
    let waiting = rt.spawn(call(query.clone()));
    while gauge("kelp_query_evaluations_queued") != 1 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (status, text) = rt.block_on(waiting).unwrap();
    assert_eq!(status, 504, "{text}");
    assert!(text.starts_with("request timed out"), "{text}");
    assert_eq!(gauge("kelp_query_evaluations_queued"), 0);
    // It never ran: nothing was evaluated or interrupted.
    assert_eq!(gauge("kelp_query_evaluations_interrupted_total"), 0);
    release_tx.send(()).unwrap();
    rt.block_on(holder).unwrap().unwrap();
    let (status, text) = rt.block_on(call(query));
    assert_eq!(status, 200, "{text}");
}
