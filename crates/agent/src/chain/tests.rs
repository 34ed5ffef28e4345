//! Tests of [`super::Chain`] on real files.

use super::*;
use std::fs::File;
use std::io::Write;

fn lines(chain: &mut Chain) -> Vec<String> {
    let mut got = Vec::new();
    let now = Instant::now();
    chain.poll(now, &mut |o| {
        got.push(String::from_utf8_lossy(o.line.content).into_owned())
    });
    got
}

#[test]
fn resumes_in_a_file_compressed_after_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("0.log");
    let rec = |s: &str| format!("2024-06-01T12:00:00.{s}Z stdout F line {s}\n");
    std::fs::write(&live, rec("1") + &rec("2")).unwrap();
    let timing = ChainTiming {
        rotate_wait: Duration::ZERO,
    };
    let mut chain = Chain::open(live.clone(), &[], None, timing, Instant::now());
    assert_eq!(lines(&mut chain), ["line 1", "line 2"]);
    let mark = chain.mark().unwrap();
    // Appended, rotated, compressed while the agent was down; a new live file.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap()
        .write_all(rec("3").as_bytes())
        .unwrap();
    let all = std::fs::read(&live).unwrap();
    let gz = dir.path().join("0.log.20240601-120000.gz");
    let mut enc =
        flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::fast());
    enc.write_all(&all).unwrap();
    enc.finish().unwrap();
    std::fs::remove_file(&live).unwrap();
    std::fs::write(&live, rec("4")).unwrap();
    let mut chain = Chain::open(live, &[gz], Some(&mark), timing, Instant::now());
    assert_eq!(lines(&mut chain), ["line 3", "line 4"]);
}

fn docker(log: &str, stream: &str, sec: u32) -> String {
    let log = serde_json::to_string(log).unwrap();
    format!(r#"{{"log":{log},"stream":"{stream}","time":"2024-06-01T12:00:{sec:02}.5Z"}}"#) + "\n"
}

#[test]
fn decodes_docker_json_files_and_rejoins_their_pieces_per_stream() {
    let dir = tempfile::tempdir().unwrap();
    let ctr = dir.path().join("var/log/pods/ns_web-1_uid-1/app");
    std::fs::create_dir_all(&ctr).unwrap();
    let live = ctr.join("0.log");
    // docker cuts at 16 KiB: pieces without a final `\n`, interleaved with stderr.
    let long = "x".repeat(16 * 1024);
    let text = docker("hello \"world\"\n", "stdout", 1)
        + &docker(&long, "stdout", 2)
        + &docker("err one\n", "stderr", 3)
        + &docker(&long, "stdout", 4)
        + &docker("tail\n", "stdout", 5)
        + "{\"log\":\"not json\n"
        + &docker("caf\u{e9}\ttab\n", "stderr", 6)
        + &docker("waiting ", "stdout", 7);
    std::fs::write(&live, &text).unwrap();
    let timing = ChainTiming {
        rotate_wait: Duration::ZERO,
    };
    let mut chain = Chain::open(live.clone(), &[], None, timing, Instant::now());
    let mut got = Vec::new();
    chain.poll(Instant::now(), &mut |o| {
        got.push((
            o.line.stream.as_str(),
            o.line.timestamp.to_rfc3339_nano(),
            String::from_utf8_lossy(o.line.content).into_owned(),
        ))
    });
    let want = [
        (
            "stdout",
            "2024-06-01T12:00:01.5Z",
            "hello \"world\"".to_owned(),
        ),
        ("stderr", "2024-06-01T12:00:03.5Z", "err one".to_owned()),
        (
            "stdout",
            "2024-06-01T12:00:02.5Z",
            format!("{long}{long}tail"),
        ),
        (
            "stderr",
            "2024-06-01T12:00:06.5Z",
            "caf\u{e9}\ttab".to_owned(),
        ),
    ];
    assert_eq!(got, want.map(|(s, t, l)| (s, t.to_owned(), l)));
    assert_eq!(chain.bad_records, 1);
    // The last piece waits for its end: the mark stays at its record.
    let waiting_at = text.rfind("{\"log\":\"waiting").unwrap() as u64;
    assert_eq!(chain.mark().unwrap().offset, waiting_at);
    assert_eq!(chain.waiting(), [true, false]);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap()
        .write_all(docker("done\n", "stdout", 8).as_bytes())
        .unwrap();
    assert_eq!(lines(&mut chain), ["waiting done"]);
    assert_eq!(
        chain.mark().unwrap().offset,
        std::fs::metadata(&live).unwrap().len()
    );
    // Resumed from the waiting piece's mark, the line comes out whole again.
    let mark = crate::checkpoint::Mark {
        offset: waiting_at,
        ..chain.mark().unwrap()
    };
    let mut again = Chain::open(live, &[], Some(&mark), timing, Instant::now());
    assert_eq!(lines(&mut again), ["waiting done"]);
}

#[test]
fn a_line_waiting_at_the_end_of_a_file_comes_out_at_finish_with_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("0.log");
    std::fs::write(
        &live,
        "2024-06-01T12:00:00Z stdout F a\n2024-06-01T12:00:01Z stderr P b\n",
    )
    .unwrap();
    let timing = ChainTiming {
        rotate_wait: Duration::ZERO,
    };
    let mut chain = Chain::open(live, &[], None, timing, Instant::now());
    let mut starts = Vec::new();
    chain.poll(Instant::now(), &mut |o| {
        starts.push(o.start.to_mark().offset)
    });
    chain.finish(&mut |o| starts.push(o.start.to_mark().offset));
    assert_eq!(starts, [0, 32]);
    assert_eq!(chain.waiting(), [false, false]);
}

fn gzip(from: &Path, to: &Path) {
    let mut enc =
        flate2::write::GzEncoder::new(File::create(to).unwrap(), flate2::Compression::fast());
    enc.write_all(&std::fs::read(from).unwrap()).unwrap();
    enc.finish().unwrap();
    std::fs::remove_file(from).unwrap();
}

fn all_lines(chain: &mut Chain) -> Vec<String> {
    let mut got = Vec::new();
    for _ in 0..10 {
        got.extend(lines(chain));
    }
    got
}

#[test]
fn a_generation_never_opened_is_queued_by_the_rescan_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("0.log");
    let rec = |s: &str| format!("2024-06-01T12:00:00.{s}Z stdout F line {s}\n");
    let (r1, r2, r3) = (
        dir.path().join("0.log.20240601-120001"),
        dir.path().join("0.log.20240601-120002"),
        dir.path().join("0.log.20240601-120003"),
    );
    std::fs::write(&live, rec("1")).unwrap();
    let timing = ChainTiming {
        rotate_wait: Duration::ZERO,
    };
    let mut chain = Chain::open(live.clone(), &[], None, timing, Instant::now());
    assert_eq!(lines(&mut chain), ["line 1"]);
    // Three rotations before the chain looks again: generation 2 is rotated and
    // compressed, generation 3 rotated, all unseen; generation 4 is live.
    std::fs::rename(&live, &r1).unwrap();
    std::fs::write(&live, rec("2")).unwrap();
    std::fs::rename(&live, &r2).unwrap();
    std::fs::write(&live, rec("3")).unwrap();
    std::fs::rename(&live, &r3).unwrap();
    std::fs::write(&live, rec("4")).unwrap();
    gzip(&r2, &dir.path().join("0.log.20240601-120002.gz"));
    chain.refresh(Instant::now());
    let rotated = [
        r1.clone(),
        dir.path().join("0.log.20240601-120002.gz"),
        r3.clone(),
    ];
    assert_eq!(chain.adopt_rotated(&rotated, Instant::now()), 2);
    assert_eq!(chain.adopt_rotated(&rotated, Instant::now()), 0, "once");
    assert_eq!(all_lines(&mut chain), ["line 2", "line 3", "line 4"]);
    // Let go of (drained), then seen again by a rescan: not queued twice.
    assert_eq!(chain.sources.len(), 1);
    chain.classified.clear();
    assert_eq!(chain.adopt_rotated(&rotated, Instant::now()), 0);
    // Compressed after it was let go of: still known by its head.
    gzip(&r3, &dir.path().join("0.log.20240601-120003.gz"));
    let rotated = [
        r1,
        dir.path().join("0.log.20240601-120002.gz"),
        dir.path().join("0.log.20240601-120003.gz"),
    ];
    assert_eq!(chain.adopt_rotated(&rotated, Instant::now()), 0);
}

#[test]
fn files_before_the_checkpoint_are_not_queued_again() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("0.log");
    let rec = |s: &str| format!("2024-06-01T12:00:00.{s}Z stdout F line {s}\n");
    let r1 = dir.path().join("0.log.20240601-120001");
    std::fs::write(&r1, rec("1")).unwrap();
    std::fs::write(&live, rec("2")).unwrap();
    let timing = ChainTiming {
        rotate_wait: Duration::ZERO,
    };
    let mut first = Chain::open(live.clone(), &[], None, timing, Instant::now());
    assert_eq!(lines(&mut first), ["line 2"]);
    let mark = first.mark().unwrap();
    let mut chain = Chain::open(
        live,
        std::slice::from_ref(&r1),
        Some(&mark),
        timing,
        Instant::now(),
    );
    assert_eq!(chain.adopt_rotated(&[r1], Instant::now()), 0);
    assert!(all_lines(&mut chain).is_empty());
}

#[test]
fn shedding_counts_what_is_lost_and_moves_the_mark_on() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("0.log");
    let rec = |s: &str| format!("2024-06-01T12:00:00.{s}Z stdout F line {s}\n");
    let r1 = dir.path().join("0.log.20240601-120001");
    std::fs::write(&r1, rec("1") + &rec("2") + &rec("3")).unwrap();
    std::fs::write(&live, rec("4")).unwrap();
    let timing = ChainTiming {
        rotate_wait: Duration::ZERO,
    };
    let mut chain = Chain::open(
        live.clone(),
        std::slice::from_ref(&r1),
        None,
        timing,
        Instant::now(),
    );
    std::fs::remove_file(&r1).unwrap();
    let held = chain.held();
    assert_eq!(held.len(), 1, "the rotated file, not the live one");
    let shed = chain.shed_front().unwrap();
    assert_eq!((shed.lines, shed.bytes), (3, 3 * rec("1").len() as u64));
    assert!(chain.held().is_empty());
    assert_eq!(lines(&mut chain), ["line 4"]);
    // The live file deleted (its pod is gone) counts as held too.
    std::fs::remove_file(&live).unwrap();
    assert_eq!(chain.held().len(), 1);
}

#[test]
fn a_file_truncated_in_place_is_read_again_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.log");
    std::fs::write(&live, "one\ntwo\n").unwrap();
    let timing = ChainTiming {
        rotate_wait: Duration::ZERO,
    };
    let mut chain = Chain::open_as(
        Format::Plain,
        live.clone(),
        &[],
        None,
        timing,
        Instant::now(),
    );
    assert_eq!(lines(&mut chain), ["one", "two"]);
    // copytruncate: copied away, truncated, then written again (shorter).
    let f = std::fs::OpenOptions::new().write(true).open(&live).unwrap();
    f.set_len(0).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap()
        .write_all(b"3\n")
        .unwrap();
    assert_eq!(all_lines(&mut chain), ["3"]);
    // Refilled past the old position before the look: seen by the changed head.
    let long = |c: char| format!("{}\n", c.to_string().repeat(100));
    std::fs::write(&live, long('a')).unwrap();
    assert_eq!(all_lines(&mut chain).len(), 1);
    let f = std::fs::OpenOptions::new().write(true).open(&live).unwrap();
    f.set_len(0).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap()
        .write_all((long('b') + &long('c')).as_bytes())
        .unwrap();
    assert_eq!(all_lines(&mut chain), ["b".repeat(100), "c".repeat(100)]);
}

#[test]
fn a_quiet_file_rotated_away_still_gets_its_late_lines() {
    let dir = tempfile::tempdir().unwrap();
    let live = dir.path().join("app.log");
    std::fs::write(&live, "1\n").unwrap();
    let timing = ChainTiming {
        rotate_wait: Duration::from_secs(1),
    };
    let t0 = Instant::now();
    let s = Duration::from_secs;
    let mut chain = Chain::open_as(Format::Plain, live.clone(), &[], None, timing, t0);
    let mut got = Vec::new();
    let mut poll = |chain: &mut Chain, at: Instant| {
        chain.poll(at, &mut |o| {
            got.push(String::from_utf8_lossy(o.line.content).into_owned())
        });
    };
    poll(&mut chain, t0);
    // Quiet for a minute, then logrotate `create`: the writer still holds the old
    // file and writes once more after the new file appeared.
    let mut writer = std::fs::OpenOptions::new()
        .append(true)
        .open(&live)
        .unwrap();
    std::fs::rename(&live, dir.path().join("app.log.1")).unwrap();
    std::fs::write(&live, "2\n").unwrap();
    poll(&mut chain, t0 + s(60));
    writer.write_all(b"late\n").unwrap();
    poll(&mut chain, t0 + s(60) + Duration::from_millis(500));
    poll(&mut chain, t0 + s(62));
    poll(&mut chain, t0 + s(62));
    assert_eq!(got, ["1", "late", "2"]);
}

#[test]
fn orders_rotations_and_prefers_plain_twins() {
    let p = |s: &str| PathBuf::from(s);
    let got = ordered(&[p("0.log.2.gz"), p("0.log.3"), p("0.log.1.gz"), p("0.log.2")]);
    assert_eq!(got, [p("0.log.1.gz"), p("0.log.2"), p("0.log.3")]);
}
