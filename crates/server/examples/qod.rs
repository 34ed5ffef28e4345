//! Queries of death against a running `kelp server` (issue #9): how long each takes to end
//! and with what answer, the server's peak memory while they run, and the ingest
//! throughput of concurrent pushers with and without them (`--rounds` alternates the two
//! phases, each `--secs` long; medians are reported); then whether a dropped request
//! stops its evaluation. `bench/qod.sh` starts the server and runs this.
//!
//! ```sh
//! cargo build --release -p kelp-server --example qod
//! ./target/release/examples/qod http://127.0.0.1:3100 <server pid> [--lines 1000000] [--secs 20] [--rounds 1]
//! ```
//!
//! Prints one JSON line per measurement.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Err = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Err> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str, default: u64| -> u64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (Some(url), Some(pid)) = (args.first(), args.get(1)) else {
        return Err("usage: qod URL PID [--lines N] [--secs S] [--pushers N] [--rounds N]".into());
    };
    let addr = url.trim_start_matches("http://").to_owned();
    let pid: u32 = pid.parse()?;
    let lines = opt("--lines", 1_000_000);
    let secs = opt("--secs", 20);
    let pushers = opt("--pushers", 2) as usize;
    let rounds = opt("--rounds", 1).max(1);

    // The data the queries read: 200 streams, lines of ~150 bytes with a unique id, over
    // the last 50 minutes.
    let began = Instant::now();
    let now = now_ns();
    let per_stream = lines / 200;
    for chunk in 0..(per_stream / 1000).max(1) {
        let mut streams = Vec::new();
        for s in 0..200u64 {
            let values: Vec<serde_json::Value> = (0..1000u64)
                .map(|i| {
                    let n = chunk * 1000 + i;
                    let t = now - 3_000_000_000_000
                        + (n * 3_000_000_000_000 / per_stream.max(1)) as i64
                        + s as i64;
                    serde_json::json!([
                        t.to_string(),
                        format!(
                            "level=info id={s}-{n} msg=\"GET /api/items/{n} 200\" took_ms={} {}",
                            n % 977,
                            "a".repeat(80)
                        )
                    ])
                })
                .collect();
            streams.push(serde_json::json!({"stream": {"app": "load", "pod": format!("pod-{s}")}, "values": values}));
        }
        let body = serde_json::to_vec(&serde_json::json!({ "streams": streams }))?;
        let (status, text) = http(&addr, "POST", "/loki/api/v1/push", &body)?;
        if status != 204 {
            return Err(format!("loading: {status} {text}").into());
        }
    }
    println!(
        "{}",
        serde_json::json!({"phase": "load", "lines": per_stream.max(1000) * 200, "secs": began.elapsed().as_secs_f64()})
    );

    let queries: Vec<(&str, String)> = vec![
        (
            "huge_range",
            format!(
                "/loki/api/v1/query_range?query={}&start=0&end={now}",
                enc(r#"{app="load"}"#)
            ),
        ),
        (
            "catastrophic_regex",
            format!(
                "/loki/api/v1/query_range?query={}&since=1h&limit=100",
                enc(r#"{app="load"} |~ "(a+)+$""#)
            ),
        ),
        (
            "catastrophic_regex_metric",
            format!(
                "/loki/api/v1/query_range?query={}&since=1h&step=60",
                enc(r#"sum(count_over_time({app="load"} |~ "(a|aa)+b" [5m]))"#)
            ),
        ),
        (
            "enormous_topk",
            format!(
                "/loki/api/v1/query_range?query={}&since=1h&step=60",
                enc(r#"topk(1000000000, sum by (pod) (count_over_time({app="load"}[5m])))"#)
            ),
        ),
        (
            "too_many_steps",
            format!(
                "/loki/api/v1/query_range?query={}&since=1h&step=0.001",
                enc(r#"count_over_time({app="load"}[1m])"#)
            ),
        ),
        (
            "high_cardinality_sum_by",
            format!(
                "/loki/api/v1/query_range?query={}&since=1h&step=300",
                enc(r#"sum by (id) (count_over_time({app="load"} | logfmt [5m]))"#)
            ),
        ),
        (
            "empty_filter_everything",
            format!(
                "/loki/api/v1/query_range?query={}&since=1h&limit=5000",
                enc(r#"{app=~".+"} |= """#)
            ),
        ),
        (
            "needle_nowhere",
            format!(
                "/loki/api/v1/query_range?query={}&since=1h&limit=100",
                enc(r#"{app=~".+"} |~ "(?i)never.*there""#)
            ),
        ),
        (
            "json_everything_by_line",
            format!(
                "/loki/api/v1/query_range?query={}&since=1h&step=60",
                enc(
                    r#"sum by (msg) (rate({app="load"} | logfmt | line_format "{{.msg}} {{.took_ms}}" [1m]))"#
                )
            ),
        ),
    ];
    let rss = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (rss, stop) = (rss.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(kib) = vm_kib(pid, "VmRSS:") {
                    rss.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    // Rounds alternate ingest alone and ingest beside the queries, so a change in the
    // machine's load (other builds) weighs on both sides alike; the ratio is taken per
    // round and summarised by medians.
    let results = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (mut alones, mut withs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let alone = ingest(&addr, pushers, Duration::from_secs(secs));
        let runner_stop = Arc::new(AtomicBool::new(false));
        let runner = {
            let (addr, results, runner_stop) = (addr.clone(), results.clone(), runner_stop.clone());
            let queries = queries.clone();
            std::thread::spawn(move || {
                while !runner_stop.load(Ordering::Relaxed) {
                    for (name, path) in &queries {
                        let t = Instant::now();
                        let (status, text) =
                            http(&addr, "GET", path, b"").unwrap_or((0, String::new()));
                        results.lock().unwrap().push((
                            name.to_string(),
                            status,
                            t.elapsed().as_secs_f64(),
                            text.chars().take(90).collect::<String>(),
                        ));
                    }
                }
            })
        };
        let with = ingest(&addr, pushers, Duration::from_secs(secs));
        runner_stop.store(true, Ordering::Relaxed);
        // The query in flight ends before the next round's ingest alone begins.
        runner.join().map_err(|_| "query runner panicked")?;
        let ratio = with / alone.max(1e-9);
        println!(
            "{}",
            serde_json::json!({"phase": "round", "round": round, "ingest_alone_lines_per_sec": alone,
                "ingest_with_queries_of_death_lines_per_sec": with, "ratio": ratio,
                "loadavg": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').take(3).collect::<Vec<_>>().join(" ")})
        );
        alones.push(alone);
        withs.push(with);
        ratios.push(ratio);
    }
    stop.store(true, Ordering::Relaxed);
    sampler.join().map_err(|_| "sampler panicked")?;
    println!(
        "{}",
        serde_json::json!({"phase": "summary", "rounds": rounds, "median_alone_lines_per_sec": median(&mut alones),
            "median_with_lines_per_sec": median(&mut withs), "median_ratio": median(&mut ratios),
            "min_ratio": ratios.first(), "max_ratio": ratios.last(),
            "peak_rss_mib": rss.load(Ordering::Relaxed) / 1024, "vm_hwm_mib": vm_kib(pid, "VmHWM:").unwrap_or(0) / 1024})
    );
    let results = results.lock().unwrap();
    for (name, _) in &queries {
        let runs: Vec<_> = results.iter().filter(|r| &r.0 == name).collect();
        let mut secs: Vec<f64> = runs.iter().map(|r| r.2).collect();
        secs.sort_by(f64::total_cmp);
        let statuses: std::collections::BTreeSet<u16> = runs.iter().map(|r| r.1).collect();
        println!(
            "{}",
            serde_json::json!({"query": name, "runs": runs.len(), "statuses": statuses,
                "median_s": secs.get(secs.len() / 2), "max_s": secs.last(),
                "answer": runs.last().map(|r| r.3.clone())})
        );
    }

    // A dropped request stops its evaluation: send a slow query, close the socket after
    // 300 ms, and time how long the server's running evaluations take to reach 0.
    let slow = format!(
        "/loki/api/v1/query_range?query={}&since=1h&step=60",
        enc(
            r#"sum(count_over_time({app=~".+"} | logfmt | line_format "{{.msg}} {{.id}} {{.took_ms}} {{.msg}}" |~ "(?i)(x|y)+z[0-9]+" [1m]))"#
        )
    );
    let t = Instant::now();
    let (full_status, _) = http(&addr, "GET", &slow, b"")?;
    let full = t.elapsed().as_secs_f64();
    let mut s = TcpStream::connect(&addr)?;
    s.write_all(format!("GET {slow} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())?;
    std::thread::sleep(Duration::from_millis(300));
    let running_before = metric(&addr, "kelp_query_evaluations_running")?;
    drop(s);
    let dropped = Instant::now();
    let stopped_after = loop {
        if metric(&addr, "kelp_query_evaluations_running")? == 0 {
            break dropped.elapsed().as_secs_f64();
        }
        if dropped.elapsed() > Duration::from_secs(120) {
            break f64::NAN;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    println!(
        "{}",
        serde_json::json!({"phase": "cancel", "query_s_when_kept": full, "status_when_kept": full_status,
            "running_before_drop": running_before, "stopped_s_after_drop": stopped_after,
            "interrupted_total": metric(&addr, "kelp_query_evaluations_interrupted_total")?})
    );
    Ok(())
}

/// Pushes 100-line batches from `n` threads for `d`; lines per second accepted.
fn ingest(addr: &str, n: usize, d: Duration) -> f64 {
    let total = Arc::new(AtomicU64::new(0));
    let began = Instant::now();
    let threads: Vec<_> = (0..n)
        .map(|w| {
            let (addr, total) = (addr.to_owned(), total.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while began.elapsed() < d {
                    let t = now_ns();
                    let values: Vec<serde_json::Value> = (0..100u64)
                        .map(|k| serde_json::json!([(t + k as i64).to_string(), format!("level=info worker={w} batch={i} k={k} msg=\"ingest while querying\"")]))
                        .collect();
                    let body = serde_json::to_vec(&serde_json::json!({"streams": [{"stream": {"app": "ingest", "worker": w.to_string()}, "values": values}]}))
                        .unwrap_or_default();
                    if let Ok((204, _)) = http(&addr, "POST", "/loki/api/v1/push", &body) {
                        total.fetch_add(100, Ordering::Relaxed);
                    }
                    i += 1;
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    total.load(Ordering::Relaxed) as f64 / began.elapsed().as_secs_f64()
}

fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> Result<(u16, String), Err> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(600)))?;
    s.write_all(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )?;
    s.write_all(body)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

fn metric(addr: &str, name: &str) -> Result<u64, Err> {
    let (_, text) = http(addr, "GET", "/metrics", b"")?;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .ok_or_else(|| format!("{name} missing from /metrics").into())
}

fn vm_kib(pid: u32, key: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| {
            l.strip_prefix(key)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
}

/// The median (sorts `v`).
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
