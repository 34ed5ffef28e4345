//! One collection over a node with 100 containers (50 pods × 2 containers, plus their
//! 50 sandboxes), systemd driver and containerd naming: node figures, the cgroup scan,
//! the log tree and the join. Issue #7's goal is ≤ 1 ms of CPU per collection.
//!
//! `cargo bench -p kelp-metrics --bench collect`

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{criterion_group, criterion_main, Criterion};
use kelp_metrics::cgroup::{scan, Driver, Qos, Runtime};
use kelp_metrics::collect::{collect, Collector, Sources};

#[path = "../tests/fixture.rs"]
#[allow(dead_code)]
mod fixture;

fn node(dir: &std::path::Path) -> Sources {
    let src = fixture::node(
        dir,
        1_234_560_000,
        "anon 1000000000\nfile 1000000000\ninactive_file 121455616\n",
    );
    let d = Driver::Systemd;
    for p in 0..50u32 {
        let qos = [Qos::Guaranteed, Qos::Burstable, Qos::BestEffort][p as usize % 3];
        let uid = fixture::uid(p);
        let pod = src.cgroup_root.join(fixture::pod_dir(d, qos, &uid));
        fixture::cgroup(&pod, 1_000_000, 100_000_000, 1_000);
        for c in 0..3 {
            let id = fixture::id(p * 10 + c);
            let dir = pod.join(fixture::container_dir(d, Runtime::Containerd, &id));
            fixture::cgroup(&dir, 5_300_000, 52_457_472, 4_194_304);
            if c > 0 {
                let name = format!("c{c}");
                let pod_name = format!("pod-{p}");
                let dirs = [src.pods_dir.as_path(), src.containers_dir.as_path()];
                fixture::log(dirs, "default", &pod_name, &uid, &name, 0, &id);
            }
        }
    }
    src
}

fn bench(c: &mut Criterion) {
    // The temp dir (ext4 on the reference machine), and tmpfs, closer to the in-memory
    // cgroup filesystem.
    let mut dirs = vec![("tempdir", tempfile::tempdir().unwrap())];
    if std::path::Path::new("/dev/shm").is_dir() {
        dirs.push(("tmpfs", tempfile::tempdir_in("/dev/shm").unwrap()));
    }
    let mut cpu = Vec::new();
    for (fs, tmp) in &dirs {
        let src = node(tmp.path());
        let first = collect(&src).unwrap();
        let named: usize = first.joined.pods.iter().map(|p| p.containers.len()).sum();
        assert_eq!((first.joined.pods.len(), named), (50, 100));
        let mut g = c.benchmark_group(format!("collect/{fs}"));
        g.bench_function("100 containers: node + log tree + scan + join", |b| {
            b.iter(|| collect(&src).unwrap())
        });
        // The agent's loop: a Collector keeps state between collections; on a cgroup2
        // mount its files stay open (one pread each). The fixture's files are never
        // replaced, as on cgroupfs, so keeping them open is measured here too.
        let mut kept = Collector::with_kept_files(src.clone(), true);
        g.bench_function("100 containers: Collector, files kept open", |b| {
            b.iter(|| kept.collect().unwrap())
        });
        let mut fresh = Collector::with_kept_files(src.clone(), false);
        g.bench_function("100 containers: Collector, files reopened", |b| {
            b.iter(|| fresh.collect().unwrap())
        });
        g.bench_function("150 container cgroups: scan reading all", |b| {
            b.iter(|| scan(&src.cgroup_root).unwrap())
        });
        g.finish();

        // Criterion measures wall time; the goal is CPU time. The kernel's per-thread
        // on-CPU time (user + system) over many collections gives it directly.
        // KELP_BENCH_CPU_RUNS (2000) and KELP_BENCH_CPU_ONLY (a part of the mode's name)
        // shorten this on a busy machine.
        let runs: u32 = std::env::var("KELP_BENCH_CPU_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_000);
        let only = std::env::var("KELP_BENCH_CPU_ONLY").unwrap_or_default();
        let mut measure = |what: &str, f: &mut dyn FnMut()| {
            if !what.contains(only.as_str()) {
                return;
            }
            if let Some(before) = thread_cpu_ns() {
                for _ in 0..runs {
                    f();
                }
                let after = thread_cpu_ns().unwrap_or(before);
                let per = (after - before) as f64 / f64::from(runs) / 1000.0;
                cpu.push(format!("collect/{fs}/100 containers, {what}: {per:.0} µs of CPU per collection (thread CPU time over {runs} runs)"));
            }
        };
        measure("collect()", &mut || {
            criterion::black_box(collect(&src).unwrap());
        });
        measure("Collector, files kept open", &mut || {
            criterion::black_box(kept.collect().unwrap());
        });
        measure("Collector, files reopened", &mut || {
            criterion::black_box(fresh.collect().unwrap());
        });
    }
    for line in cpu {
        println!("{line}");
    }
}

/// This thread's time on CPU, in ns (`/proc/thread-self/schedstat`, first field).
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
