//! Helpers shared by the end-to-end tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `kelp` binary under test.
pub fn kelp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kelp"))
}

/// Spawns `cmd` with its stderr piped and reads stderr until a line starts with
/// `announce`; returns the child and the rest of that line (an address). The rest of
/// stderr is drained in the background.
pub fn spawn_announcing(cmd: Command, announce: &str) -> (Child, String) {
    spawn_announcing_to(cmd, announce, "warn", None)
}

/// [`spawn_announcing`] with the `RUST_LOG` filter given and all of stderr (the
/// announcement too) copied to `log` when given.
pub fn spawn_announcing_to(
    mut cmd: Command,
    announce: &str,
    filter: &str,
    log: Option<&Path>,
) -> (Child, String) {
    let mut file = log.map(|p| std::fs::File::create(p).unwrap());
    let mut child = cmd
        .env("RUST_LOG", filter)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let rest = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "exited before saying {announce:?}"
        );
        if let Some(f) = file.as_mut() {
            f.write_all(line.as_bytes()).unwrap();
        }
        if let Some(a) = line.trim().strip_prefix(announce) {
            break a.to_owned();
        }
    };
    std::thread::spawn(move || match file {
        Some(mut f) => std::io::copy(&mut stderr, &mut f),
        None => std::io::copy(&mut stderr, &mut std::io::sink()),
    });
    (child, rest)
}

/// Starts `kelp server --listen LISTEN --data-dir DIR` and waits until `/ready` answers
/// 200 (recovery done); returns it and its URL.
pub fn server_on(dir: &Path, listen: &str) -> (Child, String) {
    server_with_env(dir, listen, &[])
}

/// [`server_on`] with environment variables (config overrides such as limits).
pub fn server_with_env(dir: &Path, listen: &str, env: &[(&str, &str)]) -> (Child, String) {
    let mut cmd = kelp();
    cmd.args(["server", "--listen", listen, "--data-dir"])
        .arg(dir)
        .envs(env.iter().copied());
    let (child, url) = spawn_announcing(cmd, "kelp server listening on ");
    let deadline = Instant::now() + Duration::from_secs(60);
    while http(&url, "GET", "/ready", "").0 != 200 {
        assert!(Instant::now() < deadline, "server at {url} never ready");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, url)
}

/// One HTTP/1.1 request to `url` (`http://host:port`); the status (0 when the connection
/// fails) and the body.
pub fn http(url: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    http_with_headers(url, method, path, &[], body)
}

/// [`http`] with extra request headers (`X-Scope-OrgID`, `Authorization`, ...).
pub fn http_with_headers(
    url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(url.trim_start_matches("http://")) else {
        return (0, String::new());
    };
    let extra: String = headers
        .iter()
        .map(|(n, v)| format!("{n}: {v}\r\n"))
        .collect();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
