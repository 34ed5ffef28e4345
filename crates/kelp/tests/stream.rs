//! End-to-end tests of `kelp stream`: the real binary following real files through real
//! rotations, stopped by a real SIGTERM. Waits are deadline loops, never fixed long sleeps.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The longest any wait may take; a passing test takes far less.
const DEADLINE: Duration = Duration::from_secs(15);

/// A running `kelp stream` with its stdout and stderr collected by threads.
struct Sidecar {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

fn collect(mut from: impl Read + Send + 'static) -> (Arc<Mutex<Vec<u8>>>, JoinHandle<()>) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let to = Arc::clone(&buf);
    let handle = thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = from.read(&mut chunk) {
            if n == 0 {
                break;
            }
            to.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    (buf, handle)
}

impl Sidecar {
    /// Starts `kelp stream --poll-ms 20 ARGS...`.
    fn start<I: AsRef<OsStr>>(args: impl IntoIterator<Item = I>) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kelp"))
            .args(["stream", "--poll-ms", "20"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (stdout, out) = collect(child.stdout.take().unwrap());
        let (stderr, err) = collect(child.stderr.take().unwrap());
        Self {
            child,
            stdout,
            stderr,
            readers: vec![out, err],
        }
    }

    /// Waits until `which` holds at least `n` complete lines, and returns all of them.
    fn wait_lines(&self, which: &Mutex<Vec<u8>>, n: usize) -> Vec<String> {
        let start = Instant::now();
        loop {
            let text = String::from_utf8_lossy(&which.lock().unwrap()).into_owned();
            if text.matches('\n').count() >= n || start.elapsed() > DEADLINE {
                return text.lines().map(str::to_owned).collect();
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn wait_stdout(&self, n: usize) -> Vec<String> {
        self.wait_lines(&self.stdout, n)
    }

    /// Sends SIGTERM, waits for the exit, and returns the status, stdout and stderr.
    fn stop(self) -> (ExitStatus, String, String) {
        let pid = self.child.id().to_string();
        let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(killed.success());
        self.wait()
    }

    /// Waits for the exit (killing it past the deadline) and returns what it wrote.
    fn wait(mut self) -> (ExitStatus, String, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > DEADLINE {
                let _ = self.child.kill();
                panic!("kelp stream did not exit");
            }
            thread::sleep(Duration::from_millis(10));
        };
        for r in self.readers.drain(..) {
            r.join().unwrap();
        }
        let text = |b: &Mutex<Vec<u8>>| String::from_utf8_lossy(&b.lock().unwrap()).into_owned();
        (status, text(&self.stdout), text(&self.stderr))
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        // A failed assertion must not leave the process running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn appender(path: &Path) -> File {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
}

fn numbered(from: usize, to: usize) -> Vec<String> {
    (from..=to).map(|i| format!("line {i}")).collect()
}

fn write_lines(f: &mut File, lines: &[String]) {
    for line in lines {
        f.write_all(format!("{line}\n").as_bytes()).unwrap();
    }
}

fn joined(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

#[test]
fn follows_two_files_at_once_with_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("access.log"), dir.path().join("app.log"));
    let (mut fa, mut fb) = (appender(&a), appender(&b));
    let side = Sidecar::start([OsStr::new("--prefix"), a.as_os_str(), b.as_os_str()]);
    // Long lines, written in pieces, so that whole-line output is really tested.
    let body = "x".repeat(3000);
    for i in 0..100 {
        let line = format!("a{i} {body}\n");
        let (head, tail) = line.split_at(1500);
        fa.write_all(head.as_bytes()).unwrap();
        fb.write_all(format!("b{i}\n").as_bytes()).unwrap();
        fa.write_all(tail.as_bytes()).unwrap();
    }
    side.wait_stdout(200);
    let (status, out, _) = side.stop();
    assert!(status.success(), "{status}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 200);
    let from = |p: &Path| format!("{}: ", p.display());
    let of = |p: &Path| -> Vec<String> {
        let prefix = from(p);
        lines
            .iter()
            .filter_map(|l| l.strip_prefix(&prefix))
            .map(str::to_owned)
            .collect()
    };
    let want_a: Vec<String> = (0..100).map(|i| format!("a{i} {body}")).collect();
    let want_b: Vec<String> = (0..100).map(|i| format!("b{i}")).collect();
    assert_eq!(of(&a), want_a);
    assert_eq!(of(&b), want_b);
}

#[test]
fn rename_rotation_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let mut old = appender(&path);
    write_lines(&mut old, &numbered(1, 50));
    let side = Sidecar::start([&path]);
    assert_eq!(side.wait_stdout(50), numbered(1, 50));

    // logrotate's `create` mode (and containerd at ReopenContainerLog): the file is renamed,
    // a new one created, and the writer keeps writing through its old descriptor until it
    // reopens the path.
    write_lines(&mut old, &numbered(51, 60));
    fs::rename(&path, dir.path().join("app.log.1")).unwrap();
    write_lines(&mut old, &numbered(61, 70));
    let mut new = appender(&path);
    write_lines(&mut old, &numbered(71, 80));
    drop(old);
    write_lines(&mut new, &numbered(81, 100));
    side.wait_stdout(100);
    // And a second rotation, with the writer reopening at once.
    fs::rename(&path, dir.path().join("app.log.2")).unwrap();
    let mut newer = appender(&path);
    write_lines(&mut newer, &numbered(101, 120));
    side.wait_stdout(120);
    let (status, out, err) = side.stop();
    assert!(status.success(), "{status}: {err}");
    assert_eq!(out, joined(&numbered(1, 120)));
    assert_eq!(err, "");
}

#[test]
fn copytruncate_loses_and_repeats_nothing_with_a_quiet_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let mut w = appender(&path);
    write_lines(&mut w, &numbered(1, 20));
    let side = Sidecar::start([&path]);
    assert_eq!(side.wait_stdout(20), numbered(1, 20));
    // logrotate's copytruncate, while the writer is quiet.
    fs::copy(&path, dir.path().join("app.log.1")).unwrap();
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    // A first line shorter than what was read, so the truncation is seen before the file
    // grows back past the old offset (which would hide it from any path follower).
    write_lines(&mut w, &["21".to_string()]);
    side.wait_stdout(21);
    write_lines(&mut w, &numbered(22, 40));
    side.wait_stdout(40);
    let (status, out, _) = side.stop();
    assert!(status.success());
    let mut want = numbered(1, 20);
    want.push("21".into());
    want.extend(numbered(22, 40));
    assert_eq!(out, joined(&want));
}

#[test]
fn a_partial_line_completed_later_comes_out_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let mut w = appender(&path);
    w.write_all(b"first\nhello, ").unwrap();
    let side = Sidecar::start([&path]);
    assert_eq!(side.wait_stdout(1), ["first"]);
    // Many polls go by; the half line must wait (the partial flush is 5 s by default).
    thread::sleep(Duration::from_millis(300));
    assert_eq!(
        String::from_utf8_lossy(&side.stdout.lock().unwrap()),
        "first\n"
    );
    w.write_all(b"world\n").unwrap();
    side.wait_stdout(2);
    let (status, out, _) = side.stop();
    assert!(status.success());
    assert_eq!(out, "first\nhello, world\n");
}

#[test]
fn a_partial_line_is_flushed_when_idle_and_at_exit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let mut w = appender(&path);
    w.write_all(b"prompt> ").unwrap();
    let side = Sidecar::start([
        OsStr::new("--partial-flush-ms"),
        OsStr::new("200"),
        path.as_os_str(),
    ]);
    assert_eq!(side.wait_stdout(1), ["prompt> "]);
    w.write_all(b"y\nlast words").unwrap();
    side.wait_stdout(2);
    // SIGTERM writes what is left, even without its newline, and exits 0.
    let (status, out, _) = side.stop();
    assert!(status.success());
    assert_eq!(out, "prompt> \ny\nlast words\n");
}

#[test]
fn stream_stderr_writes_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    write_lines(&mut appender(&path), &numbered(1, 3));
    let side = Sidecar::start([
        OsStr::new("--stream"),
        OsStr::new("stderr"),
        path.as_os_str(),
    ]);
    side.wait_lines(&side.stderr, 3);
    let (status, out, err) = side.stop();
    assert!(status.success());
    assert_eq!(out, "");
    assert_eq!(err, joined(&numbered(1, 3)));
}

#[test]
fn a_file_created_after_start_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("later.log");
    let side = Sidecar::start([&path]);
    thread::sleep(Duration::from_millis(100));
    write_lines(&mut appender(&path), &numbered(1, 5));
    side.wait_stdout(5);
    let (status, out, _) = side.stop();
    assert!(status.success());
    assert_eq!(out, joined(&numbered(1, 5)));
}

#[test]
fn a_deleted_and_recreated_file_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    write_lines(&mut appender(&path), &numbered(1, 5));
    let side = Sidecar::start([
        OsStr::new("--rotate-wait-ms"),
        OsStr::new("100"),
        path.as_os_str(),
    ]);
    side.wait_stdout(5);
    fs::remove_file(&path).unwrap();
    write_lines(&mut appender(&path), &numbered(6, 10));
    side.wait_stdout(10);
    let (status, out, _) = side.stop();
    assert!(status.success());
    assert_eq!(out, joined(&numbered(1, 10)));
}

#[test]
fn from_end_skips_what_is_already_there() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    let ready = dir.path().join("ready.log");
    write_lines(&mut appender(&path), &numbered(1, 5));
    let side = Sidecar::start([
        OsStr::new("--from"),
        OsStr::new("end"),
        path.as_os_str(),
        ready.as_os_str(),
    ]);
    // Files are looked at in order, so once a line appended to `ready.log` has come out,
    // `app.log` has had its first look. (`ready.log` may itself have its first look after
    // some of these lines were written, and skip them, hence the repetition.)
    let start = Instant::now();
    let mut ready_file = appender(&ready);
    while side.stdout.lock().unwrap().is_empty() && start.elapsed() < DEADLINE {
        ready_file.write_all(b"ready\n").unwrap();
        thread::sleep(Duration::from_millis(50));
    }
    write_lines(&mut appender(&path), &numbered(6, 7));
    let start = Instant::now();
    while !String::from_utf8_lossy(&side.stdout.lock().unwrap()).contains("line 7\n")
        && start.elapsed() < DEADLINE
    {
        thread::sleep(Duration::from_millis(10));
    }
    let (status, out, _) = side.stop();
    assert!(status.success());
    let lines: Vec<&str> = out.lines().filter(|l| *l != "ready").collect();
    assert_eq!(lines, ["line 6", "line 7"], "{out}");
    assert!(out.starts_with("ready\n"), "{out}");
}

#[test]
fn exit_on_eof_writes_what_is_there_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    appender(&path).write_all(b"a\nb\nno newline").unwrap();
    let side = Sidecar::start([OsStr::new("--exit-on-eof"), path.as_os_str()]);
    let (status, out, err) = side.wait();
    assert!(status.success(), "{err}");
    assert_eq!(out, "a\nb\nno newline\n");
}

#[test]
fn long_lines_are_split() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    appender(&path).write_all(b"abcdefghij\nok\n").unwrap();
    let side = Sidecar::start([
        OsStr::new("--exit-on-eof"),
        OsStr::new("--max-line-bytes"),
        OsStr::new("4"),
        path.as_os_str(),
    ]);
    let (status, out, _) = side.wait();
    assert!(status.success());
    assert_eq!(out, "abcd\nefgh\nij\nok\n");
}

#[test]
fn a_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (status, out, err) = Sidecar::start([dir.path()]).wait();
    assert_eq!(status.code(), Some(1));
    assert_eq!(out, "");
    assert_eq!(
        err,
        format!(
            "error: {} is a directory, not a regular file\n",
            dir.path().display()
        )
    );
}

#[test]
fn a_missing_file_with_exit_on_eof_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.log");
    let (status, _, err) = Sidecar::start([OsStr::new("--exit-on-eof"), path.as_os_str()]).wait();
    assert_eq!(status.code(), Some(1));
    assert_eq!(err, format!("error: {}: no such file\n", path.display()));
}

#[test]
fn an_unopenable_file_is_a_clear_error() {
    // A symlink loop cannot be opened even by root (ELOOP), unlike a mode-000 file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("loop.log");
    std::os::unix::fs::symlink(dir.path().join("other.log"), &path).unwrap();
    std::os::unix::fs::symlink(&path, dir.path().join("other.log")).unwrap();
    let (status, _, err) = Sidecar::start([&path]).wait();
    assert_eq!(status.code(), Some(1));
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
}

#[test]
fn help_has_examples_and_bad_flags_are_refused() {
    let help = Command::new(env!("CARGO_BIN_EXE_kelp"))
        .args(["stream", "--help"])
        .output()
        .unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for want in [
        "Examples:",
        "emptyDir",
        "--stream",
        "--from",
        "--max-line-bytes",
    ] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_kelp"))
        .args(["stream", "--max-line-bytes", "10MB", "x"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown suffix"));
}
