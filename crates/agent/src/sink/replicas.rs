//! The `kelp` and `loki` sinks against several server replicas: each stream of a batch
//! goes to the replica that owns it (rendezvous hashing of its labels'
//! [`kelp_model::StreamId`], [`kelp_client::replicas`]); a replica that fails after its
//! client's few retries is marked down and its streams go to their next replica. The
//! batch is acknowledged once every stream is durable on some replica, so the agent's
//! in-order checkpoints hold as with one server. A stream may thus be split across two
//! replicas for the time of an outage, and a push that was durable but whose answer was
//! lost may be repeated elsewhere: queries merge all replicas and drop such duplicates.

use std::sync::Arc;
use std::time::Instant;

use kelp_client::replicas::Replica;
use kelp_client::{Client, ClientError, ClientStats, Replicas};
use kelp_model::StreamEntries;

use super::Sink;
use crate::AgentError;

/// A group of streams sent to one replica, with the outcome.
type Sent = (Arc<Replica>, Vec<StreamEntries>, Result<(), ClientError>);

/// Which push every replica gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Kelp's native push at this zstd level.
    Native(i32),
    /// Loki's protobuf push.
    Loki,
}

/// Spreads streams over replicas, failing over while one is down.
pub struct ReplicaSink {
    replicas: Replicas,
    push: Push,
    /// `max_attempts` of the retry policy: rounds of failover before giving up.
    max_rounds: Option<u32>,
}

impl ReplicaSink {
    /// A sink over `replicas`.
    pub fn new(replicas: Replicas, push: Push, max_rounds: Option<u32>) -> Self {
        Self {
            replicas,
            push,
            max_rounds,
        }
    }

    fn push_to(&self, client: &Client, streams: &[StreamEntries]) -> Result<(), ClientError> {
        match self.push {
            Push::Native(level) => client.push_native_level(streams, level),
            Push::Loki => client.push_loki(streams),
        }
    }

    /// Sends each group to its replica, at the same time when there are several; returns
    /// the groups with their outcome.
    fn send_groups(&self, groups: Vec<(Arc<Replica>, Vec<StreamEntries>)>) -> Vec<Sent> {
        if groups.len() == 1 {
            return groups
                .into_iter()
                .map(|(r, g)| {
                    let out = self.push_to(r.client(), &g);
                    (r, g, out)
                })
                .collect();
        }
        std::thread::scope(|scope| {
            let handles: Vec<_> = groups
                .into_iter()
                .map(|(r, g)| {
                    scope.spawn(move || {
                        let out = self.push_to(r.client(), &g);
                        (r, g, out)
                    })
                })
                .collect();
            handles
                .into_iter()
                // A push does not panic; if one did, the scope re-raises it anyway.
                .filter_map(|h| h.join().ok())
                .collect()
        })
    }
}

impl Sink for ReplicaSink {
    fn send(&self, streams: &[StreamEntries]) -> Result<(), AgentError> {
        let mut pending: Vec<StreamEntries> = streams.to_vec();
        let mut rounds = 0u32;
        loop {
            let members = self.replicas.members();
            let now = Instant::now();
            let mut groups: Vec<(Arc<Replica>, Vec<StreamEntries>)> = Vec::new();
            let mut stranded = Vec::new();
            for s in pending.drain(..) {
                match self.replicas.pick(&members, s.labels.stream_id().0, now) {
                    Some(r) => match groups.iter_mut().find(|(g, _)| Arc::ptr_eq(g, &r)) {
                        Some((_, v)) => v.push(s),
                        None => groups.push((r, vec![s])),
                    },
                    None => stranded.push(s),
                }
            }
            let sent_any = !groups.is_empty();
            for (replica, group, out) in self.send_groups(groups) {
                self.replicas.report(&replica, &out);
                match out {
                    Ok(()) => {}
                    Err(ClientError::GaveUp { .. }) if !self.replicas.is_stopped() => {
                        pending.extend(group)
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            pending.extend(stranded);
            if pending.is_empty() {
                return Ok(());
            }
            rounds += 1;
            let stopped = self.replicas.is_stopped();
            if stopped || self.max_rounds.is_some_and(|m| rounds >= m) {
                return Err(ClientError::GaveUp {
                    path: "every replica".into(),
                    attempts: rounds,
                    last: if stopped {
                        "stopped"
                    } else {
                        "no replica took the batch"
                    }
                    .into(),
                }
                .into());
            }
            if !sent_any && !self.replicas.wait(&members) {
                continue; // stopped: the next round reports it
            }
        }
    }

    fn client_stats(&self) -> Option<Arc<ClientStats>> {
        Some(self.replicas.client_stats())
    }

    fn stop(&self) {
        self.replicas.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    use kelp_client::{ReplicaOptions, ReplicaSource, RetryPolicy};
    use kelp_model::{Entry, Labels, Timestamp};

    /// A real HTTP server on 127.0.0.1 that decodes native pushes and keeps their streams'
    /// lines; answers 503 while `failing`.
    struct Server {
        url: String,
        lines: Arc<std::sync::Mutex<Vec<String>>>,
        failing: Arc<AtomicBool>,
        requests: Arc<AtomicUsize>,
    }

    fn server() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let lines = Arc::new(std::sync::Mutex::new(Vec::new()));
        let failing = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (l, f, n) = (lines.clone(), failing.clone(), requests.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut len = 0usize;
                let mut line = String::new();
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                n.fetch_add(1, Ordering::SeqCst);
                let status = if f.load(Ordering::SeqCst) {
                    "503 Service Unavailable"
                } else {
                    let streams = kelp_wire::native::decode(&body, 1 << 26).unwrap();
                    let mut l = l.lock().unwrap();
                    for s in streams {
                        l.extend(
                            s.entries
                                .iter()
                                .map(|e| String::from_utf8_lossy(&e.line).into_owned()),
                        );
                    }
                    "204 No Content"
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Server {
            url,
            lines,
            failing,
            requests,
        }
    }

    fn batch(n: usize, tag: &str) -> Vec<StreamEntries> {
        (0..n)
            .map(|i| StreamEntries {
                labels: Labels::from_pairs([("app", format!("a{i}"))]).unwrap(),
                entries: vec![Entry::new(
                    Timestamp::from_unix_secs(1),
                    format!("{tag} {i}"),
                )],
            })
            .collect()
    }

    fn sink(servers: &[&Server], down_for: Duration) -> ReplicaSink {
        let spec: Vec<&str> = servers.iter().map(|s| s.url.as_str()).collect();
        let policy = RetryPolicy {
            min_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            max_attempts: Some(2),
            timeout: Duration::from_secs(5),
        };
        let replicas = Replicas::new(
            ReplicaSource::parse(&spec.join(",")).unwrap(),
            ReplicaOptions {
                down_for,
                ..ReplicaOptions::default()
            },
            move |u| Client::new(u, policy.clone()),
        )
        .unwrap();
        ReplicaSink::new(replicas, Push::Native(1), None)
    }

    fn sorted(s: &Server) -> Vec<String> {
        let mut v = s.lines.lock().unwrap().clone();
        v.sort();
        v
    }

    #[test]
    fn streams_spread_by_owner_and_fail_over_when_one_is_down() {
        let (a, b, c) = (server(), server(), server());
        let sink = sink(&[&a, &b, &c], Duration::from_secs(3600));
        sink.send(&batch(60, "first")).unwrap();
        // Every line once, somewhere, and each replica owns some streams.
        let counts = [&a, &b, &c].map(|s| s.lines.lock().unwrap().len());
        assert_eq!(counts.iter().sum::<usize>(), 60);
        assert!(counts.iter().all(|n| *n > 5), "{counts:?}");
        // The same streams go to the same replicas again.
        sink.send(&batch(60, "second")).unwrap();
        for s in [&a, &b, &c] {
            let v = sorted(s);
            let firsts: Vec<_> = v.iter().filter_map(|l| l.strip_prefix("first ")).collect();
            let seconds: Vec<_> = v.iter().filter_map(|l| l.strip_prefix("second ")).collect();
            assert_eq!(firsts, seconds);
        }
        // b fails: its streams go to a and c, nothing is lost, the batch is acknowledged.
        b.failing.store(true, Ordering::SeqCst);
        let before_b = b.lines.lock().unwrap().len();
        sink.send(&batch(60, "third")).unwrap();
        assert_eq!(b.lines.lock().unwrap().len(), before_b);
        let thirds: usize = [&a, &c]
            .iter()
            .map(|s| sorted(s).iter().filter(|l| l.starts_with("third ")).count())
            .sum();
        assert_eq!(thirds, 60);
        // While it is marked down it gets no more requests.
        let asked = b.requests.load(Ordering::SeqCst);
        sink.send(&batch(60, "fourth")).unwrap();
        assert_eq!(b.requests.load(Ordering::SeqCst), asked);
    }

    #[test]
    fn waits_while_every_replica_is_down_and_gives_up_when_stopped() {
        let (a, b) = (server(), server());
        a.failing.store(true, Ordering::SeqCst);
        b.failing.store(true, Ordering::SeqCst);
        let sink = Arc::new(sink(&[&a, &b], Duration::from_millis(50)));
        let sender = {
            let sink = sink.clone();
            std::thread::spawn(move || sink.send(&batch(10, "x")))
        };
        // Both keep failing until a comes back; then the whole batch is on a.
        while a.requests.load(Ordering::SeqCst) < 3 || b.requests.load(Ordering::SeqCst) < 3 {
            std::thread::sleep(Duration::from_millis(10));
        }
        a.failing.store(false, Ordering::SeqCst);
        sender.join().unwrap().unwrap();
        assert_eq!(sorted(&a).len(), 10);
        // Stopped while everything is down: the send gives up instead of waiting forever.
        a.failing.store(true, Ordering::SeqCst);
        let sender = {
            let sink = sink.clone();
            std::thread::spawn(move || sink.send(&batch(10, "y")))
        };
        while a.requests.load(Ordering::SeqCst) < 8 {
            std::thread::sleep(Duration::from_millis(10));
        }
        sink.stop();
        assert!(sender.join().unwrap().is_err());
    }
}
