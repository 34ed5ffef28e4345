//! Live-tail latency over real sockets: `--clients` WebSocket tail clients follow one
//! stream while one pusher sends `--entries` single-entry pushes at `--rate` per second
//! (a keep-alive HTTP connection, Loki push JSON). An entry's latency runs from just
//! before its push request is written to its arrival at a tail client; the push is
//! acknowledged only once durable, so the figure includes the WAL write.
//!
//! ```sh
//! cargo build --release -p kelp-server --example taillat
//! ./target/release/examples/taillat 127.0.0.1:3100 [--entries 1000] [--rate 100] [--clients 2]
//! ```
//!
//! Prints one JSON line: per client the entries received, p50, p99 and max in ms, and
//! the p99 over all clients.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use kelp_model::{Entry, Labels, StreamEntries, Timestamp};
use tokio_tungstenite::tungstenite::Message;

type Err = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Err> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str, default: u64| -> Result<u64, Err> {
        Ok(match args.iter().position(|a| a == name) {
            Some(i) => args.get(i + 1).ok_or("missing value")?.parse()?,
            None => default,
        })
    };
    let addr = args
        .first()
        .cloned()
        .ok_or("usage: taillat HOST:PORT [--entries N] [--rate N] [--clients N]")?;
    let entries = opt("--entries", 1000)? as usize;
    let rate = opt("--rate", 100)?.max(1);
    let clients = opt("--clients", 2)? as usize;
    let run = format!("r{}", Timestamp::now().as_unix_nanos());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let sent: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; entries]));
    let query: String =
        form_urlencoded::byte_serialize(format!(r#"{{job="taillat",run="{run}"}}"#).as_bytes())
            .collect();
    let url = format!("ws://{addr}/loki/api/v1/tail?query={query}");
    let received = rt.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await?;
            tasks.push(tokio::spawn(async move {
                let mut got: Vec<(usize, Instant)> = Vec::new();
                let deadline = tokio::time::sleep(Duration::from_secs(3600));
                tokio::pin!(deadline);
                loop {
                    let msg = tokio::select! {
                        m = ws.next() => m,
                        _ = &mut deadline => None,
                    };
                    let Some(Ok(msg)) = msg else { break };
                    let at = Instant::now();
                    let Message::Text(t) = msg else { continue };
                    let Ok(j) = serde_json::from_str::<serde_json::Value>(&t) else {
                        continue;
                    };
                    for s in j["streams"].as_array().into_iter().flatten() {
                        for v in s["values"].as_array().into_iter().flatten() {
                            let seq = v[1]
                                .as_str()
                                .and_then(|l| l.strip_prefix("seq="))
                                .and_then(|n| n.parse().ok());
                            if let Some(seq) = seq {
                                got.push((seq, at));
                            }
                        }
                    }
                    if got.len() >= entries {
                        break;
                    }
                }
                got
            }));
        }
        // Let every client subscribe before the first push.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let pusher = {
            let (sent, addr, run) = (sent.clone(), addr.clone(), run.clone());
            tokio::task::spawn_blocking(move || push_all(&addr, &run, entries, rate, &sent))
        };
        pusher.await??;
        let mut out = Vec::new();
        for t in tasks {
            // Entries still in flight get 5 s after the last push.
            match tokio::time::timeout(Duration::from_secs(5), t).await {
                Ok(got) => out.push(got?),
                Err(_) => out.push(Vec::new()),
            }
        }
        Ok::<_, Err>(out)
    })?;
    let sent = sent.lock().map_err(|_| "poisoned")?;
    let mut all = Vec::new();
    let mut per_client = Vec::new();
    for got in &received {
        let mut lat: Vec<f64> = got
            .iter()
            .filter_map(|(seq, at)| {
                let s = sent.get(*seq).copied().flatten()?;
                Some(at.duration_since(s).as_secs_f64() * 1e3)
            })
            .collect();
        lat.sort_by(f64::total_cmp);
        all.extend_from_slice(&lat);
        per_client.push(serde_json::json!({
            "received": lat.len(), "p50_ms": pct(&lat, 0.50), "p99_ms": pct(&lat, 0.99),
            "max_ms": lat.last().copied().unwrap_or(f64::NAN),
        }));
    }
    all.sort_by(f64::total_cmp);
    println!(
        "{}",
        serde_json::json!({
            "entries": entries, "rate_per_s": rate, "clients": per_client,
            "p50_ms": pct(&all, 0.50), "p99_ms": pct(&all, 0.99),
            "max_ms": all.last().copied().unwrap_or(f64::NAN),
        })
    );
    Ok(())
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    (sorted[i] * 1000.0).round() / 1000.0
}

/// Pushes `entries` single-entry batches at `rate` per second on one keep-alive connection.
fn push_all(
    addr: &str,
    run: &str,
    entries: usize,
    rate: u64,
    sent: &Mutex<Vec<Option<Instant>>>,
) -> Result<(), Err> {
    let labels = Labels::from_pairs([("job", "taillat"), ("run", run)])?;
    let stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let mut r = BufReader::new(stream);
    let began = Instant::now();
    let every = Duration::from_nanos(1_000_000_000 / rate);
    for seq in 0..entries {
        let due = began + every * seq as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let body = kelp_wire::encode_push_json(&[StreamEntries {
            labels: labels.clone(),
            entries: vec![Entry::new(Timestamp::now(), format!("seq={seq}"))],
        }]);
        let head = format!(
            "POST /loki/api/v1/push HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if let Some(slot) = sent.lock().map_err(|_| "poisoned")?.get_mut(seq) {
            *slot = Some(Instant::now());
        }
        r.get_mut().write_all(head.as_bytes())?;
        r.get_mut().write_all(&body)?;
        let status = read_status(&mut r)?;
        if status != 204 {
            return Err(format!("push {seq}: status {status}").into());
        }
    }
    Ok(())
}

/// Reads one response and returns its status.
fn read_status(r: &mut BufReader<TcpStream>) -> std::io::Result<u16> {
    let mut line = String::new();
    r.read_line(&mut line)?;
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut len = 0usize;
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("connection closed"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(status)
}
