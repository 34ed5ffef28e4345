//! A server on a random port, and a minimal blocking HTTP/1.1 client.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use kelp_server::ServerConfig;

/// A running server; dropping it shuts it down (and flushes the store).
pub struct TestServer {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Runs `kelp_server::serve` with `config` on 127.0.0.1 (random port) on a thread of its
/// own: the address, the sender that starts a graceful shutdown, and the thread.
pub fn spawn(
    config: ServerConfig,
) -> (
    SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            kelp_server::serve(config, listener, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
    });
    (addr_rx.recv().unwrap(), stop, thread)
}

impl TestServer {
    /// Starts a server with `yaml` config (data in a temp dir) and waits until ready.
    pub fn start(yaml: &str) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), yaml)
    }

    /// Starts a server on the data in `dir`.
    pub fn start_in(dir: tempfile::TempDir, yaml: &str) -> Self {
        let mut config = ServerConfig::from_yaml(yaml, []).unwrap();
        config.data_dir = dir.path().to_path_buf();
        config.listen = "127.0.0.1:0".into();
        let (addr, stop, thread) = spawn(config);
        let s = Self {
            addr,
            dir,
            stop: Some(stop),
            thread: Some(thread),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while s.get("/ready").status != 200 {
            assert!(Instant::now() < deadline, "server never became ready");
            std::thread::sleep(Duration::from_millis(10));
        }
        s
    }

    pub fn get(&self, path: &str) -> Resp {
        request(self.addr, "GET", path, &[], b"")
    }

    pub fn req(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
        request(self.addr, method, path, headers, body)
    }

    /// Shuts down and waits for the store to be closed.
    pub fn stop(mut self) -> tempfile::TempDir {
        self.shutdown();
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.dir, dir)
    }

    /// Starts a graceful shutdown without waiting for it; `stop` or drop waits.
    pub fn signal_stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    fn shutdown(&mut self) {
        self.signal_stop();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }
}

/// A request whose head and the first part of its body are sent; the rest comes with
/// [`Partial::finish`]. The server has the request in flight meanwhile.
pub struct Partial {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl Partial {
    /// Sends the head and all of `body` but its last `held` bytes.
    pub fn start(
        addr: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        held: usize,
    ) -> Self {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream
            .write_all(&head(addr, method, path, headers, body.len()))
            .unwrap();
        let cut = body.len() - held;
        stream.write_all(&body[..cut]).unwrap();
        stream.flush().unwrap();
        Self {
            stream,
            rest: body[cut..].to_vec(),
        }
    }

    /// Sends the rest of the body and reads the answer.
    pub fn finish(mut self) -> Resp {
        self.stream.write_all(&self.rest).unwrap();
        read_response(&mut self.stream)
    }
}

fn head(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    len: usize,
) -> Vec<u8> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {len}\r\n"
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// One request on a fresh connection (`Connection: close`).
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(&head(addr, method, path, headers, body.len()))
        .unwrap();
    s.write_all(body).unwrap();
    read_response(&mut s)
}

fn read_response(s: &mut TcpStream) -> Resp {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 4 + n..];
    }
}

/// Nanoseconds of now, as a string.
pub fn now_ns() -> i64 {
    kelp_model::Timestamp::now().as_unix_nanos()
}

/// A JSON push body with one stream and `lines` at `t0 + i µs`.
pub fn push_json(labels: &str, t0: i64, lines: &[&str]) -> Vec<u8> {
    let values: Vec<serde_json::Value> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| serde_json::json!([(t0 + i as i64 * 1000).to_string(), l]))
        .collect();
    let stream: serde_json::Value = serde_json::from_str(labels).unwrap();
    serde_json::to_vec(&serde_json::json!({"streams": [{"stream": stream, "values": values}]}))
        .unwrap()
}

pub const JSON: (&str, &str) = ("Content-Type", "application/json");

/// URL-encodes a query parameter value.
pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
