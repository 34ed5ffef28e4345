//! Scenarios on real files, one behaviour each, with a test clock.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use kelp_tail::{FollowConfig, Follower, LineEnd, StartAt, TailError};

use crate::{drain_at, lines, Clock};

fn append(path: &Path, bytes: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(bytes.as_bytes()).unwrap();
}

fn follower(path: &Path, config: FollowConfig) -> Follower {
    Follower::new(path, &config).unwrap()
}

#[test]
fn waits_for_a_path_that_appears_and_reads_it_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let mut clock = Clock::start();
    let config = FollowConfig {
        start: StartAt::End,
        ..FollowConfig::default()
    };
    let mut f = follower(&path, config);
    assert_eq!(drain_at(&mut f, clock.0), lines(&[]));
    assert_eq!(f.position(), None);
    append(&path, "a\nb\n");
    // Even with `StartAt::End`: a file that appears later is new, so it is read whole.
    assert_eq!(drain_at(&mut f, clock.advance_ms(100)), lines(&["a", "b"]));
}

#[test]
fn from_end_skips_what_the_first_file_holds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    append(&path, "old\n");
    let clock = Clock::start();
    let config = FollowConfig {
        start: StartAt::End,
        ..FollowConfig::default()
    };
    let mut f = follower(&path, config);
    assert_eq!(drain_at(&mut f, clock.0), lines(&[]));
    append(&path, "new\n");
    assert_eq!(drain_at(&mut f, clock.0), lines(&["new"]));
}

#[test]
fn rename_rotation_drains_the_old_file_then_switches() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let rotated = dir.path().join("app.log.1");
    let mut clock = Clock::start();
    let mut f = follower(&path, FollowConfig::default()); // rotate wait 1 s
    let mut writer = File::create(&path).unwrap();
    writer.write_all(b"1\n2\n").unwrap();
    assert_eq!(drain_at(&mut f, clock.0), lines(&["1", "2"]));

    // logrotate's `create` mode: rename, create the new file, and the writer keeps writing
    // through its old descriptor until it is told to reopen.
    writer.write_all(b"3\n").unwrap();
    fs::rename(&path, &rotated).unwrap();
    writer.write_all(b"4\n").unwrap();
    File::create(&path).unwrap();
    writer.write_all(b"5\n").unwrap();
    assert_eq!(
        drain_at(&mut f, clock.advance_ms(10)),
        lines(&["3", "4", "5"])
    );
    writer.write_all(b"6\n").unwrap();
    assert_eq!(drain_at(&mut f, clock.advance_ms(900)), lines(&["6"]));
    // The writer reopens; its new lines wait until the old file has been quiet for 1 s.
    let mut writer = OpenOptions::new().append(true).open(&path).unwrap();
    writer.write_all(b"7\n").unwrap();
    assert_eq!(drain_at(&mut f, clock.advance_ms(900)), lines(&[]));
    assert_eq!(drain_at(&mut f, clock.advance_ms(100)), lines(&["7"]));
    let id = f.position().unwrap().file;
    writer.write_all(b"8\n").unwrap();
    assert_eq!(drain_at(&mut f, clock.advance_ms(10)), lines(&["8"]));
    assert_eq!(f.position().unwrap().file, id);
}

#[test]
fn a_file_renamed_back_is_followed_on() {
    // The kubelet's rename back when ReopenContainerLog fails (spec §3.2, §3.4 item 4).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.log");
    let rotated = dir.path().join("0.log.20240601-121530");
    let mut clock = Clock::start();
    let mut f = follower(&path, FollowConfig::default());
    append(&path, "a\n");
    assert_eq!(drain_at(&mut f, clock.0), lines(&["a"]));
    fs::rename(&path, &rotated).unwrap();
    assert_eq!(drain_at(&mut f, clock.advance_ms(500)), lines(&[]));
    fs::rename(&rotated, &path).unwrap();
    append(&path, "b\n");
    assert_eq!(drain_at(&mut f, clock.advance_ms(5000)), lines(&["b"]));
}

#[test]
fn copytruncate_restarts_from_the_beginning() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let clock = Clock::start();
    let mut f = follower(&path, FollowConfig::default());
    let mut writer = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    writer.write_all(b"one\ntwo\n").unwrap();
    assert_eq!(drain_at(&mut f, clock.0), lines(&["one", "two"]));
    fs::copy(&path, dir.path().join("app.log.1")).unwrap();
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    writer.write_all(b"3\n").unwrap();
    assert_eq!(drain_at(&mut f, clock.0), lines(&["3"]));
    assert_eq!(f.position().unwrap().offset, 2);
}

#[test]
fn a_deleted_file_is_drained_then_the_path_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let mut clock = Clock::start();
    let mut f = follower(&path, FollowConfig::default());
    let mut writer = File::create(&path).unwrap();
    writer.write_all(b"a\n").unwrap();
    assert_eq!(drain_at(&mut f, clock.0), lines(&["a"]));
    writer.write_all(b"b\n").unwrap();
    fs::remove_file(&path).unwrap();
    writer.write_all(b"c\n").unwrap();
    assert_eq!(drain_at(&mut f, clock.advance_ms(10)), lines(&["b", "c"]));
    assert_eq!(drain_at(&mut f, clock.advance_ms(2000)), lines(&[]));
    assert_eq!(f.position(), None, "the deleted file is let go");
    append(&path, "d\n");
    assert_eq!(drain_at(&mut f, clock.advance_ms(10)), lines(&["d"]));
}

#[test]
fn a_partial_line_completed_later_comes_out_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let mut clock = Clock::start();
    let mut f = follower(&path, FollowConfig::default());
    append(&path, "hel");
    assert_eq!(drain_at(&mut f, clock.0), lines(&[]));
    let p = f.position().unwrap();
    assert_eq!((p.offset, p.consumed), (3, 0));
    append(&path, "lo\r\nwor");
    // CRLF keeps its `\r`.
    assert_eq!(
        drain_at(&mut f, clock.advance_ms(60_000)),
        lines(&["hello\r"])
    );
    let p = f.position().unwrap();
    assert_eq!((p.offset, p.consumed), (10, 7));
    let partial = f.flush_partial().unwrap();
    assert_eq!(
        (partial.bytes, partial.end),
        (&b"wor"[..], LineEnd::Unterminated)
    );
    assert!(f.flush_partial().is_none());
    append(&path, "ld\n");
    assert_eq!(drain_at(&mut f, clock.0), lines(&["ld"]));
}

#[test]
fn a_partial_line_is_flushed_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let mut clock = Clock::start();
    let config = FollowConfig {
        partial_flush_ms: Some(5000),
        ..FollowConfig::default()
    };
    let mut f = follower(&path, config);
    append(&path, "prompt> ");
    assert_eq!(drain_at(&mut f, clock.0), lines(&[]));
    assert_eq!(drain_at(&mut f, clock.advance_ms(4999)), lines(&[]));
    assert_eq!(
        drain_at(&mut f, clock.advance_ms(1)),
        vec![("prompt> ".to_string(), LineEnd::Unterminated)]
    );
    append(&path, "yes\n");
    assert_eq!(drain_at(&mut f, clock.advance_ms(1)), lines(&["yes"]));
}

#[test]
fn a_line_split_by_rotation_is_joined() {
    // containerd ends the old file with the start of a line and writes the rest to the new
    // one (spec §3.3).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let mut clock = Clock::start();
    let config = FollowConfig {
        rotate_wait_ms: 0,
        ..FollowConfig::default()
    };
    let mut f = follower(&path, config);
    append(&path, "x\nstart of ");
    assert_eq!(drain_at(&mut f, clock.0), lines(&["x"]));
    fs::rename(&path, dir.path().join("app.log.1")).unwrap();
    append(&path, "the line\n");
    assert_eq!(
        drain_at(&mut f, clock.advance_ms(10)),
        lines(&["start of the line"])
    );
}

#[test]
fn long_lines_are_split_at_the_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let config = FollowConfig {
        max_line_bytes: 4,
        ..FollowConfig::default()
    };
    let mut f = follower(&path, config);
    append(&path, "abcdefghij\nabcd\n");
    let got = drain_at(&mut f, Clock::start().0);
    let want = [
        ("abcd", LineEnd::Split),
        ("efgh", LineEnd::Split),
        ("ij", LineEnd::Newline),
        ("abcd", LineEnd::Newline),
    ];
    let want: Vec<_> = want.iter().map(|(s, e)| (s.to_string(), *e)).collect();
    assert_eq!(got, want);
}

#[test]
fn a_big_file_comes_out_line_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let mut text = String::new();
    let mut want = Vec::new();
    for i in 0..20_000 {
        let line = format!("line {i} {}", "x".repeat(i % 50));
        text.push_str(&line);
        text.push('\n');
        want.push((line, LineEnd::Newline));
    }
    append(&path, &text);
    let mut f = follower(&path, FollowConfig::default());
    assert_eq!(drain_at(&mut f, Clock::start().0), want);
}

#[test]
fn follows_through_a_symlink() {
    // `/var/log/containers/*.log` are symlinks to the pod log files.
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("0.log");
    let link = dir.path().join("link.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let mut clock = Clock::start();
    let config = FollowConfig {
        rotate_wait_ms: 0,
        ..FollowConfig::default()
    };
    let mut f = follower(&link, config);
    append(&target, "a\n");
    assert_eq!(drain_at(&mut f, clock.0), lines(&["a"]));
    fs::rename(&target, dir.path().join("0.log.1")).unwrap();
    append(&target, "b\n");
    assert_eq!(drain_at(&mut f, clock.advance_ms(10)), lines(&["b"]));
}

#[test]
fn a_directory_is_an_error_that_clears_when_a_file_takes_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    fs::create_dir(&path).unwrap();
    let mut f = follower(&path, FollowConfig::default());
    let err = f.next_line().unwrap_err();
    assert!(
        matches!(
            err,
            TailError::NotAFile {
                kind: "directory",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("{} is a directory, not a regular file", path.display())
    );
    fs::remove_dir(&path).unwrap();
    append(&path, "ok\n");
    assert_eq!(drain_at(&mut f, Clock::start().0), lines(&["ok"]));
}

#[test]
fn an_unopenable_file_is_an_error() {
    // A symlink loop cannot be opened even by root (ELOOP), unlike a mode-000 file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loop.log");
    std::os::unix::fs::symlink(dir.path().join("other.log"), &path).unwrap();
    std::os::unix::fs::symlink(&path, dir.path().join("other.log")).unwrap();
    let err = Follower::new(&path, &FollowConfig::default())
        .unwrap()
        .next_line()
        .unwrap_err();
    assert!(
        matches!(err, TailError::Open { .. } | TailError::Stat { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("loop.log"), "{err}");
}

#[test]
fn a_bad_config_is_refused() {
    let config = FollowConfig {
        max_line_bytes: 0,
        ..FollowConfig::default()
    };
    let err = Follower::new("x", &config).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid follow config: max_line_bytes must be at least 1"
    );
}
