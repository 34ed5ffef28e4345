//! Pushes a `shared/bench/mkdataset.py` dataset to a Loki push endpoint as protobuf +
//! snappy (what Promtail, Alloy and the Loki clients send), with the entries
//! `shared/bench/pushload.py` sends: stream labels {namespace, pod, container}, line `i`
//! of a stream at `start + i * span / n`, batches of ~1 MiB of line bytes, one stream per
//! job over `--procs` threads, each with one keep-alive connection.
//!
//! ```sh
//! cargo build --release -p kelp-server --example pushload
//! ./target/release/examples/pushload /tmp/ds2 http://127.0.0.1:3100 [--procs 2] \
//!     [--batch-bytes 1048576] [--format protobuf|json-gzip]
//! ```
//!
//! Prints one JSON line like `pushload.py`: bytes, lines, seconds, errors.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kelp_model::{Entry, Labels, StreamEntries, Timestamp};

type Err = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone, Copy)]
enum Format {
    Protobuf,
    JsonGzip,
}

fn main() -> Result<(), Err> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let (Some(dataset), Some(url)) = (args.first().cloned(), args.get(1).cloned()) else {
        return Err("usage: pushload DATASET URL [--procs N] [--batch-bytes N] [--format protobuf|json-gzip]".into());
    };
    let procs: usize = opt("--procs").map_or(Ok(2), |v| v.parse())?;
    let batch_bytes: usize = opt("--batch-bytes").map_or(Ok(1 << 20), |v| v.parse())?;
    let format = match opt("--format").as_deref() {
        None | Some("protobuf") => Format::Protobuf,
        Some("json-gzip") => Format::JsonGzip,
        Some(other) => return Err(format!("unknown format {other}").into()),
    };
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{dataset}/manifest.json"))?)?;
    let start = m["start_ns"].as_i64().ok_or("start_ns")?;
    let span = m["end_ns"].as_i64().ok_or("end_ns")? - start;
    let streams: Vec<serde_json::Value> = m["streams"].as_array().ok_or("streams")?.clone();
    let streams = Arc::new(streams);
    let next = Arc::new(AtomicUsize::new(0));
    let began = Instant::now();
    let workers: Vec<_> = (0..procs)
        .map(|_| {
            let (streams, next, dataset, addr) =
                (streams.clone(), next.clone(), dataset.clone(), addr.clone());
            std::thread::spawn(move || -> Result<(u64, u64, u64), Err> {
                let mut conn = Conn::new(&addr);
                let (mut bytes, mut lines, mut errors) = (0u64, 0u64, 0u64);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(s) = streams.get(i) else {
                        return Ok((bytes, lines, errors));
                    };
                    let labels = Labels::from_pairs(
                        ["namespace", "pod", "container"]
                            .map(|k| (k, s[k].as_str().unwrap_or_default())),
                    )?;
                    let n = s["lines"].as_i64().unwrap_or(1).max(1);
                    let step = span / n;
                    let path = format!("{dataset}/{}", s["path"].as_str().unwrap_or_default());
                    let mut file = BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
                    let mut entries = Vec::new();
                    let (mut size, mut k, mut line) = (0usize, 0i64, Vec::new());
                    loop {
                        line.clear();
                        if file.read_until(b'\n', &mut line)? == 0 {
                            break;
                        }
                        if line.last() == Some(&b'\n') {
                            line.pop();
                        }
                        let text = String::from_utf8_lossy(&line).into_owned();
                        size += text.len();
                        bytes += text.len() as u64 + 1;
                        entries.push(Entry::new(
                            Timestamp::from_unix_nanos(start + k * step),
                            text,
                        ));
                        k += 1;
                        if size >= batch_bytes {
                            errors += conn.push(format, &labels, std::mem::take(&mut entries));
                            size = 0;
                        }
                    }
                    if !entries.is_empty() {
                        errors += conn.push(format, &labels, entries);
                    }
                    lines += k as u64;
                }
            })
        })
        .collect();
    let (mut bytes, mut lines, mut errors) = (0, 0, 0);
    for w in workers {
        let (b, l, e) = w.join().map_err(|_| "loader thread panicked")??;
        bytes += b;
        lines += l;
        errors += e;
    }
    println!(
        "{}",
        serde_json::json!({
            "bytes": bytes, "lines": lines, "errors": errors,
            "seconds": (began.elapsed().as_secs_f64() * 100.0).round() / 100.0,
        })
    );
    Ok(())
}

/// One keep-alive HTTP/1.1 connection, reopened on error.
struct Conn {
    addr: String,
    stream: Option<BufReader<TcpStream>>,
}

impl Conn {
    fn new(addr: &str) -> Self {
        Self {
            addr: addr.to_owned(),
            stream: None,
        }
    }

    /// Sends one batch, retrying 429/5xx and connection errors as agents do; returns the
    /// number of batches that failed for good (0 or 1).
    fn push(&mut self, format: Format, labels: &Labels, entries: Vec<Entry>) -> u64 {
        let batch = [StreamEntries {
            labels: labels.clone(),
            entries,
        }];
        let (body, headers) = match format {
            Format::Protobuf => (
                kelp_wire::encode_push_protobuf(&batch),
                "Content-Type: application/x-protobuf\r\n",
            ),
            Format::JsonGzip => (
                kelp_wire::compress::gzip(&kelp_wire::encode_push_json(&batch)),
                "Content-Type: application/json\r\nContent-Encoding: gzip\r\n",
            ),
        };
        for attempt in 0..20u32 {
            match self.send(&body, headers) {
                Ok(s) if (200..300).contains(&s) => return 0,
                Ok(s) if s < 500 && s != 429 => {
                    eprintln!("push {s}");
                    return 1;
                }
                Ok(_) | Err(_) => {
                    self.stream = None;
                    std::thread::sleep(Duration::from_millis((100 << attempt.min(5)).min(5000)));
                }
            }
        }
        1
    }

    fn send(&mut self, body: &[u8], headers: &str) -> std::io::Result<u16> {
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.addr)?;
            s.set_nodelay(true)?;
            self.stream = Some(BufReader::new(s));
        }
        let Some(r) = self.stream.as_mut() else {
            return Err(std::io::Error::other("no connection"));
        };
        let head = format!(
            "POST /loki/api/v1/push HTTP/1.1\r\nHost: {}\r\n{headers}Content-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        r.get_mut().write_all(head.as_bytes())?;
        r.get_mut().write_all(body)?;
        read_status(r)
    }
}

/// Reads one response (status line, headers, a `Content-Length` body) and returns its status.
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
