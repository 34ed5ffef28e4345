//! CRI parsing throughput over a realistic mix of records.
//!
//! The input is a few MB of containerd-format records built in memory from real log lines
//! (nginx/Apache access, JSON app logs, Java stack traces, klog) read from the shared
//! corpus when it is there (`$KELP_CORPUS`, else `/work/shared/corpus`), otherwise from
//! embedded synthetic samples of the same kinds. About one line in 1000 is a long JSON
//! document (20–48 KB) that containerd splits at 16 KiB into `P` records.
//!
//! Benchmarks (throughput in input bytes):
//! - `cri/parse`: cut records at LF with memchr and parse each one;
//! - `cri/parse_join`: the same, fed to a [`Joiner`] (containerd's 16 KiB cap);
//! - `docker/parse`: the same logical lines as docker json-file lines.
//!
//! Run: `cargo bench -p kelp-k8s --bench cri_parse`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kelp_k8s::join::{Joiner, JoinerConfig};
use kelp_k8s::{cri, docker, Stream};
use kelp_model::Timestamp;
use memchr::memchr;

/// Target size of the record buffer.
const TARGET_BYTES: usize = 4 << 20;

/// A tiny deterministic generator (64-bit LCG), so every run parses the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Lines of one kind of log, and how often (weight) the mix picks that kind.
struct Kind {
    lines: Vec<Vec<u8>>,
    weight: usize,
}

fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("KELP_CORPUS")
        .map_or_else(|| PathBuf::from("/work/shared/corpus"), PathBuf::from);
    dir.is_dir().then_some(dir)
}

/// Non-empty lines of the given corpus files, CR stripped as containerd strips it.
fn read_lines(dir: &Path, files: &[&str]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for f in files {
        let Ok(bytes) = std::fs::read(dir.join(f)) else {
            continue;
        };
        for l in bytes.split(|&b| b == b'\n') {
            let l = l.strip_suffix(b"\r").unwrap_or(l);
            if !l.is_empty() && l.len() < 8192 {
                out.push(l.to_vec());
            }
        }
    }
    out
}

fn corpus_kinds(dir: &Path) -> Vec<Kind> {
    let kind = |files: &[&str], weight| Kind {
        lines: read_lines(dir, files),
        weight,
    };
    vec![
        kind(&["elastic-apache-access/apache_logs"], 35),
        kind(&["otrf-zeek-json/apt29/day1/zeek/combined_zeek.log"], 25),
        kind(
            &[
                "elastic-kafka-log4j/kafka0/logs/state-change.log.2016-12-19-16",
                "elastic-kafka-log4j/kafka0/logs/server.log.2016-12-19-16",
            ],
            15,
        ),
        kind(&["kubelet-windows-klog/kubelet.log"], 25),
    ]
}

fn synthetic_kinds() -> Vec<Kind> {
    let mut r = Rng(7);
    let paths = [
        "/",
        "/api/v1/orders",
        "/healthz",
        "/static/app.js",
        "/api/v1/users/42/cart",
        "/favicon.ico",
    ];
    let agents = ["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36", "kube-probe/1.30", "curl/8.5.0"];
    let nginx = (0..500)
        .map(|_| {
            format!(
                "10.{}.{}.{} - - [01/Jun/2024:12:00:{:02} +0000] \"GET {} HTTP/1.1\" {} {} \"-\" \"{}\"",
                r.below(256), r.below(256), r.below(256), r.below(60), paths[r.below(paths.len())],
                [200, 200, 200, 304, 404, 500][r.below(6)], r.below(50_000), agents[r.below(agents.len())]
            )
            .into_bytes()
        })
        .collect();
    let json = (0..500)
        .map(|i| {
            format!(
                r#"{{"level":"{}","ts":"2024-06-01T12:00:{:02}.{:03}Z","caller":"orders/handler.go:{}","msg":"order processed","order_id":"ord-{:08x}","user_id":{},"latency_ms":{}.{},"items":{}}}"#,
                ["info", "info", "debug", "warn", "error"][r.below(5)], r.below(60), r.below(1000), r.below(400), r.next(), r.below(100_000), r.below(900), r.below(10), i % 7
            )
            .into_bytes()
        })
        .collect();
    let java = (0..500)
        .map(|i| {
            if i % 8 == 0 {
                format!("2024-06-01 12:00:{:02},{:03} ERROR [pool-{}-thread-{}] c.e.orders.OrderService - failed to reserve stock for order {}", r.below(60), r.below(1000), r.below(4), r.below(16), r.below(99999)).into_bytes()
            } else {
                format!("\tat com.example.orders.{}.{}({}.java:{})", ["OrderService", "StockClient", "RetryTemplate", "HttpClient"][r.below(4)], ["reserve", "call", "execute", "send"][r.below(4)], ["OrderService", "StockClient"][r.below(2)], r.below(900)).into_bytes()
            }
        })
        .collect();
    let klog = (0..500)
        .map(|_| {
            format!(
                "I0601 12:00:{:02}.{:06}   {} {}.go:{}] \"Syncing pod\" pod=\"shop/api-{:x}\" podUID=\"0f3e9c1a-2b4d-4e5f-8a6b-{:012x}\"",
                r.below(60), r.below(1_000_000), 1000 + r.below(9000), ["kubelet", "pod_workers", "kuberuntime_manager"][r.below(3)], r.below(2000), r.next(), r.next()
            )
            .into_bytes()
        })
        .collect();
    vec![
        Kind {
            lines: nginx,
            weight: 35,
        },
        Kind {
            lines: json,
            weight: 25,
        },
        Kind {
            lines: java,
            weight: 15,
        },
        Kind {
            lines: klog,
            weight: 25,
        },
    ]
}

/// A long JSON document (20–48 KB), which containerd splits into `P` records.
fn long_line(r: &mut Rng) -> Vec<u8> {
    let mut s = String::from(r#"{"event":"snapshot","items":["#);
    let len = 20_000 + r.below(28_000);
    while s.len() < len {
        s.push_str(&format!(
            r#"{{"id":{},"sku":"SKU-{:06}","qty":{}}},"#,
            r.below(1 << 20),
            r.below(1_000_000),
            r.below(9)
        ));
    }
    s.push_str("null]}");
    s.into_bytes()
}

/// The logical lines of the mix, each with its stream, in file order.
fn logical_lines() -> Vec<(Stream, Vec<u8>)> {
    let kinds = match corpus_dir() {
        Some(dir) => {
            let k = corpus_kinds(&dir);
            if k.iter().all(|k| !k.lines.is_empty()) {
                k
            } else {
                synthetic_kinds()
            }
        }
        None => synthetic_kinds(),
    };
    let total: usize = kinds.iter().map(|k| k.weight).sum();
    let mut r = Rng(42);
    let mut out = Vec::new();
    let mut bytes = 0;
    while bytes < TARGET_BYTES {
        let line = if r.below(1000) == 0 {
            long_line(&mut r)
        } else {
            let mut pick = r.below(total);
            let kind = kinds.iter().find(|k| {
                let hit = pick < k.weight;
                pick = pick.saturating_sub(k.weight);
                hit
            });
            let lines = &kind.unwrap_or(&kinds[0]).lines;
            lines[r.below(lines.len())].clone()
        };
        let stream = if r.below(10) == 0 {
            Stream::Stderr
        } else {
            Stream::Stdout
        };
        bytes += line.len() + 40;
        out.push((stream, line));
    }
    out
}

fn cri_buffer(lines: &[(Stream, Vec<u8>)]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(TARGET_BYTES + (1 << 20));
    let mut t = 1_717_243_200_000_000_000i64;
    for (stream, line) in lines {
        t += 1_234_567;
        for (piece, partial) in cri::split_containerd(line, cri::CONTAINERD_MAX_LINE) {
            cri::format(
                &mut buf,
                Timestamp::from_unix_nanos(t),
                *stream,
                partial,
                piece,
            );
        }
    }
    buf
}

fn docker_buffer(lines: &[(Stream, Vec<u8>)]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(TARGET_BYTES * 2);
    let mut t = 1_717_243_200_000_000_000i64;
    for (stream, line) in lines {
        t += 1_234_567;
        let text = format!("{}\n", String::from_utf8_lossy(line));
        let value = serde_json::json!({
            "log": text,
            "stream": stream.as_str(),
            "time": Timestamp::from_unix_nanos(t).to_rfc3339_nano(),
        });
        buf.extend_from_slice(value.to_string().as_bytes());
        buf.push(b'\n');
    }
    buf
}

/// Calls `f` on every LF-terminated line of `buf` (without its LF).
#[inline]
fn for_each_line(buf: &[u8], mut f: impl FnMut(&[u8])) {
    let mut rest = buf;
    while let Some(i) = memchr(b'\n', rest) {
        f(&rest[..i]);
        rest = &rest[i + 1..];
    }
}

fn bench(c: &mut Criterion) {
    let lines = logical_lines();
    let cri_buf = cri_buffer(&lines);
    let docker_buf = docker_buffer(&lines);
    let records = cri_buf.iter().filter(|&&b| b == b'\n').count();
    let partials = {
        let mut n = 0;
        for_each_line(&cri_buf, |l| {
            n += usize::from(cri::parse(l).is_ok_and(|r| r.partial))
        });
        n
    };
    eprintln!(
        "input: {} ({} logical lines, {} CRI records of which {} P, {} bytes; docker {} bytes)",
        if corpus_dir().is_some() {
            "corpus"
        } else {
            "synthetic"
        },
        lines.len(),
        records,
        partials,
        cri_buf.len(),
        docker_buf.len()
    );

    let mut g = c.benchmark_group("cri");
    g.throughput(Throughput::Bytes(cri_buf.len() as u64));
    g.bench_function("parse", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for_each_line(black_box(&cri_buf), |l| {
                if let Ok(r) = cri::parse(l) {
                    n += r.content.len() + usize::from(r.partial);
                }
            });
            n
        })
    });
    let config = JoinerConfig {
        max_line_bytes: cri::CONTAINERD_MAX_LINE,
        ..JoinerConfig::default()
    };
    let mut joiner = Joiner::new(config);
    let now = Timestamp::from_unix_secs(1_717_243_200);
    g.bench_function("parse_join", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for_each_line(black_box(&cri_buf), |l| {
                if let Ok(r) = cri::parse(l) {
                    n += joiner.push(r, now).map(|l| l.content.len()).sum::<usize>();
                }
            });
            n + joiner.finish().count()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("docker");
    g.throughput(Throughput::Bytes(docker_buf.len() as u64));
    g.bench_function("parse", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for_each_line(black_box(&docker_buf), |l| {
                if let Ok(r) = docker::parse(l) {
                    n += r.log.len();
                }
            });
            n
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
