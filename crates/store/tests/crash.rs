//! Crash safety with real processes: a child appends under load and prints each ack; the
//! parent kills it with SIGKILL at a random point, reopens the store and checks that every
//! acknowledged entry is there. Runs several rounds on the same directory, so recovery of
//! a recovered store is covered too.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kelp_store::{FsyncPolicy, Store};

use crate::common::*;

const ENV: &str = "KELP_STORE_CRASH_CHILD";

fn child_config(dir: &std::path::Path) -> kelp_store::StoreConfig {
    let mut cfg = config(dir);
    cfg.fsync = FsyncPolicy::Batch {
        max_delay: Duration::from_micros(500),
    };
    cfg.flush_bytes = 64 << 10; // flush often, so kills land inside flushes too
    cfg.block_bytes = 16 << 10;
    cfg.compact_min_segments = 4;
    cfg
}

/// The child: appends forever, printing `ack <round> <n>` after each acknowledged batch.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(ENV) else { return };
    let round: u64 = std::env::var("KELP_STORE_CRASH_ROUND")
        .unwrap()
        .parse()
        .unwrap();
    let store = Store::open(child_config(dir.as_ref())).unwrap();
    let mut n = 0u64;
    loop {
        let lines: Vec<String> = (0..20)
            .map(|i| format!("r{round} b{n} e{i} {}", "payload ".repeat(i % 7)))
            .collect();
        let entries: Vec<(i64, &str)> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                (
                    (round * 1_000_000 + n * 20 + i as u64) as i64 * 1000,
                    l.as_str(),
                )
            })
            .collect();
        store
            .append(&tenant(), &[batch(&format!("p{}", n % 3), &entries)])
            .unwrap();
        println!("ack {round} {n}");
        if n % 50 == 49 {
            let _ = store.compact();
        }
        n += 1;
    }
}

#[test]
fn sigkill_at_random_points_loses_no_acknowledged_entry() {
    if std::env::var(ENV).is_ok() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: Vec<(u64, u64)> = Vec::new();
    let mut seed = 0x9e37_79b9u64;
    for round in 0..5u64 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash::crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV, dir.path())
            .env("KELP_STORE_CRASH_ROUND", round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut w = line.split_whitespace();
                if w.next() == Some("ack") {
                    let r: u64 = w.next().unwrap().parse().unwrap();
                    let n: u64 = w.next().unwrap().parse().unwrap();
                    if tx.send((r, n)).is_err() {
                        break;
                    }
                }
            }
        });
        // Wait for some acks, then kill after a random extra delay.
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let want = 20 + (seed >> 33) % 200;
        let start = Instant::now();
        let mut got = 0;
        while got < want && start.elapsed() < Duration::from_secs(20) {
            if let Ok(a) = rx.recv_timeout(Duration::from_millis(100)) {
                acked.push(a);
                got += 1;
            }
        }
        std::thread::sleep(Duration::from_micros((seed >> 20) % 20_000));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        acked.extend(rx.try_iter());
        assert!(got > 0, "round {round}: the child acknowledged nothing");

        let store = Store::open(child_config(dir.path())).unwrap();
        let present: std::collections::HashSet<String> =
            dump(&store).into_iter().map(|e| e.2).collect();
        for (r, n) in &acked {
            for i in 0..20 {
                let line = format!("r{r} b{n} e{i} {}", "payload ".repeat(i % 7));
                assert!(
                    present.contains(&line),
                    "round {round}: acknowledged {line:?} lost"
                );
            }
        }
        assert!(
            store.recovery().bad_files.is_empty(),
            "{:?}",
            store.recovery()
        );
    }
}
