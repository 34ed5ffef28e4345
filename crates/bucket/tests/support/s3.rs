//! A real S3-compatible server for tests: `s3s-fs` (the `s3s` project's file-backed S3
//! server, installed by `.ci/deps` with `cargo install s3s-fs --features binary`), started
//! on a free port of 127.0.0.1 with its own data directory and credentials, stopped (killed)
//! on drop. `KELP_S3S_FS` names the binary when it is not on `PATH` or in `~/.cargo/bin`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kelp_bucket::{ObjectBucket, StorageSettings};

pub const ACCESS_KEY: &str = "kelp-test-access";
pub const SECRET_KEY: &str = "kelp-test-secret-0123456789";
pub const BUCKET: &str = "kelp-logs";

/// A running `s3s-fs`.
pub struct S3Server {
    child: Option<Child>,
    pub addr: SocketAddr,
    pub root: tempfile::TempDir,
    log: PathBuf,
}

fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("KELP_S3S_FS") {
        return PathBuf::from(p);
    }
    let in_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("s3s-fs"))
            .find(|p| p.is_file())
    });
    let cargo_bin = std::env::var_os("HOME")
        .map(|h| Path::new(&h).join(".cargo/bin/s3s-fs"))
        .filter(|p| p.is_file());
    in_path.or(cargo_bin).unwrap_or_else(|| {
        panic!(
            "s3s-fs not found (on PATH, in ~/.cargo/bin or KELP_S3S_FS): \
             run `bash .ci/deps` (cargo install s3s-fs --features binary)"
        )
    })
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

impl S3Server {
    /// Starts a server with one empty bucket, [`BUCKET`].
    pub fn start() -> Self {
        let root = tempfile::tempdir().unwrap();
        // s3s-fs keeps a bucket as a directory under its root.
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let log = root.path().join("server.log");
        let mut s = Self {
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
            root,
            log,
        };
        s.restart();
        s
    }

    /// Kills the server (SIGKILL): in-flight requests fail, the port is closed.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// (Re)starts the server on the same port and data directory and waits until it
    /// accepts connections.
    pub fn restart(&mut self) {
        self.kill();
        let data = self.root.path().to_owned();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port"])
            .arg(self.addr.port().to_string())
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&data)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("starting s3s-fs: {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(self.addr).is_err() {
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "s3s-fs exited with {st}: {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "s3s-fs did not listen on {} within 20 s",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The `storage:` settings of a bucket on this server, with short retries so a down
    /// server shows quickly.
    pub fn settings(&self, prefix: &str) -> StorageSettings {
        serde_json::from_value(serde_json::json!({
            "backend": "s3",
            "bucket": BUCKET,
            "prefix": prefix,
            "endpoint": format!("http://{}", self.addr),
            "region": "us-east-1",
            "request_timeout_secs": 5,
            "retry_timeout_secs": 2,
            "max_retries": 2,
        }))
        .unwrap()
    }

    /// A bucket on this server, with the credentials in the environment as a deployment
    /// gives them (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).
    pub fn bucket(&self, prefix: &str) -> Arc<ObjectBucket> {
        set_credentials();
        self.settings(prefix).bucket().unwrap().unwrap()
    }
}

/// Puts the test server's credentials in the environment, where `from_env` reads them.
pub fn set_credentials() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY-free: set once, before any thread of these tests reads the variables
        // through `AmazonS3Builder::from_env`; every test sets the same values.
        std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
    });
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
    }
}
