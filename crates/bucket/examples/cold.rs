//! Query latency on cold bucket data vs cached, at the store's API (bench/bucket.sh runs
//! it against a real S3-compatible server; see bench/README.md).
//!
//! usage: cold DATASET BUCKET_SETTINGS_JSON WORKDIR [RUNS]
//!
//! Loads a dataset of `shared/bench/mkdataset.py` (line i of a stream at start + i * span /
//! n, as `pushload.py` sends it) into a store over the bucket, flushes and compacts it, and
//! the same into a store on local disk. Then per run, for each of bench/server.sh's three
//! queries (the needle over 24 h, counts per 5 min over 24 h summed by pod, the last 1,000
//! lines of one pod): a fresh node (empty data directory: manifest, indexes and segment
//! metas come from the bucket; blocks not yet read) runs it once (cold), then five more
//! times (cached, median); the local-disk store runs it five times (median). Prints one
//! JSON line per run, then the medians.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kelp_model::{Entry, Labels, TenantId, Timestamp};
use kelp_store::{
    CountRequest, Direction, FsyncPolicy, LabelMatcher, LineFilter, MatchOp, ScanRequest, Store,
    StoreConfig, StreamEntries,
};

fn config(dir: &Path, bucket: Option<&kelp_bucket::StorageSettings>) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.fsync = FsyncPolicy::Never;
    c.background = false;
    c.flush_age = Duration::from_secs(3600);
    c.bucket = bucket.map(|s| s.store_bucket(dir, "bench").unwrap().unwrap());
    c
}

struct Dataset {
    start: i64,
    end: i64,
    needle: String,
    pod: String,
    streams: Vec<(Labels, PathBuf, u64)>,
}

fn dataset(dir: &Path) -> Dataset {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let streams: Vec<_> = m["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let l = Labels::from_pairs([
                ("namespace", s["namespace"].as_str().unwrap()),
                ("pod", s["pod"].as_str().unwrap()),
                ("container", s["container"].as_str().unwrap()),
            ])
            .unwrap();
            (
                l,
                dir.join(s["path"].as_str().unwrap()),
                s["lines"].as_u64().unwrap(),
            )
        })
        .collect();
    Dataset {
        start: m["start_ns"].as_i64().unwrap(),
        end: m["end_ns"].as_i64().unwrap() + 1,
        needle: m["needle"].as_str().unwrap().to_owned(),
        pod: m["streams"][0]["pod"].as_str().unwrap().to_owned(),
        streams,
    }
}

fn load(store: &Store, ds: &Dataset, tenant: &TenantId) -> (u64, u64) {
    let (mut lines, mut bytes) = (0u64, 0u64);
    for (labels, path, n) in &ds.streams {
        let step = (ds.end - 1 - ds.start) / (*n).max(1) as i64;
        let f = std::io::BufReader::new(std::fs::File::open(path).unwrap());
        let mut batch = Vec::new();
        let mut size = 0;
        for (i, line) in f.split(b'\n').enumerate() {
            let line = line.unwrap();
            size += line.len();
            bytes += line.len() as u64 + 1;
            lines += 1;
            batch.push(Entry::new(
                Timestamp::from_unix_nanos(ds.start + i as i64 * step),
                String::from_utf8_lossy(&line).into_owned(),
            ));
            if size >= 1 << 20 {
                let entries = std::mem::take(&mut batch);
                store
                    .append(
                        tenant,
                        &[StreamEntries {
                            labels: labels.clone(),
                            entries,
                        }],
                    )
                    .unwrap();
                size = 0;
            }
        }
        if !batch.is_empty() {
            store
                .append(
                    tenant,
                    &[StreamEntries {
                        labels: labels.clone(),
                        entries: batch,
                    }],
                )
                .unwrap();
        }
    }
    store.flush().unwrap();
    while store.compact().unwrap().partitions > 0 {}
    (lines, bytes)
}

/// A query: its name, and a run returning a figure to check the answers agree.
type Query = (&'static str, Box<dyn Fn(&Store) -> u64>);

/// The three queries.
fn queries(ds: &Dataset, tenant: &TenantId) -> Vec<Query> {
    let all = vec![LabelMatcher::new("namespace", MatchOp::Re, ".+").unwrap()];
    let (start, end) = (
        Timestamp::from_unix_nanos(ds.start),
        Timestamp::from_unix_nanos(ds.end),
    );
    let needle = ScanRequest {
        tenant: tenant.clone(),
        matchers: all.clone(),
        start,
        end,
        direction: Direction::Backward,
        limit: Some(100),
        filters: vec![LineFilter::Contains(ds.needle.as_bytes().to_vec())],
    };
    let count = CountRequest {
        tenant: tenant.clone(),
        matchers: all,
        start,
        end,
        step_ns: 300_000_000_000,
        filters: vec![],
    };
    let last = ScanRequest {
        tenant: tenant.clone(),
        matchers: vec![LabelMatcher::eq("pod", &ds.pod)],
        start,
        end,
        direction: Direction::Backward,
        limit: Some(1000),
        filters: vec![],
    };
    vec![
        (
            "needle",
            Box::new(move |s: &Store| s.select(&needle).unwrap().len() as u64),
        ),
        (
            "count",
            Box::new(move |s: &Store| {
                s.count(&count)
                    .unwrap()
                    .iter()
                    .map(|c| c.counts.iter().sum::<u64>())
                    .sum()
            }),
        ),
        (
            "last1000",
            Box::new(move |s: &Store| s.select(&last).unwrap().len() as u64),
        ),
    ]
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn timed(f: impl Fn() -> u64) -> (f64, u64) {
    let t = Instant::now();
    let n = f();
    (ms(t.elapsed()), n)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: cold DATASET BUCKET_SETTINGS_JSON WORKDIR [RUNS]");
        std::process::exit(2);
    }
    let ds = dataset(Path::new(&args[1]));
    let settings: kelp_bucket::StorageSettings = serde_json::from_str(&args[2]).unwrap();
    let work = PathBuf::from(&args[3]);
    let runs: usize = args.get(4).map_or(3, |r| r.parse().unwrap());
    let tenant = TenantId::parse("fake").unwrap();
    let _ = std::fs::remove_dir_all(&work);

    let t = Instant::now();
    let loader = Store::open(config(&work.join("loader"), Some(&settings))).unwrap();
    let (lines, bytes) = load(&loader, &ds, &tenant);
    let bucket_bytes = loader.disk_bytes();
    loader.close().unwrap();
    let load_s = t.elapsed().as_secs_f64();
    let local = Store::open(config(&work.join("local"), None)).unwrap();
    load(&local, &ds, &tenant);
    eprintln!(
        "loaded {lines} lines, {bytes} bytes; {bucket_bytes} bytes of segments and indexes in the bucket ({load_s:.1} s)"
    );

    let qs = queries(&ds, &tenant);
    let mut rows = Vec::new();
    for run in 0..runs {
        let mut row = serde_json::Map::new();
        row.insert("run".into(), run.into());
        for (name, q) in &qs {
            let dir = work.join(format!("node-{run}-{name}"));
            let t = Instant::now();
            let node = Store::open(config(&dir, Some(&settings))).unwrap();
            let open_ms = ms(t.elapsed());
            let (cold, n_cold) = timed(|| q(&node));
            let warm: Vec<(f64, u64)> = (0..5).map(|_| timed(|| q(&node))).collect();
            let disk: Vec<(f64, u64)> = (0..5).map(|_| timed(|| q(&local))).collect();
            assert!(
                warm.iter().chain(&disk).all(|w| w.1 == n_cold),
                "{name}: answers differ"
            );
            let s = node.cache_stats().unwrap();
            row.insert(format!("{name}_open_ms"), open_ms.into());
            row.insert(format!("{name}_cold_ms"), cold.into());
            row.insert(
                format!("{name}_cached_ms"),
                median(warm.iter().map(|w| w.0).collect()).into(),
            );
            row.insert(
                format!("{name}_disk_ms"),
                median(disk.iter().map(|w| w.0).collect()).into(),
            );
            row.insert(format!("{name}_result"), n_cold.into());
            row.insert(format!("{name}_pages_fetched"), s.misses.into());
            drop(node);
            let _ = std::fs::remove_dir_all(&dir);
        }
        println!("{}", serde_json::Value::Object(row.clone()));
        rows.push(row);
    }
    let mut med = serde_json::Map::new();
    for key in rows[0].keys() {
        let v: Vec<f64> = rows.iter().filter_map(|r| r[key].as_f64()).collect();
        med.insert(key.clone(), median(v).into());
    }
    med.insert("lines".into(), lines.into());
    med.insert("bytes".into(), bytes.into());
    med.insert("bucket_bytes".into(), bucket_bytes.into());
    println!("medians: {}", serde_json::Value::Object(med));
}
