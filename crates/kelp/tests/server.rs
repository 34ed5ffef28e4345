//! End-to-end tests of `kelp server`: the real binary on a random port, real sockets, a
//! real SIGTERM, and a restart on the same data.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(20);

/// Starts `kelp server --listen 127.0.0.1:0 --data-dir DIR`, ready; its address.
fn start(dir: &Path) -> (Child, SocketAddr) {
    let (child, url) = crate::common::server_on(dir, "127.0.0.1:0");
    (child, url.trim_start_matches("http://").parse().unwrap())
}

fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    crate::common::http(&format!("http://{addr}"), method, path, body)
}

fn terminate(mut child: Child) {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let began = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            return;
        }
        assert!(began.elapsed() < DEADLINE, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_flushes_and_a_restart_serves_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let (child, addr) = start(dir.path());
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        - 5_000_000_000;
    let body = format!(
        r#"{{"streams":[{{"stream":{{"app":"e2e"}},"values":[["{t}","first"],["{}","second"]]}}]}}"#,
        t + 1
    );
    assert_eq!(http(addr, "POST", "/loki/api/v1/push", &body).0, 204);
    terminate(child);
    let tenants = std::fs::read_dir(dir.path().join("tenants"))
        .unwrap()
        .count();
    assert!(tenants > 0, "shutdown wrote segments");

    let (child, addr) = start(dir.path());
    let (status, body) = http(
        addr,
        "GET",
        "/loki/api/v1/query_range?query=%7Bapp%3D%22e2e%22%7D",
        "",
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(r#"["#) && body.contains("\"first\"") && body.contains("\"second\""),
        "{body}"
    );
    terminate(child);
}
