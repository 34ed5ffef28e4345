//! Memory and disk of the series store per 1,000 series (issue #7's benchmark):
//! `cargo run --release -p kelp-series --example memory -- [SERIES] [HOURS]`.
//!
//! Appends HOURS of 15 s samples (default 24) for SERIES series (default 1,000: e.g. 20
//! nodes × 16 pods × 3 series) as agents push them, one collection of every series per
//! append, with hourly cuts, each pod series with five labels as a Deployment's pods have
//! them (set once, as agents push them unchanged); then prints the store's own estimate, the process's resident
//! memory growth (`VmRSS`), the disk used and the time one range read of a day takes.

use std::time::Instant;

use kelp_series::{Kind, Sample, SeriesConfig, SeriesKey, SeriesStore};

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let series: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    let hours: i64 = args.next().map_or(Ok(24), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let t0 = 1_732_320_000_000_000_000i64;
    let mut config = SeriesConfig::new(dir.path());
    config.fsync = false;
    let (store, _) = SeriesStore::open(config, t0)?;
    let keys: Vec<SeriesKey> = (0..series)
        .map(|i| {
            let (node, pod) = (
                format!("node-{:02}", i / 48),
                format!("web-{:05}-abcde", i / 3),
            );
            match i % 3 {
                0 => SeriesKey::new("fake", Kind::Pod, &node, "shop", &pod, ""),
                1 => SeriesKey::new("fake", Kind::Container, &node, "shop", &pod, "app"),
                _ => SeriesKey::new("fake", Kind::Container, &node, "shop", &pod, "istio-proxy"),
            }
        })
        .collect();
    let before = rss_kib();
    let steps = hours * 240;
    let began = Instant::now();
    for step in 0..steps {
        let t = t0 + step * 15_000_000_000;
        let batch: Vec<(SeriesKey, Sample)> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let i = i as u64;
                // A per-series rate (5m to 300m) with noise, a wobbling working set.
                let milli = 5 + (i * 7919) % 296;
                let noise = (step as u64 * 31 + i * 17) % 200;
                let t = t + (i as i64 % 40) * 1_000_000 + (step % 7) * 1_000_000;
                let cpu_ns = (step as u64) * milli * 15_000_000 + noise * 1_000_000;
                let memory = (64 << 20) + ((step as u64 + i) % 50) * 4096;
                (k.clone(), Sample { t, cpu_ns, memory })
            })
            .collect();
        store.append(&batch)?;
        if step == 0 {
            let labels: Vec<(SeriesKey, kelp_series::Labels)> = keys
                .iter()
                .filter(|k| k.kind == Kind::Pod)
                .map(|k| {
                    let l = [
                        ("app", "web"),
                        ("app.kubernetes.io/name", "shop-web"),
                        ("pod-template-hash", "7d9c5b6f4d"),
                        ("tier", "frontend"),
                        ("version", "v1.24.3"),
                    ]
                    .iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect();
                    (k.clone(), l)
                })
                .collect();
            store.set_labels(&labels)?;
        }
        if step % 240 == 239 {
            store.maintain(t, true)?;
        }
    }
    let append = began.elapsed();
    let after = rss_kib();
    let st = store.stats();
    let samples = series as u64 * steps as u64;
    let read = Instant::now();
    let day = store.samples(
        &keys[1],
        t0,
        t0 + 86_400_000_000_000,
        t0 + hours * 3_600_000_000_000,
    )?;
    let read = read.elapsed();
    println!("{series} series × {steps} samples ({hours} h at 15 s) = {samples} samples");
    println!(
        "append: {:.1} s, {:.2} µs per sample",
        append.as_secs_f64(),
        append.as_secs_f64() * 1e6 / samples as f64
    );
    println!(
        "store estimate: {} KiB ({} B per series); open chunks {} KiB; {} chunk refs",
        st.memory_bytes / 1024,
        st.memory_bytes / series as u64,
        st.open_bytes / 1024,
        st.chunks
    );
    println!(
        "process RSS growth: {} KiB ({} B per series)",
        after.saturating_sub(before),
        after.saturating_sub(before) * 1024 / series as u64
    );
    println!(
        "disk: {} KiB, {:.2} B per sample",
        st.disk_bytes / 1024,
        st.disk_bytes as f64 / samples as f64
    );
    println!(
        "one series, one day read back: {} samples in {:?}",
        day.len(),
        read
    );
    Ok(())
}
