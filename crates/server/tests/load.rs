//! Issue #9, point 3: every limit under concurrent load, over real sockets. While good
//! clients push and query, other clients break each limit at once; each gets its clear
//! error (Loki's status and message), nothing the good clients had acknowledged is lost,
//! and `/ready` and small queries keep answering. Queries of death (huge range, a
//! backtracking-style regex, an enormous `topk`, too many steps, a high-cardinality
//! `sum by`, `|= ""` over everything) end with a clear answer too. Timing and memory of
//! those are measured by `bench/qod.sh`, not here.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{enc, now_ns, push_json, Partial, Resp, TestServer, JSON};

const CONFIG: &str = "
auth_enabled: true
max_body_bytes: 65536
limits:
  max_line_bytes: 1024
  max_streams_per_tenant: 20
  max_label_names_per_series: 8
  ingestion_rate_bytes_per_sec: 200000
  ingestion_burst_bytes: 400000
  max_entries_per_query: 1000
  max_query_series: 50
  max_query_range_secs: 86400
  max_regex_bytes: 4096
  max_concurrent_queries: 3
";

const WORKERS: usize = 4;
const PUSHES: usize = 40;
const LINES: usize = 25;

fn org(t: &str) -> (&'static str, String) {
    ("X-Scope-OrgID", t.to_owned())
}

fn req(
    s: &TestServer,
    tenant: &str,
    method: &str,
    path: &str,
    extra: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let (k, v) = org(tenant);
    let mut h: Vec<(&str, &str)> = vec![(k, v.as_str())];
    h.extend_from_slice(extra);
    s.req(method, path, &h, body)
}

fn query(s: &TestServer, tenant: &str, path: &str) -> Resp {
    req(s, tenant, "GET", path, &[], b"")
}

fn range(q: &str, extra: &str) -> String {
    format!("/loki/api/v1/query_range?query={}&since=1h{extra}", enc(q))
}

/// Pushes until accepted; 429 and 503 are waited out as a shipper does (bounded).
fn push_until_accepted(s: &TestServer, tenant: &str, body: &[u8]) {
    for _ in 0..50 {
        let r = req(s, tenant, "POST", "/loki/api/v1/push", &[JSON], body);
        match r.status {
            204 => return,
            429 | 503 => {
                let wait: u64 = r
                    .header("retry-after")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                std::thread::sleep(Duration::from_millis(wait.min(2) * 200));
            }
            other => panic!("a good push answered {other}: {}", r.text()),
        }
    }
    panic!("a good push was never accepted");
}

#[test]
fn every_limit_answers_clearly_under_concurrent_load_and_nothing_accepted_is_lost() {
    let s = Arc::new(TestServer::start(CONFIG));
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = now_ns() - 60_000_000_000;
    let accepted: Arc<Mutex<Vec<BTreeSet<String>>>> =
        Arc::new(Mutex::new(vec![BTreeSet::new(); WORKERS]));
    let mut threads = Vec::new();
    // 60 distinct ids, for the high-cardinality `sum by`.
    let ids: Vec<String> = (0..60).map(|i| format!("id={i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    push_until_accepted(&s, "good", &push_json(r#"{"app":"card"}"#, t0, &ids));

    // Good pushers: tenant `good`, one stream per worker, every line unique.
    for w in 0..WORKERS {
        let (s, accepted) = (s.clone(), accepted.clone());
        threads.push(std::thread::spawn(move || {
            for p in 0..PUSHES {
                let lines: Vec<String> = (0..LINES)
                    .map(|l| format!("w{w} p{p:03} l{l:02} ok"))
                    .collect();
                let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
                let at = t0 + ((p * LINES) as i64) * 1_000_000 + w as i64;
                let body = push_json(&format!(r#"{{"app":"good","worker":"{w}"}}"#), at, &refs);
                push_until_accepted(&s, "good", &body);
                accepted.lock().unwrap()[w].extend(lines);
            }
        }));
    }

    // `/ready` and a small query keep answering the whole time.
    let ready_checks = Arc::new(AtomicUsize::new(0));
    {
        let (s, stop, n) = (s.clone(), stop.clone(), ready_checks.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let r = s.get("/ready");
                assert_eq!(r.status, 200, "/ready under load: {}", r.text());
                let r = query(
                    &s,
                    "good",
                    &range(r#"{app="good", worker="0"}"#, "&limit=5"),
                );
                assert!(
                    r.status == 200
                        || (r.status == 429 && r.text() == "too many outstanding requests"),
                    "a small query under load: {} {}",
                    r.status,
                    r.text()
                );
                n.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        }));
    }

    // The ingestion rate: one tenant floods with 60 KB pushes until refused.
    {
        let s = s.clone();
        threads.push(std::thread::spawn(move || {
            let line = "f".repeat(1000);
            let lines: Vec<&str> = (0..58).map(|_| line.as_str()).collect();
            for i in 0..200 {
                let body = push_json(r#"{"app":"flood"}"#, now_ns() + i, &lines);
                let r = req(&s, "flood", "POST", "/loki/api/v1/push", &[JSON], &body);
                if r.status == 429 {
                    assert!(
                        r.text().starts_with("ingestion rate limit exceeded for user flood (limit: 200000 bytes/sec)"),
                        "{}",
                        r.text()
                    );
                    assert!(r.header("retry-after").is_some_and(|v| v.parse::<u64>().unwrap() >= 1));
                    return;
                }
                assert_eq!(r.status, 204, "{}", r.text());
            }
            panic!("the flood was never rate limited");
        }));
    }

    // Body size, line size, streams and label names, each by its own tenant.
    {
        let s = s.clone();
        threads.push(std::thread::spawn(move || {
            let big = "b".repeat(70_000);
            let r = req(
                &s,
                "big",
                "POST",
                "/loki/api/v1/push",
                &[JSON],
                &push_json(r#"{"app":"big"}"#, now_ns(), &[&big]),
            );
            assert_eq!(r.status, 413, "{}", r.text());
            assert!(
                r.text().starts_with("request body too large"),
                "{}",
                r.text()
            );

            let long = "l".repeat(2000);
            let r = req(
                &s,
                "long",
                "POST",
                "/loki/api/v1/push",
                &[JSON],
                &push_json(r#"{"app":"long"}"#, now_ns(), &["short one", &long]),
            );
            assert_eq!(r.status, 400, "{}", r.text());
            assert_eq!(
                r.text(),
                "1 entries rejected: 0 older than the out-of-order window, 1 lines too long"
            );

            for i in 0..25 {
                let body = push_json(&format!(r#"{{"app":"s","n":"{i}"}}"#), now_ns(), &["x"]);
                let r = req(&s, "streams", "POST", "/loki/api/v1/push", &[JSON], &body);
                if i < 20 {
                    assert_eq!(r.status, 204, "stream {i}: {}", r.text());
                } else {
                    assert_eq!(r.status, 429, "stream {i}: {}", r.text());
                    assert!(
                        r.text().starts_with("Maximum active stream limit exceeded"),
                        "{}",
                        r.text()
                    );
                    assert!(r.header("retry-after").is_some());
                }
            }

            let many: String = (0..10)
                .map(|i| format!(r#""l{i}":"v""#))
                .collect::<Vec<_>>()
                .join(",");
            let r = req(
                &s,
                "labels",
                "POST",
                "/loki/api/v1/push",
                &[JSON],
                &push_json(&format!("{{{many}}}"), now_ns(), &["x"]),
            );
            assert_eq!(r.status, 400, "{}", r.text());
            assert!(
                r.text()
                    .contains("label names per series limit of 8 exceeded"),
                "{}",
                r.text()
            );
        }));
    }

    // Query limits, while the pushes run.
    {
        let s = s.clone();
        threads.push(std::thread::spawn(move || {
            let cases: Vec<(String, u16, &str)> = vec![
                (
                    format!(
                        "/loki/api/v1/query_range?query={}&start=0&end={}",
                        enc(r#"{app="good"}"#),
                        now_ns()
                    ),
                    400,
                    "the query time range exceeds the limit",
                ),
                (
                    range(r#"{app="good"}"#, "&limit=100000"),
                    400,
                    "max entries limit per query exceeded",
                ),
                (
                    range(r#"count_over_time({app="good"}[1m])"#, "&step=0.001"),
                    400,
                    "exceeded maximum resolution of 11,000 points",
                ),
                (
                    range(r#"{app="good"} |~ "(a{100}){100}""#, ""),
                    400,
                    "invalid line filter regex",
                ),
                (
                    range(r#"{app=~"(a{100}){100}"}"#, ""),
                    400,
                    "invalid stream selector regex",
                ),
                (
                    range(
                        r#"sum by (id) (count_over_time({app="card"} | logfmt [1h]))"#,
                        "&step=60",
                    ),
                    400,
                    "maximum of series (50) reached for a single query",
                ),
            ];
            for round in 0..3 {
                for (path, status, msg) in &cases {
                    let r = query(&s, "good", path);
                    if r.status == 429 {
                        // The concurrency limit, reached by the other clients: a clear answer too.
                        assert_eq!(r.text(), "too many outstanding requests");
                        continue;
                    }
                    assert_eq!(r.status, *status, "round {round} {path}: {}", r.text());
                    assert!(r.text().contains(msg), "{path}: {}", r.text());
                }
            }
        }));
    }

    // Concurrent queries: hold every slot with incomplete requests, then one more is 429.
    {
        let s = s.clone();
        threads.push(std::thread::spawn(move || {
            let form = format!("query={}&since=1h&limit=1", enc(r#"{app="good"}"#));
            let headers = [
                ("X-Scope-OrgID", "good"),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ];
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let held: Vec<Partial> = (0..3)
                    .map(|_| {
                        Partial::start(
                            s.addr,
                            "POST",
                            "/loki/api/v1/query_range",
                            &headers,
                            form.as_bytes(),
                            3,
                        )
                    })
                    .collect();
                std::thread::sleep(Duration::from_millis(50));
                let r = query(&s, "good", &range(r#"{app="good"}"#, "&limit=1"));
                for h in held {
                    let a = h.finish();
                    assert!(
                        a.status == 200 || a.status == 429,
                        "{} {}",
                        a.status,
                        a.text()
                    );
                }
                if r.status == 429 {
                    assert_eq!(r.text(), "too many outstanding requests");
                    assert_eq!(r.header("retry-after"), Some("1"));
                    return;
                }
                assert_eq!(r.status, 200, "{}", r.text());
                assert!(
                    Instant::now() < deadline,
                    "the concurrency limit never refused a query"
                );
            }
        }));
    }

    let pinger = threads.remove(WORKERS);
    for t in threads {
        t.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    pinger.join().unwrap();
    assert!(ready_checks.load(Ordering::Relaxed) > 0);

    // Nothing acknowledged is lost, nothing is stored twice.
    let accepted = accepted.lock().unwrap();
    for (w, want) in accepted.iter().enumerate() {
        assert_eq!(want.len(), PUSHES * LINES);
        let r = query(
            &s,
            "good",
            &range(
                &format!(r#"{{app="good", worker="{w}"}}"#),
                "&limit=1000&direction=forward",
            ),
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let j = r.json();
        let got: Vec<String> = j["data"]["result"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["values"].as_array().unwrap().clone())
            .map(|v| v[1].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(got.len(), want.len(), "worker {w}: duplicates or losses");
        assert_eq!(
            got.into_iter().collect::<BTreeSet<_>>(),
            *want,
            "worker {w}"
        );
    }
    // The line next to the too-long one was stored.
    let r = query(&s, "long", &range(r#"{app="long"}"#, ""));
    assert_eq!(r.json()["data"]["result"][0]["values"][0][1], "short one");
    // Tenants never see each other's data.
    let r = query(&s, "good", &range(r#"{app="flood"}"#, ""));
    assert_eq!(r.json()["data"]["result"].as_array().unwrap().len(), 0);
}

/// Queries of death end with an answer: 200 when the engine is bounded anyway (Rust's
/// regex runs in linear time, so `(a+)+$` over long lines is no catastrophe; `topk` never
/// holds more than its input; `|= ""` stops at the limit), a clear 4xx when a limit is hit,
/// and 504 at the query timeout. Ingest and `/ready` answer meanwhile.
#[test]
fn queries_of_death_end_with_a_clear_answer() {
    let s = Arc::new(TestServer::start(
        "limits: {max_query_series: 100, max_query_range_secs: 86400}",
    ));
    // 40 streams of long `aaaa…b` lines: what `(a+)+$` backtracks on in a backtracking engine.
    let line = format!("{}b", "a".repeat(4000));
    let t0 = now_ns() - 600_000_000_000;
    for st in 0..40 {
        let lines: Vec<&str> = (0..200).map(|_| line.as_str()).collect();
        let body = push_json(&format!(r#"{{"app":"qod","n":"{st}"}}"#), t0 + st, &lines);
        let r = s.req("POST", "/loki/api/v1/push", &[JSON], &body);
        assert_eq!(r.status, 204, "{}", r.text());
    }
    let ids: Vec<String> = (0..300).map(|i| format!("id={i}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let r = s.req(
        "POST",
        "/loki/api/v1/push",
        &[JSON],
        &push_json(r#"{"app":"card"}"#, t0, &ids),
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let cases: Vec<(String, u16, &str)> = vec![
        (range(r#"{app="qod"} |~ "(a+)+$""#, "&limit=10"), 200, ""),
        (
            range(
                r#"count_over_time({app="qod"} |~ "(a|aa)+$" [1h])"#,
                "&step=60",
            ),
            200,
            "",
        ),
        (
            range(
                r#"topk(1000000000, count_over_time({app="qod"}[1m]))"#,
                "&step=60",
            ),
            200,
            "",
        ),
        (range(r#"{app=~".+"} |= """#, "&limit=5000"), 200, ""),
        (
            format!(
                "/loki/api/v1/query_range?query={}&start=0&end={}",
                enc(r#"{app="qod"}"#),
                now_ns()
            ),
            400,
            "the query time range exceeds the limit",
        ),
        (
            range(r#"count_over_time({app="qod"}[1m])"#, "&step=0.001"),
            400,
            "exceeded maximum resolution",
        ),
        (
            range(
                r#"sum by (id) (count_over_time({app="card"} | logfmt [1h]))"#,
                "&step=3600",
            ),
            400,
            "maximum of series (100) reached for a single query",
        ),
    ];
    let ingest = {
        let s = s.clone();
        std::thread::spawn(move || {
            for i in 0..30 {
                let body = push_json(r#"{"app":"meanwhile"}"#, now_ns(), &[&format!("line {i}")]);
                let r = s.req("POST", "/loki/api/v1/push", &[JSON], &body);
                assert_eq!(r.status, 204, "{}", r.text());
                assert_eq!(s.get("/ready").status, 200);
            }
        })
    };
    for (path, status, msg) in &cases {
        let r = s.get(path);
        assert_eq!(r.status, *status, "{path}: {}", r.text());
        if *status == 200 {
            let j = r.json();
            assert_eq!(j["status"], "success", "{path}");
        } else {
            assert!(r.text().contains(msg), "{path}: {}", r.text());
        }
    }
    // `(a+)+$` matched nothing (every line ends in b) yet answered; `|= ""` is cut at the limit.
    let r = s.get(&range(r#"{app="qod"} |~ "(a+)+$""#, "&limit=10"));
    assert_eq!(r.json()["data"]["result"].as_array().unwrap().len(), 0);
    let r = s.get(&range(r#"{app=~".+"} |= """#, "&limit=5000"));
    assert_eq!(
        r.json()["data"]["stats"]["summary"]["totalEntriesReturned"],
        5000
    );
    ingest.join().unwrap();
    let r = s.get(&range(r#"{app="meanwhile"}"#, "&limit=100"));
    let n: usize = r.json()["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["values"].as_array().unwrap().len())
        .sum();
    assert_eq!(n, 30);
}

/// A query past the timeout is 504 with Loki's message, and its evaluation really stops:
/// the server's gauge of running evaluations returns to 0 and the interrupted counter
/// counts it.
#[test]
fn a_timed_out_query_stops_its_evaluation() {
    let s = TestServer::start("limits: {query_timeout_secs: 0}");
    let body = push_json(r#"{"app":"t"}"#, now_ns(), &["a", "b"]);
    assert_eq!(
        s.req("POST", "/loki/api/v1/push", &[JSON], &body).status,
        204
    );
    let r = s.get(&range(r#"{app="t"} |= "a""#, ""));
    assert_eq!(r.status, 504, "{}", r.text());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = s.get("/metrics").text();
        let value = |name: &str| -> u64 {
            m.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
                .unwrap_or_else(|| panic!("{name} missing from /metrics"))
        };
        if value("kelp_query_evaluations_running") == 0
            && value("kelp_query_evaluations_interrupted_total") >= 1
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the evaluation never stopped:\n{m}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Overload: pushes beyond `max_inflight_push_requests` are 503 with `Retry-After` before
/// their body is read; the held push still completes, and a push after it is accepted.
#[test]
fn pushes_beyond_the_in_flight_bound_are_shed_with_503() {
    let s = TestServer::start("limits: {max_inflight_push_requests: 1}");
    let held_body = push_json(r#"{"app":"held"}"#, now_ns(), &["first"]);
    let body = push_json(r#"{"app":"shed"}"#, now_ns(), &["second"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    let shed = loop {
        let held = Partial::start(s.addr, "POST", "/loki/api/v1/push", &[JSON], &held_body, 5);
        std::thread::sleep(Duration::from_millis(50));
        let r = s.req("POST", "/loki/api/v1/push", &[JSON], &body);
        let first = held.finish();
        assert!(
            first.status == 204 || first.status == 503,
            "{}",
            first.text()
        );
        if r.status == 503 {
            assert_eq!(first.status, 204, "{}", first.text());
            break r;
        }
        assert_eq!(r.status, 204, "{}", r.text());
        assert!(Instant::now() < deadline, "never shed a push");
    };
    assert!(
        shed.text().contains("too many push requests in flight"),
        "{}",
        shed.text()
    );
    assert_eq!(shed.header("retry-after"), Some("1"));
    // Reads are not shed, and the slot is free again.
    assert_eq!(s.get("/ready").status, 200);
    assert_eq!(
        s.req("POST", "/loki/api/v1/push", &[JSON], &body).status,
        204
    );
    let m = s.get("/metrics").text();
    assert!(
        m.lines()
            .any(|l| l.starts_with("kelp_ingest_shed_total ") && !l.ends_with(" 0")),
        "{m}"
    );
}
