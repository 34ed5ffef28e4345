//! The journal reader's cost: a full pass over a node's journal (8 files of 25,000
//! entries, half kubelet, a quarter containerd, a quarter another unit that is filtered
//! out), and the idle pass the agent makes every second once it is caught up (a cursor at
//! the end: open the directory, seek, find nothing).
//!
//! The files are written by `systemd-journal-remote` (`.ci/deps` installs it).
//!
//! Run: `cargo bench -p kelp-agent --bench journal`.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kelp_agent::bench::journal_pass;
use kelp_agent::journal::export::{write_journal, ExportEntry, BOOT_ID};

const FILES: u64 = 8;
const PER_FILE: u64 = 25_000;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mid = dir.path().join(BOOT_ID);
    std::fs::create_dir(&mid).expect("the machine-id directory");
    let t0 = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_micros() as u64
        - 3_600_000_000;
    for f in 0..FILES {
        let entries: Vec<ExportEntry> = (0..PER_FILE)
            .map(|i| {
                let n = f * PER_FILE + i;
                let unit = ["kubelet.service", "kubelet.service", "containerd.service", "systemd-logind.service"][(n % 4) as usize];
                ExportEntry::msg(
                    unit,
                    t0 + n * 10,
                    &format!("I1123 03:04:05.{:06} 1234 kubelet.go:{}] \"SyncLoop (PLEG): event for pod\" pod=\"ns/pod-{}\" event={{ID:{n} Type:ContainerStarted}}", n % 1_000_000, n % 3000, n % 97),
                )
            })
            .collect();
        let name = if f + 1 == FILES {
            "system.journal".to_owned()
        } else {
            format!(
                "system@{BOOT_ID}-{:016x}-{:016x}.journal",
                f * PER_FILE + 1,
                t0 + f
            )
        };
        write_journal(&mid.join(name), &entries, true).expect("a journal file");
    }
    let (n, end) = journal_pass(dir.path(), None);
    assert_eq!(
        n as u64,
        FILES * PER_FILE * 3 / 4,
        "every kubelet and containerd entry"
    );
    println!(
        "journal: {FILES} files, {} entries, {n} of the default units",
        FILES * PER_FILE
    );

    let mut g = c.benchmark_group("journal");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("full_pass", |b| {
        b.iter(|| black_box(journal_pass(dir.path(), None)))
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("idle_pass", |b| {
        b.iter(|| {
            let (n, _) = journal_pass(dir.path(), end.clone());
            assert_eq!(n, 0);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
