//! Tests on real journal files, written by Debian's `systemd-journal-remote` from the
//! journal export format (installed by `.ci/deps`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::checkpoint::Checkpoints;
use crate::sink::{SinkConfig, SinkKind};

use super::export::{
    export, journal_remote, write_journal_compressed, Compression, ExportEntry as Ent,
    BOOT_ID as BOOT,
};

/// Writes a journal file (see [`super::export::write_journal`]), failing the test on error.
pub(crate) fn write_journal(path: &Path, entries: &[Ent], compact: bool) {
    super::export::write_journal(path, entries, compact).unwrap();
}

pub(crate) fn now_usec() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// A short stand-in for a byte string in assertions.
fn xxh(b: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    b.hash(&mut h);
    h.finish()
}

fn config(dir: &Path) -> JournalConfig {
    JournalConfig {
        dir: dir.to_owned(),
        ..JournalConfig::default()
    }
}

/// Every batch of one pass.
fn pass(r: &mut JournalReader) -> Vec<Batch> {
    let mut out = Vec::new();
    r.pass(&mut |b| {
        out.push(b);
        true
    });
    out
}

/// (unit, level, line, time µs) of every entry, in batch and stream order, sorted by time.
fn lines(batches: &[Batch]) -> Vec<(String, String, Vec<u8>, i64)> {
    let mut v = Vec::new();
    for b in batches {
        for s in &b.streams {
            for e in &s.entries {
                v.push((
                    s.labels.get("unit").unwrap_or("").to_owned(),
                    s.labels.get("level").unwrap_or("").to_owned(),
                    e.line.to_vec(),
                    e.timestamp.as_unix_nanos() / 1000,
                ));
            }
        }
    }
    v.sort_by_key(|x| x.3);
    v
}

#[test]
fn exact_entries_of_a_real_journal_file_filtered_by_unit_with_a_compressed_big_field() {
    let dir = tempfile::tempdir().unwrap();
    let mid = dir.path().join(BOOT);
    std::fs::create_dir(&mid).unwrap();
    let t = now_usec() - 600_000_000;
    // 200 KiB of text: journald compresses DATA objects over 512 bytes (ZSTD here).
    let big: Vec<u8> = (0..200 * 1024)
        .map(|i| b"kubelet big field "[i % 18])
        .collect();
    let mut error = Ent::msg("kubelet.service", t + 2, "E1122 failed to sync pod");
    error.priority = Some(3);
    let mut no_message = Ent::msg("containerd.service", t + 3, "");
    no_message.message = None;
    let mut no_priority = Ent::msg("crio.service", t + 5, "crio says hi");
    no_priority.priority = None;
    let entries = vec![
        Ent::msg("kubelet.service", t, "I1122 kubelet started"),
        Ent::msg("sshd.service", t + 1, "not ours"),
        error,
        no_message,
        Ent {
            message: Some(big.clone()),
            ..Ent::msg("containerd.service", t + 4, "")
        },
        no_priority,
        Ent::msg("kubelet.service", t + 6, "bytes \u{fffd} and \t tabs"),
    ];
    let file = mid.join("system.journal");
    write_journal(&file, &entries, true);
    let raw = std::fs::read(&file).unwrap();
    assert!(
        !raw.windows(1024).any(|w| w == &big[..1024]),
        "the big field is stored compressed"
    );

    let stats = Arc::new(Stats::default());
    let mut r = JournalReader::new(
        config(dir.path()),
        "node-1".into(),
        1 << 20,
        None,
        stats.clone(),
    );
    let batches = pass(&mut r);
    // Lines compared by length and hash: the big one would flood a failure message.
    let digest =
        |v: Vec<(String, String, Vec<u8>, i64)>| -> Vec<(String, String, usize, u64, i64)> {
            v.into_iter()
                .map(|(u, l, m, t)| (u, l, m.len(), xxh(&m), t))
                .collect()
        };
    let got = digest(lines(&batches));
    let want: Vec<(String, String, Vec<u8>, i64)> = vec![
        (
            "kubelet.service",
            "info",
            b"I1122 kubelet started".to_vec(),
            t,
        ),
        (
            "kubelet.service",
            "error",
            b"E1122 failed to sync pod".to_vec(),
            t + 2,
        ),
        ("containerd.service", "info", big.clone(), t + 4),
        ("crio.service", "", b"crio says hi".to_vec(), t + 5),
        (
            "kubelet.service",
            "info",
            "bytes \u{fffd} and \t tabs".as_bytes().to_vec(),
            t + 6,
        ),
    ]
    .into_iter()
    .map(|(u, l, m, t)| (u.to_owned(), l.to_owned(), m, t as i64))
    .collect();
    assert_eq!(got, digest(want));
    assert_eq!(stats.journal_no_message.load(Ordering::Relaxed), 1);
    assert_eq!(stats.journal_errors.load(Ordering::Relaxed), 0);
    let s = &batches[0].streams[0];
    assert_eq!(
        s.labels.to_string(),
        r#"{level="info", node="node-1", source="journal", unit="kubelet.service"}"#
    );
    let md: Vec<(&str, &str)> = s.entries[0]
        .metadata
        .iter()
        .map(|p| (p.name.as_str(), p.value.as_str()))
        .collect();
    assert_eq!(md, [("boot_id", BOOT), ("pid", "40")]);
    // The mark is the last entry's: a second pass finds nothing new.
    let mark = batches.last().unwrap().journal.clone().unwrap();
    assert_eq!(mark.realtime_usec, t + 6);
    assert!(mark.cursor.starts_with("SJ1:"), "{}", mark.cursor);
    assert!(pass(&mut r).is_empty());
}

/// Issue 10: DATA objects compressed with each algorithm journald has (XZ, LZ4, ZSTD),
/// in real files written by systemd 254's `systemd-journal-remote` (bookworm-backports,
/// unpacked by `.ci/deps`) with `SYSTEMD_JOURNAL_COMPRESS`, compact and not, and without
/// compression: every entry is read back exactly. Fields over 512 bytes are compressed:
/// a 200 KiB one, one of 600 bytes just over the threshold, and 513 bytes of random-ish
/// bytes that do not compress well (stored compressed or not, as journald decides).
#[test]
fn entries_with_xz_lz4_and_zstd_compressed_fields_are_read_exactly() {
    let t = now_usec() - 600_000_000;
    let big: Vec<u8> = (0..200 * 1024)
        .map(|i| b"xz lz4 zstd field "[i % 18])
        .collect();
    let medium: Vec<u8> = (0..600).map(|i| b"0123456789abcdef"[i % 16]).collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let noisy: Vec<u8> = (0..513)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b'!' + (x % 90) as u8
        })
        .collect();
    let messages = [
        b"I1122 kubelet started".to_vec(),
        big.clone(),
        medium.clone(),
        noisy,
        b"E1122 last".to_vec(),
    ];
    let entries: Vec<Ent> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| Ent {
            message: Some(m.clone()),
            ..Ent::msg("kubelet.service", t + i as u64, "")
        })
        .collect();
    let want: Vec<(usize, u64, i64)> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (m.len(), xxh(m), (t + i as u64) as i64))
        .collect();
    for compression in [
        Compression::Xz,
        Compression::Lz4,
        Compression::Zstd,
        Compression::None,
    ] {
        for compact in [true, false] {
            let what = format!("{compression:?}, compact {compact}");
            let dir = tempfile::tempdir().unwrap();
            let mid = dir.path().join(BOOT);
            std::fs::create_dir(&mid).unwrap();
            let file = mid.join("system.journal");
            write_journal_compressed(&file, &entries, compact, compression)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let raw = std::fs::read(&file).unwrap();
            // The header says which algorithm the file's DATA objects use …
            let incompatible = u32::from_le_bytes(raw[12..16].try_into().unwrap());
            assert_eq!(
                incompatible & (1 | 2 | 8),
                compression.header_flag(),
                "{what}"
            );
            assert_eq!(incompatible & 16 != 0, compact, "{what}: compact flag");
            // … and the big and medium fields are not stored as they are, but compressed.
            let stored_plain = |m: &[u8]| raw.windows(m.len()).any(|w| w == m);
            let compressed = compression != Compression::None;
            assert_eq!(!stored_plain(&big[..4096]), compressed, "{what}");
            assert_eq!(!stored_plain(&medium), compressed, "{what}");

            let stats = Arc::new(Stats::default());
            let mut r =
                JournalReader::new(config(dir.path()), "n".into(), 1 << 20, None, stats.clone());
            let got: Vec<(usize, u64, i64)> = lines(&pass(&mut r))
                .into_iter()
                .map(|(_, _, m, t)| (m.len(), xxh(&m), t))
                .collect();
            assert_eq!(got, want, "{what}");
            assert_eq!(stats.journal_errors.load(Ordering::Relaxed), 0, "{what}");
        }
    }
}

#[test]
fn batches_are_cut_at_batch_bytes_and_each_carries_its_last_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let t = now_usec() - 600_000_000;
    let entries: Vec<Ent> = (0..50)
        .map(|i| {
            Ent::msg(
                "kubelet.service",
                t + i,
                &format!("line {i:03} {}", "x".repeat(100)),
            )
        })
        .collect();
    // Non-compact layout this time.
    write_journal(&dir.path().join("system.journal"), &entries, false);
    let mut r = JournalReader::new(config(dir.path()), "n".into(), 1024, None, Arc::default());
    let batches = pass(&mut r);
    assert!(batches.len() >= 6, "{} batches", batches.len());
    let mut n = 0;
    for b in &batches {
        let last = b
            .streams
            .iter()
            .flat_map(|s| &s.entries)
            .map(|e| e.timestamp)
            .max()
            .unwrap();
        n += b.streams.iter().map(|s| s.entries.len()).sum::<usize>();
        assert_eq!(
            b.journal.as_ref().unwrap().realtime_usec as i64 * 1000,
            last.as_unix_nanos()
        );
    }
    assert_eq!(n, 50);
    // Resuming from the third batch's mark gives exactly what came after it.
    let mark = batches[2].journal.clone();
    let mut r = JournalReader::new(
        config(dir.path()),
        "n".into(),
        1 << 20,
        mark,
        Arc::default(),
    );
    let after: usize = batches[3..]
        .iter()
        .flat_map(|b| &b.streams)
        .map(|s| s.entries.len())
        .sum();
    assert_eq!(lines(&pass(&mut r)).len(), after);
}

#[test]
fn entries_come_in_time_order_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let t = now_usec() - 600_000_000;
    let a: Vec<Ent> = (0..10)
        .map(|i| Ent::msg("kubelet.service", t + 2 * i, &format!("a{i}")))
        .collect();
    let b: Vec<Ent> = (0..10)
        .map(|i| Ent::msg("containerd.service", t + 2 * i + 1, &format!("b{i}")))
        .collect();
    write_journal(&dir.path().join("a.journal"), &a, true);
    // A `*.journal~` file (left by an unclean stop) is read too; the tool wants `.journal`.
    write_journal(&dir.path().join("b.journal"), &b, true);
    std::fs::rename(dir.path().join("b.journal"), dir.path().join("b.journal~")).unwrap();
    let mut r = JournalReader::new(
        config(dir.path()),
        "n".into(),
        1 << 20,
        None,
        Arc::default(),
    );
    let batches = pass(&mut r);
    let mut order = Vec::new();
    for bt in &batches {
        // Within a batch, streams split the order; the time stamps tell it back.
        for s in &bt.streams {
            for e in &s.entries {
                order.push((e.timestamp, String::from_utf8(e.line.to_vec()).unwrap()));
            }
        }
    }
    order.sort();
    let names: Vec<String> = order.into_iter().map(|x| x.1).collect();
    let want: Vec<String> = (0..10)
        .flat_map(|i| [format!("a{i}"), format!("b{i}")])
        .collect();
    assert_eq!(names, want);
    assert_eq!(
        batches
            .last()
            .unwrap()
            .journal
            .as_ref()
            .unwrap()
            .realtime_usec,
        t + 19
    );
}

#[test]
fn damaged_truncated_and_foreign_files_are_skipped_with_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let t = now_usec() - 600_000_000;
    let good: Vec<Ent> = (0..5)
        .map(|i| Ent::msg("kubelet.service", t + i, &format!("good {i}")))
        .collect();
    write_journal(&dir.path().join("good.journal"), &good, true);
    let raw = std::fs::read(dir.path().join("good.journal")).unwrap();
    std::fs::write(dir.path().join("empty.journal"), b"").unwrap();
    std::fs::write(dir.path().join("text.journal"), b"this is not a journal\n").unwrap();
    std::fs::write(dir.path().join("cut.journal"), &raw[..300]).unwrap();
    let mut flipped = raw.clone();
    for i in (300..raw.len().min(40_000)).step_by(97) {
        flipped[i] ^= 0x5a;
    }
    std::fs::write(dir.path().join("flipped.journal"), &flipped).unwrap();
    let mut r = JournalReader::new(
        config(dir.path()),
        "n".into(),
        1 << 20,
        None,
        Arc::default(),
    );
    let got = lines(&pass(&mut r));
    // The good file's entries are all there; the damaged copy may add some of its own.
    for i in 0..5 {
        let line = format!("good {i}").into_bytes();
        assert!(got.iter().any(|g| g.2 == line), "good {i} missing: {got:?}");
    }
    // A directory of nothing but damage is an error reported, not a panic or a hang.
    let bad = tempfile::tempdir().unwrap();
    std::fs::write(bad.path().join("x.journal"), &raw[..100]).unwrap();
    let mut r = JournalReader::new(
        config(bad.path()),
        "n".into(),
        1 << 20,
        None,
        Arc::default(),
    );
    assert!(pass(&mut r).is_empty());
    assert!(r.failing);
}

#[test]
fn an_unparsable_checkpoint_cursor_resumes_at_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let t = now_usec() - 600_000_000;
    let e: Vec<Ent> = (0..4)
        .map(|i| Ent::msg("kubelet.service", t + i, &format!("l{i}")))
        .collect();
    write_journal(&dir.path().join("system.journal"), &e, true);
    let mark = JournalMark {
        cursor: "garbage".into(),
        realtime_usec: t + 2,
    };
    let mut r = JournalReader::new(
        config(dir.path()),
        "n".into(),
        1 << 20,
        Some(mark),
        Arc::default(),
    );
    let got: Vec<Vec<u8>> = lines(&pass(&mut r)).into_iter().map(|x| x.2).collect();
    assert_eq!(got, [b"l2".to_vec(), b"l3".to_vec()]);
}

/// Runs the whole agent (journal only, file sink) until the sink file holds `n` lines.
fn run_agent(journal_dir: &Path, state: &Path, out: &Path, n: usize) {
    let mut config = crate::AgentConfig::new(
        state.join("no-pods"),
        state.to_owned(),
        "http://127.0.0.1:9".into(),
        "node-a".into(),
    );
    config.read_pods = false;
    config.journal = Some(JournalConfig {
        poll_interval: Duration::from_millis(50),
        ..config_for(journal_dir)
    });
    config.sink = SinkConfig {
        kind: SinkKind::File,
        path: Some(out.to_owned()),
        ..SinkConfig::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let runner = {
        let stop = stop.clone();
        std::thread::spawn(move || crate::run(&config, stop))
    };
    let count = || {
        std::fs::read_to_string(out)
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    let began = std::time::Instant::now();
    while count() < n && began.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // A few more passes, so anything extra would show.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    runner.join().unwrap().unwrap();
}

fn config_for(dir: &Path) -> JournalConfig {
    config(dir)
}

/// The shipped lines, in file order.
fn shipped(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["labels"]["source"], "journal", "{l}");
            assert_eq!(v["labels"]["node"], "node-a", "{l}");
            v["line"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[test]
fn agent_restarts_from_the_acknowledged_cursor_through_rotation_and_vacuum() {
    let dir = tempfile::tempdir().unwrap();
    let (jdir, state, out) = (
        dir.path().join("journal"),
        dir.path().join("state"),
        dir.path().join("out.jsonl"),
    );
    let mid = jdir.join(BOOT);
    std::fs::create_dir_all(&mid).unwrap();
    let t = now_usec() - 600_000_000;
    let gen = |from: u64, to: u64| -> Vec<Ent> {
        (from..to)
            .map(|i| {
                Ent::msg(
                    if i % 2 == 0 {
                        "kubelet.service"
                    } else {
                        "containerd.service"
                    },
                    t + i,
                    &format!("entry {i:03}"),
                )
            })
            .collect()
    };
    let want = |to: u64| -> Vec<String> { (0..to).map(|i| format!("entry {i:03}")).collect() };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };

    // Run 1: the active file.
    write_journal(&mid.join("system.journal"), &gen(0, 6), true);
    run_agent(&jdir, &state, &out, 6);
    assert_eq!(sorted(shipped(&out)), want(6));
    let cp = Checkpoints::load(&state)
        .unwrap()
        .journal
        .expect("a journal checkpoint");
    assert_eq!(cp.realtime_usec, t + 5);

    // Between runs journald rotates: the file is archived under its `system@…` name and a
    // new active file takes more entries.
    std::fs::rename(
        mid.join("system.journal"),
        mid.join(
            "system@0123456789abcdef0123456789abcdef-0000000000000001-0005f0a1b2c3d4e5.journal",
        ),
    )
    .unwrap();
    write_journal(&mid.join("system.journal"), &gen(6, 10), true);
    run_agent(&jdir, &state, &out, 10);
    assert_eq!(
        sorted(shipped(&out)),
        want(10),
        "nothing lost, nothing repeated"
    );

    // Vacuum deletes the archived file (it held the first checkpoint's entry) and the
    // active one is archived again; the cursor still orders the new entries after it.
    for e in std::fs::read_dir(&mid).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("system@")
        {
            std::fs::remove_file(p).unwrap();
        }
    }
    std::fs::rename(
        mid.join("system.journal"),
        mid.join(
            "system@0123456789abcdef0123456789abcdef-0000000000000007-0005f0a1b2c3d4e6.journal",
        ),
    )
    .unwrap();
    write_journal(&mid.join("system.journal"), &gen(10, 13), true);
    run_agent(&jdir, &state, &out, 13);
    assert_eq!(sorted(shipped(&out)), want(13));
    assert_eq!(
        Checkpoints::load(&state)
            .unwrap()
            .journal
            .unwrap()
            .realtime_usec,
        t + 12
    );
}

#[test]
fn entries_appended_to_the_online_file_are_read_as_they_come() {
    // systemd-journal-remote keeps its output file open (online) while it reads stdin:
    // entries written before and after the reader's passes all arrive, once.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("remote.journal");
    let mut child = Command::new(journal_remote().expect("systemd-journal-remote (.ci/deps)"))
        .arg(format!("--output={}", file.display()))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = now_usec() - 600_000_000;
    let mut stdin = child.stdin.take().unwrap();
    let mut r = JournalReader::new(
        config(dir.path()),
        "n".into(),
        1 << 20,
        None,
        Arc::default(),
    );
    let mut got = Vec::new();
    for round in 0..3u64 {
        let batch: Vec<Ent> = (0..5)
            .map(|i| {
                Ent::msg(
                    "kubelet.service",
                    t + round * 10 + i,
                    &format!("r{round} e{i}"),
                )
            })
            .collect();
        std::io::Write::write_all(&mut stdin, &export(&batch)).unwrap();
        std::io::Write::flush(&mut stdin).unwrap();
        // journal-remote writes each entry as it parses it; wait until this round's last
        // entry is readable.
        let began = std::time::Instant::now();
        loop {
            let new = lines(&pass(&mut r));
            got.extend(new.into_iter().map(|x| String::from_utf8(x.2).unwrap()));
            if got.len() == (round as usize + 1) * 5 || began.elapsed() > Duration::from_secs(20) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    drop(stdin);
    child.wait().unwrap();
    got.extend(
        lines(&pass(&mut r))
            .into_iter()
            .map(|x| String::from_utf8(x.2).unwrap()),
    );
    let want: Vec<String> = (0..3)
        .flat_map(|r| (0..5).map(move |i| format!("r{r} e{i}")))
        .collect();
    assert_eq!(got, want);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// A real journal file, made once per test run.
    pub(super) fn sample_file() -> &'static (Vec<u8>, usize) {
        static S: std::sync::OnceLock<(Vec<u8>, usize)> = std::sync::OnceLock::new();
        S.get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let t = now_usec() - 600_000_000;
            let e: Vec<Ent> = (0..20)
                .map(|i| {
                    Ent::msg(
                        "kubelet.service",
                        t + i,
                        &format!("entry {i} {}", "y".repeat(i as usize * 60)),
                    )
                })
                .collect();
            let p = dir.path().join("s.journal");
            write_journal(&p, &e, true);
            let raw = std::fs::read(p).unwrap();
            let used = raw.iter().rposition(|b| *b != 0).unwrap_or(0) + 1;
            (raw, used)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]

        /// Bytes flipped anywhere in the used part of a real file, and the file cut
        /// anywhere: reading ends (with entries, errors, or nothing), never panics.
        #[test]
        fn damaged_files_never_panic(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..24),
            cut in proptest::option::of(any::<prop::sample::Index>()),
        ) {
            let (raw, used) = sample_file();
            let mut data = raw.clone();
            for (at, x) in flips {
                data[at.index(*used)] ^= x;
            }
            if let Some(c) = cut {
                data.truncate(c.index(*used));
            }
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("x.journal"), &data).unwrap();
            let mut cfg = config(dir.path());
            cfg.units.clear();
            cfg.max_age = Duration::from_secs(u32::MAX as u64);
            let mut r = JournalReader::new(cfg, "n".into(), 1 << 20, None, Arc::default());
            let n: usize = pass(&mut r).iter().flat_map(|b| &b.streams).map(|s| s.entries.len()).sum();
            prop_assert!(n <= 20 * 4, "{} entries out of 20 written", n);
        }
    }
}

#[test]
fn the_config_section_is_off_by_default_and_validated() {
    use crate::config::AgentFileConfig;
    let c = AgentFileConfig::from_yaml("", std::iter::empty()).unwrap();
    assert!(c.into_agent_config("n".into()).unwrap().journal.is_none());
    let c = AgentFileConfig::from_yaml(
        "journal:\n  enabled: true\n  dir: /j\n  units: [kubelet.service]\n",
        [(
            "KELP_AGENT_JOURNAL__POLL_INTERVAL_MS".to_owned(),
            "250".to_owned(),
        )],
    )
    .unwrap();
    let a = c.into_agent_config("n".into()).unwrap();
    let j = a.journal.clone().unwrap();
    assert_eq!(j.dir, Path::new("/j"));
    assert_eq!(j.units, ["kubelet.service"]);
    assert_eq!(j.poll_interval, Duration::from_millis(250));
    assert_eq!(j.max_age, Duration::from_secs(7 * 3600));
    a.validate().unwrap();
    assert!(AgentFileConfig::from_yaml("journal:\n  unit: [x]\n", std::iter::empty()).is_err());
    let c = AgentFileConfig::from_yaml(
        "journal:\n  enabled: true\n  poll_interval_ms: 0\n",
        std::iter::empty(),
    )
    .unwrap();
    let e = c
        .into_agent_config("n".into())
        .and_then(|a| a.validate())
        .unwrap_err();
    assert!(e.to_string().contains("journal.poll_interval_ms"), "{e}");
}

#[test]
fn the_fuzz_entry_point_reads_a_real_file_and_survives_garbage() {
    let (raw, used) = props::sample_file();
    crate::fuzzing::journal_file(raw);
    crate::fuzzing::journal_file(&raw[..*used / 2]);
    crate::fuzzing::journal_file(b"LPKSHHRH\0\0\0\0garbage");
    crate::fuzzing::journal_file(b"");
}
