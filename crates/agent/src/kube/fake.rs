//! A small Kubernetes API server for tests, on 127.0.0.1: Leases as the API server keeps
//! them (GET, POST with `409 AlreadyExists`, PUT with `409 Conflict` on a stale
//! `resourceVersion`), and lists and watches of pods and events answered from what the
//! test sets (a watch takes the next scripted reply: lines then the end of the stream,
//! or `410 Gone`; with none scripted it stays open, quiet, for at most a second).
//! Requests carrying a token the test cut off ([`FakeApi::cut_off`]) get no answer for
//! 10 s, as from an agent on the wrong side of a network partition. Not for production.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

/// A scripted answer to a watch.
#[derive(Debug, Clone)]
pub enum Watch {
    /// These watch-event lines, then the end of the stream.
    Lines(Vec<String>),
    /// `410 Gone` as the response's status.
    Gone,
}

#[derive(Default)]
struct State {
    version: u64,
    leases: HashMap<String, Value>,
    /// `(kind, items, list version)` for `pods` and `events`.
    lists: HashMap<String, (Vec<Value>, String)>,
    watches: HashMap<String, VecDeque<Watch>>,
    requests: Vec<String>,
    /// `METHOD /path [authorization] -> status` of the Lease requests answered.
    answers: Vec<String>,
    cut: HashSet<String>,
    /// Lease PUTs wait while set; `pending` counts those waiting.
    hold_puts: bool,
    pending: usize,
}

/// The server; it runs until the process ends.
#[derive(Clone)]
pub struct FakeApi {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FakeApi {
    /// Starts the server.
    pub fn start() -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1");
        let url = format!("http://{}", listener.local_addr().expect("local address"));
        let state = Arc::new(Mutex::new(State {
            version: 1000,
            ..State::default()
        }));
        let s = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &s);
                });
            }
        });
        FakeApi { url, state }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What `GET /api/v1/<kind>` lists (`pods`, `events`), at `version`.
    pub fn set_list(&self, kind: &str, items: Vec<Value>, version: &str) {
        self.lock()
            .lists
            .insert(kind.into(), (items, version.into()));
    }

    /// Queues the answer to a later watch of `kind`.
    pub fn push_watch(&self, kind: &str, w: Watch) {
        self.lock()
            .watches
            .entry(kind.into())
            .or_default()
            .push_back(w);
    }

    /// Requests with this bearer token are not answered any more.
    pub fn cut_off(&self, token: &str) {
        self.lock().cut.insert(format!("Bearer {token}"));
    }

    /// The Lease `namespace/name`, as stored.
    pub fn lease(&self, namespace: &str, name: &str) -> Option<Value> {
        self.lock()
            .leases
            .get(&format!("{namespace}/{name}"))
            .cloned()
    }

    /// Lease PUTs wait until [`FakeApi::release_puts`] (to make two agents' updates
    /// race from the same version).
    pub fn hold_puts(&self) {
        self.lock().hold_puts = true;
    }

    /// Lets held Lease PUTs through, one at a time.
    pub fn release_puts(&self) {
        self.lock().hold_puts = false;
    }

    /// Lease PUTs waiting.
    pub fn pending_puts(&self) -> usize {
        self.lock().pending
    }

    /// The Lease requests answered: `METHOD /path [authorization] -> status`.
    pub fn lease_answers(&self) -> Vec<String> {
        self.lock().answers.clone()
    }

    /// Every request so far: `METHOD /path?query [authorization]`.
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }
}

struct Request {
    method: String,
    target: String,
    auth: String,
    body: Vec<u8>,
}

fn read_request(conn: &TcpStream) -> std::io::Result<Request> {
    let mut r = BufReader::new(conn);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("").to_owned();
    let (mut auth, mut len) = (String::new(), 0usize);
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                auth = value.trim().to_owned();
            } else if name.eq_ignore_ascii_case("content-length") {
                len = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    Ok(Request {
        method,
        target,
        auth,
        body,
    })
}

fn reply(conn: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    write!(
        conn,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn status(code: u16, reason: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code})
}

fn serve(mut conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let req = read_request(&conn)?;
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    {
        let mut s = lock();
        s.requests
            .push(format!("{} {} [{}]", req.method, req.target, req.auth));
        if s.cut.contains(&req.auth) {
            drop(s);
            // No answer, as across a partition: the client's own timeout ends it.
            std::thread::sleep(Duration::from_secs(10));
            return Ok(());
        }
    }
    let (path, query) = req.target.split_once('?').unwrap_or((&req.target, ""));
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["apis", "coordination.k8s.io", "v1", "namespaces", ns, "leases", rest @ ..] => {
            let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
            if req.method == "PUT" && lock().hold_puts {
                lock().pending += 1;
                while lock().hold_puts {
                    std::thread::sleep(Duration::from_millis(5));
                }
                lock().pending -= 1;
            }
            let mut s = lock();
            let (code, answer) = lease(&mut s, ns, rest.first().copied(), &req.method, body);
            s.answers.push(format!(
                "{} {} [{}] -> {code}",
                req.method, req.target, req.auth
            ));
            drop(s);
            reply(&mut conn, code, &answer)
        }
        ["api", "v1", kind] if query.contains("watch=1") => {
            let next = lock().watches.get_mut(*kind).and_then(VecDeque::pop_front);
            match next {
                Some(Watch::Gone) => reply(&mut conn, 410, &status(410, "Expired")),
                Some(Watch::Lines(lines)) => stream(&mut conn, &lines),
                None => {
                    conn.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                    )?;
                    std::thread::sleep(Duration::from_secs(1));
                    conn.write_all(b"0\r\n\r\n")
                }
            }
        }
        ["api", "v1", kind] => {
            let (items, version) = lock()
                .lists
                .get(*kind)
                .cloned()
                .unwrap_or_else(|| (Vec::new(), "1".into()));
            let list = json!({"kind": "List", "apiVersion": "v1",
                "metadata": {"resourceVersion": version}, "items": items});
            reply(&mut conn, 200, &list)
        }
        _ => reply(&mut conn, 404, &status(404, "NotFound")),
    }
}

fn stream(conn: &mut TcpStream, lines: &[String]) -> std::io::Result<()> {
    conn.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
    )?;
    for l in lines {
        let chunk = format!("{l}\n");
        write!(conn, "{:x}\r\n{chunk}\r\n", chunk.len())?;
        conn.flush()?;
    }
    conn.write_all(b"0\r\n\r\n")
}

/// The Lease API: GET, POST (create), PUT (update with a `resourceVersion` check).
fn lease(
    s: &mut State,
    ns: &str,
    name: Option<&str>,
    method: &str,
    mut body: Value,
) -> (u16, Value) {
    match (method, name) {
        ("GET", Some(name)) => match s.leases.get(&format!("{ns}/{name}")) {
            Some(l) => (200, l.clone()),
            None => (404, status(404, "NotFound")),
        },
        ("POST", None) => {
            let Some(name) = body["metadata"]["name"].as_str().map(str::to_owned) else {
                return (422, status(422, "Invalid"));
            };
            let key = format!("{ns}/{name}");
            if s.leases.contains_key(&key) {
                return (409, status(409, "AlreadyExists"));
            }
            s.version += 1;
            body["metadata"]["resourceVersion"] = json!(s.version.to_string());
            body["metadata"]["namespace"] = json!(ns);
            s.leases.insert(key, body.clone());
            (201, body)
        }
        ("PUT", Some(name)) => {
            let key = format!("{ns}/{name}");
            let Some(current) = s.leases.get(&key) else {
                return (404, status(404, "NotFound"));
            };
            if body["metadata"]["resourceVersion"] != current["metadata"]["resourceVersion"] {
                return (409, status(409, "Conflict"));
            }
            s.version += 1;
            body["metadata"]["resourceVersion"] = json!(s.version.to_string());
            s.leases.insert(key, body.clone());
            (200, body)
        }
        _ => (405, status(405, "MethodNotAllowed")),
    }
}
