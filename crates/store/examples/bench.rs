//! Loads a dataset made by `shared/bench/mkdataset.py` through the store's Rust API and
//! measures what `bench/README.md` lists: ingest rate per CPU-second, raw/disk ratio, peak
//! RSS, needle search (with and without blooms), per-stream counts per 5 minutes over 24 h,
//! and the last 1,000 lines of one stream. Entries are exactly those `pushload.py` sends:
//! line `i` of a stream at `start + i * (span / n)`, batches of about 1 MiB, 2 loaders.
//!
//! usage: cargo run --release -p kelp-store --example bench -- DATASET STORE_DIR [--runs 5]
//!
//! With `--corpus DIR STORE_DIR` it measures compression instead: every data file under
//! `DIR` (`shared/corpus`) is loaded as one stream into a fresh store and flushed, and the
//! ratio raw bytes / bytes on disk (segments and label index) is printed per file as a
//! Markdown table, next to `zstd -3` of the same file (the `zstd` command, if installed).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use kelp_model::{Entry, Labels, TenantId, Timestamp};
use kelp_store::{
    CountRequest, Direction, FsyncPolicy, LabelMatcher, LineFilter, ScanRequest, Store,
    StoreConfig, StreamEntries,
};

fn cpu_secs() -> f64 {
    // utime and stime, fields 14 and 15 of /proc/self/stat, in clock ticks (100 Hz).
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = s.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

/// A `/proc/self/status` field in MiB (`VmHWM:`, `VmRSS:`).
fn status_mib(field: &str) -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn du(p: &Path) -> u64 {
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            let m = e.metadata().unwrap();
            n += if m.is_dir() { du(&e.path()) } else { m.len() };
        }
    }
    n
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn config(dir: &Path, blooms: bool) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.fsync = FsyncPolicy::Batch {
        max_delay: std::time::Duration::from_millis(2),
    };
    c.use_blooms = blooms;
    c
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a == "--corpus") {
        return corpus(Path::new(&args[2]), Path::new(&args[3]));
    }
    let (ds, dir) = (PathBuf::from(&args[1]), PathBuf::from(&args[2]));
    let runs: usize = args
        .iter()
        .position(|a| a == "--runs")
        .map_or(5, |i| args[i + 1].parse().unwrap());
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ds.join("manifest.json")).unwrap()).unwrap();
    let (start, end) = (
        m["start_ns"].as_i64().unwrap(),
        m["end_ns"].as_i64().unwrap(),
    );
    let streams: Vec<serde_json::Value> = m["streams"].as_array().unwrap().clone();
    let tenant = TenantId::parse("bench").unwrap();
    // `--queries-only`: query the store a previous run loaded.
    if !args.iter().any(|a| a == "--queries-only") {
        load(&ds, &dir, &tenant, &streams, (start, end));
    }
    // `--load-only`: stop after the load (memory and ingest figures).
    if args.iter().any(|a| a == "--load-only") {
        return;
    }
    // `--quick`: skip the (slow) needle search with blooms disabled.
    let passes: &[bool] = if args.iter().any(|a| a == "--quick") {
        &[true]
    } else {
        &[true, false]
    };
    queries(&dir, &tenant, &streams, &m, runs, passes);
}

fn load(
    ds: &Path,
    dir: &Path,
    tenant: &TenantId,
    streams: &[serde_json::Value],
    (start, end): (i64, i64),
) {
    let _ = std::fs::remove_dir_all(dir);
    let store = Arc::new(Store::open(config(dir, true)).unwrap());
    let (cpu0, t0) = (cpu_secs(), Instant::now());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let raw = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let loaders: Vec<_> = (0..2)
        .map(|_| {
            let (store, next, raw, streams, ds, tenant) = (
                store.clone(),
                next.clone(),
                raw.clone(),
                streams.to_vec(),
                ds.to_owned(),
                tenant.clone(),
            );
            std::thread::spawn(move || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(s) = streams.get(i) else { break };
                let labels = Labels::from_pairs(
                    ["namespace", "pod", "container"].map(|k| (k, s[k].as_str().unwrap())),
                )
                .unwrap();
                // Read the file 1 MiB at a time, as a pushing client would, so the loader's
                // own memory stays small next to the store's.
                let mut file = std::fs::File::open(ds.join(s["path"].as_str().unwrap())).unwrap();
                let n = s["lines"].as_i64().unwrap();
                let step = (end - start) / n.max(1);
                let (mut batch, mut size, mut k) = (Vec::new(), 0usize, 0i64);
                let send = |batch: &mut Vec<Entry>| {
                    let entries = std::mem::take(batch);
                    store
                        .append(
                            &tenant,
                            &[StreamEntries {
                                labels: labels.clone(),
                                entries,
                            }],
                        )
                        .unwrap();
                };
                let mut carry: Vec<u8> = Vec::new();
                loop {
                    let mut buf = std::mem::take(&mut carry);
                    let have = buf.len();
                    buf.resize(have + (1 << 20), 0);
                    let got = std::io::Read::read(&mut file, &mut buf[have..]).unwrap();
                    buf.truncate(have + got);
                    let eof = got == 0;
                    let cut = if eof {
                        buf.len()
                    } else {
                        memchr::memrchr(b'\n', &buf).map_or(0, |p| p + 1)
                    };
                    carry = buf[cut..].to_vec();
                    buf.truncate(cut);
                    let data = bytes::Bytes::from(buf);
                    let mut pos = 0;
                    while pos < data.len() {
                        let e = memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |p| pos + p);
                        let line = data.slice(pos..e);
                        raw.fetch_add(line.len() as u64 + 1, std::sync::atomic::Ordering::Relaxed);
                        size += line.len();
                        batch.push(Entry::new(
                            Timestamp::from_unix_nanos(start + k * step),
                            line,
                        ));
                        k += 1;
                        pos = e + 1;
                        if size >= 1 << 20 {
                            send(&mut batch);
                            size = 0;
                        }
                    }
                    if eof {
                        break;
                    }
                }
                if !batch.is_empty() {
                    send(&mut batch);
                }
            })
        })
        .collect();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = std::env::var_os("KELP_BENCH_TRACE").map(|_| {
        let (store, done) = (store.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                eprintln!(
                    "trace t={:.1}s rss={:.0}MiB head={:.0}MiB segments={}",
                    t0.elapsed().as_secs_f64(),
                    status_mib("VmRSS:"),
                    store.head_bytes() as f64 / 1048576.0,
                    store.segment_count()
                );
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
        })
    });
    for l in loaders {
        l.join().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(s) = sampler {
        s.join().unwrap();
    }
    let (ingest_wall, ingest_cpu) = (t0.elapsed().as_secs_f64(), cpu_secs() - cpu0);
    let raw = raw.load(std::sync::atomic::Ordering::SeqCst);
    let rss = peak_rss_mib();
    store.flush().unwrap();
    let (flush_wall, flush_cpu) = (t0.elapsed().as_secs_f64(), cpu_secs() - cpu0);
    let disk = du(dir);
    println!(
        "ingest: {:.1} MB raw, {:.1} s wall until acked ({:.1} s incl. final flush), {:.1} CPU-s \
         -> {:.1} raw MB per CPU-second (incl. final flush: {:.1}); peak RSS {:.0} MiB",
        raw as f64 / 1e6,
        ingest_wall,
        flush_wall,
        ingest_cpu,
        raw as f64 / 1e6 / ingest_cpu,
        raw as f64 / 1e6 / flush_cpu,
        rss
    );
    println!(
        "disk: {} bytes incl. index and WAL, segments+indexes {} -> raw/disk {:.2}, {} segments",
        disk,
        store.disk_bytes(),
        raw as f64 / disk as f64,
        store.segment_count()
    );
    drop(store);
}

fn queries(
    dir: &Path,
    tenant: &TenantId,
    streams: &[serde_json::Value],
    m: &serde_json::Value,
    runs: usize,
    passes: &[bool],
) {
    let end = m["end_ns"].as_i64().unwrap();
    let needle = m["needle"].as_str().unwrap().to_owned();
    // Queries run on a quiet store: compacted first, then no background work.
    let mut cfg = config(dir, true);
    cfg.background = false;
    let store = Store::open(cfg.clone()).unwrap();
    while store.compact().unwrap().partitions > 0 {}
    drop(store);
    for &blooms in passes {
        let store = Store::open(StoreConfig {
            use_blooms: blooms,
            ..cfg.clone()
        })
        .unwrap();
        let all = vec![LabelMatcher::new("namespace", kelp_store::MatchOp::Re, ".+").unwrap()];
        let req = ScanRequest {
            tenant: tenant.clone(),
            matchers: all.clone(),
            start: Timestamp::from_unix_nanos(end - 86_400_000_000_000),
            end: Timestamp::from_unix_nanos(end),
            direction: Direction::Backward,
            limit: Some(100),
            filters: vec![LineFilter::Contains(needle.as_bytes().to_vec())],
        };
        let mut times = Vec::new();
        let mut hits = 0;
        let mut stats = kelp_store::ScanStats::default();
        for _ in 0..runs + 1 {
            let t = Instant::now();
            let mut n = 0;
            stats = store
                .scan(&req, |b| {
                    n += b.len();
                    true
                })
                .unwrap();
            hits = n;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.remove(0); // the first run warms blooms and the page cache
        println!("needle |= {needle:?} over 24h (blooms {blooms}): {hits} hits, median {:.2} ms ({stats:?})", median(times));
        if !blooms {
            break;
        }
        let creq = CountRequest {
            tenant: tenant.clone(),
            matchers: all.clone(),
            // Loki evaluates at start, start + 5m, ..., end, each over (t - 5m, t]: 289 points.
            start: Timestamp::from_unix_nanos(end - 86_400_000_000_000 - 300_000_000_000 + 1),
            end: Timestamp::from_unix_nanos(end + 1),
            step_ns: 300_000_000_000,
            filters: vec![],
        };
        let mut times = Vec::new();
        let mut total = 0u64;
        let mut pods = 0;
        for _ in 0..runs + 1 {
            let t = Instant::now();
            let counts = store.count(&creq).unwrap();
            let mut by_pod: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
            for c in &counts {
                let v = by_pod
                    .entry(c.labels.get("pod").unwrap().to_owned())
                    .or_insert_with(|| vec![0; c.counts.len()]);
                for (a, b) in v.iter_mut().zip(&c.counts) {
                    *a += b;
                }
            }
            times.push(t.elapsed().as_secs_f64() * 1e3);
            total = by_pod.values().flatten().sum();
            pods = by_pod.len();
        }
        times.remove(0);
        println!(
            "sum by (pod) (count_over_time[5m]) step 5m over 24h: {pods} pods, {total} entries (dataset {}), median {:.2} ms",
            m["lines"], median(times)
        );
        let s = &streams[0];
        let one = ["namespace", "pod", "container"]
            .map(|k| LabelMatcher::eq(k, s[k].as_str().unwrap()))
            .to_vec();
        let lreq = ScanRequest {
            matchers: one,
            limit: Some(1000),
            filters: vec![],
            ..req.clone()
        };
        let mut times = Vec::new();
        let mut got = 0;
        for _ in 0..runs + 1 {
            let t = Instant::now();
            got = store.select(&lreq).unwrap().len();
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.remove(0);
        println!(
            "last 1000 lines of one stream: {got} lines, median {:.2} ms",
            median(times)
        );
    }
}

/// Data files under `dir` (licences and READMEs left out), sorted.
fn corpus_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p.is_dir() {
            corpus_files(&p, out);
        } else if !name.starts_with("UPSTREAM-LICENSE") && !name.starts_with("README") {
            out.push(p);
        }
    }
    out.sort();
}

/// Bytes of `zstd -3` of `path` (the command-line tool), if it is installed.
fn zstd3(path: &Path) -> Option<u64> {
    let out = std::process::Command::new("zstd")
        .args(["-3", "-q", "-c"])
        .arg(path)
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout.len() as u64)
}

/// `--corpus`: raw/disk per corpus file, each file one stream in a fresh store.
fn corpus(corpus: &Path, dir: &Path) {
    let mut files = Vec::new();
    corpus_files(corpus, &mut files);
    let tenant = TenantId::parse("corpus").unwrap();
    let labels = Labels::from_pairs([("job", "corpus")]).unwrap();
    println!("| file | lines | raw bytes | kelp on disk | kelp raw/disk | `zstd -3` bytes | `zstd -3` ratio | kelp / zstd |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let (mut raw_sum, mut disk_sum, mut zstd_sum) = (0u64, 0u64, 0u64);
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let _ = std::fs::remove_dir_all(dir);
        let mut cfg = config(dir, true);
        cfg.background = false;
        cfg.limits.max_line_bytes = usize::MAX; // store every line whole
        let store = Store::open(cfg).unwrap();
        // Line `i` at 1 ms steps (one day partition); the newline is not stored but is
        // counted in the raw bytes, as in the 2 GiB load.
        let t0 = 1_700_000_000_000_000_000i64;
        let mut lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
        if data.ends_with(b"\n") {
            lines.pop();
        }
        let mut i = 0usize;
        for part in lines.chunks(4096) {
            let entries = part
                .iter()
                .map(|l| {
                    i += 1;
                    Entry::new(
                        Timestamp::from_unix_nanos(t0 + i as i64 * 1_000_000),
                        bytes::Bytes::copy_from_slice(l),
                    )
                })
                .collect();
            let out = store
                .append(
                    &tenant,
                    &[StreamEntries {
                        labels: labels.clone(),
                        entries,
                    }],
                )
                .unwrap();
            assert_eq!(
                out.accepted as usize,
                part.len(),
                "{}: {out:?}",
                f.display()
            );
        }
        store.flush().unwrap();
        let raw = data.len() as u64;
        let disk = store.disk_bytes();
        drop(store);
        let z = zstd3(f);
        raw_sum += raw;
        disk_sum += disk;
        zstd_sum += z.unwrap_or(0);
        let name = f.strip_prefix(corpus).unwrap_or(f).display();
        let (zb, zr, rel) = match z {
            Some(z) => (
                z.to_string(),
                format!("{:.2}", raw as f64 / z as f64),
                format!("{:.2}", z as f64 / disk as f64),
            ),
            None => ("n/a".into(), "n/a".into(), "n/a".into()),
        };
        println!(
            "| `{name}` | {} | {raw} | {disk} | {:.2} | {zb} | {zr} | {rel} |",
            lines.len(),
            raw as f64 / disk as f64
        );
    }
    println!(
        "| **all {} files** (sums) | | {raw_sum} | {disk_sum} | {:.2} | {zstd_sum} | {:.2} | {:.2} |",
        files.len(),
        raw_sum as f64 / disk_sum as f64,
        raw_sum as f64 / zstd_sum.max(1) as f64,
        zstd_sum as f64 / disk_sum as f64
    );
    let _ = std::fs::remove_dir_all(dir);
}
