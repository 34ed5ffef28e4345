//! Several `kelp server` replicas behind one agent: which replica owns a key (a stream),
//! and failover to the next one while it is down.
//!
//! The replica list is static (`http://a:3100,http://b:3100`, or `--server` given several
//! times) or the addresses of a DNS name (`dns+http://kelp-server-headless.kelp.svc:3100`:
//! every A/AAAA record of a headless Service is one pod), resolved again every
//! [`ReplicaOptions::refresh`]. Ownership is rendezvous hashing (highest random weight):
//! each replica's score for a key is XXH3 of its URL seeded with the key, and the replicas
//! ranked by score are the key's order of preference. Adding or removing a replica moves
//! only the keys it wins or won (about 1/n of them), and when the owner is down its keys
//! spread over the others instead of all landing on one neighbour.
//!
//! A replica whose request failed after its client's retries (connection refused, timeouts,
//! 5xx) is marked down for [`ReplicaOptions::down_for`]; its keys go to the next replica
//! in their ranking meanwhile, and back once it answers again.

use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::{Client, ClientError, ClientStats};

/// The prefix of a replica list read from DNS.
pub const DNS_PREFIX: &str = "dns+";

/// Where the replica list comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaSource {
    /// Fixed base URLs.
    Static(Vec<String>),
    /// Every address of `host` (A/AAAA records), as `scheme://address:port`.
    Dns {
        /// `http` or `https`.
        scheme: String,
        /// The name resolved (a headless Service).
        host: String,
        /// The port of every replica.
        port: u16,
    },
}

impl ReplicaSource {
    /// Reads a server setting: one URL, URLs separated by commas, or
    /// `dns+http://name:port`.
    pub fn parse(spec: &str) -> Result<Self, ClientError> {
        let bad = |reason| ClientError::InvalidUrl {
            url: spec.to_owned(),
            reason,
        };
        if let Some(url) = spec.trim().strip_prefix(DNS_PREFIX) {
            let (scheme, rest) = url
                .split_once("://")
                .filter(|(s, _)| matches!(*s, "http" | "https"))
                .ok_or_else(|| bad("dns+ needs http:// or https://"))?;
            let rest = rest.trim_end_matches('/');
            let (host, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| bad("dns+ needs a port (dns+http://name:3100)"))?;
            let port = port.parse().map_err(|_| bad("invalid port"))?;
            if host.is_empty() || host.contains('/') {
                return Err(bad("dns+ needs a host name and no path"));
            }
            return Ok(Self::Dns {
                scheme: scheme.to_owned(),
                host: host.to_owned(),
                port,
            });
        }
        let mut urls: Vec<String> = spec
            .split(',')
            .map(|u| u.trim().trim_end_matches('/').to_owned())
            .filter(|u| !u.is_empty())
            .collect();
        urls.sort();
        urls.dedup();
        if urls.is_empty() {
            return Err(bad("no server"));
        }
        Ok(Self::Static(urls))
    }

    /// Whether the setting names more than one server, or a DNS name (a replica set).
    pub fn is_replicated(&self) -> bool {
        match self {
            Self::Static(urls) => urls.len() > 1,
            Self::Dns { .. } => true,
        }
    }

    /// The base URLs now (resolves a DNS name), sorted.
    pub fn resolve(&self) -> Result<Vec<String>, ClientError> {
        match self {
            Self::Static(urls) => Ok(urls.clone()),
            Self::Dns { scheme, host, port } => {
                let addrs =
                    (host.as_str(), *port)
                        .to_socket_addrs()
                        .map_err(|e| ClientError::GaveUp {
                            path: format!("dns {host}"),
                            attempts: 1,
                            last: e.to_string(),
                        })?;
                let mut urls: Vec<String> = addrs.map(|a| format!("{scheme}://{a}")).collect();
                urls.sort();
                urls.dedup();
                Ok(urls)
            }
        }
    }
}

/// Requests about one key (a node's resource samples or pod inventory) to the replica
/// that owns the key now: its owner while it answers, the next in the key's ranking while
/// it is down; a DNS name is resolved again as for streams, so a replica that comes back
/// under a new address is found. With one server, every request goes to it.
#[derive(Debug)]
pub struct KeyedSender {
    replicas: Replicas,
    key: u64,
}

impl KeyedSender {
    /// The sender of `key` over the replicas of `spec` (one URL, a list, or `dns+…`);
    /// `make` builds the client of one base URL.
    ///
    /// # Errors
    ///
    /// `spec` is not a valid server setting.
    pub fn new(
        spec: &str,
        key: &str,
        make: impl Fn(&str) -> Result<Client, ClientError> + Send + Sync + 'static,
    ) -> Result<Self, ClientError> {
        let source = ReplicaSource::parse(spec)?;
        Ok(Self {
            replicas: Replicas::new(source, ReplicaOptions::default(), make)?,
            key: xxhash_rust::xxh3::xxh3_64(key.as_bytes()),
        })
    }

    /// The replica a request would go to now.
    pub fn target(&self) -> Option<String> {
        let members = self.replicas.members();
        self.replicas
            .pick(&members, self.key, Instant::now())
            .map(|r| r.url.clone())
    }

    /// POSTs `body` to the key's replica; a replica that fails is skipped for a while
    /// (the caller's next attempt goes to the next one).
    ///
    /// # Errors
    ///
    /// The replica's error, or [`ClientError::GaveUp`] while every replica is down.
    pub fn post(
        &self,
        path: &str,
        content_type: &str,
        content_encoding: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        let members = self.replicas.members();
        let Some(r) = self.replicas.pick(&members, self.key, Instant::now()) else {
            return Err(ClientError::GaveUp {
                path: path.to_owned(),
                attempts: 0,
                last: if members.is_empty() {
                    "no server replica known".into()
                } else {
                    "every server replica is down".into()
                },
            });
        };
        let out = r.client.post(path, content_type, content_encoding, body);
        let outcome = match &out {
            Ok(_) => Ok(()),
            Err(e) => Err(e.clone()),
        };
        self.replicas.report(&r, &outcome);
        out
    }

    /// Makes a request under way give up (the agent is stopping).
    pub fn stop(&self) {
        self.replicas.stop();
    }
}

/// The rendezvous score of replica `url` for `key`.
pub fn score(url: &str, key: u64) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(url.as_bytes(), key)
}

/// `urls` ranked for `key`, owner first.
pub fn rank<'u>(urls: impl IntoIterator<Item = &'u str>, key: u64) -> Vec<&'u str> {
    let mut v: Vec<(u64, &str)> = urls.into_iter().map(|u| (score(u, key), u)).collect();
    v.sort_unstable_by(|a, b| b.cmp(a));
    v.into_iter().map(|(_, u)| u).collect()
}

/// Timing of a [`Replicas`] set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaOptions {
    /// How long a failed replica is skipped before it is tried again (default 5 s).
    pub down_for: Duration,
    /// How often a DNS name is resolved again (default 30 s).
    pub refresh: Duration,
}

impl Default for ReplicaOptions {
    fn default() -> Self {
        Self {
            down_for: Duration::from_secs(5),
            refresh: Duration::from_secs(30),
        }
    }
}

/// One replica: its URL, its client and whether it is considered down.
#[derive(Debug)]
pub struct Replica {
    url: String,
    client: Client,
    down_until: Mutex<Option<Instant>>,
}

impl Replica {
    /// The base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The client of this replica.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Whether it is skipped now.
    pub fn is_down(&self, now: Instant) -> bool {
        lock(&self.down_until).is_some_and(|t| t > now)
    }

    fn mark_down(&self, until: Instant) {
        *lock(&self.down_until) = Some(until);
    }

    fn mark_up(&self) {
        *lock(&self.down_until) = None;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Nothing is left half-updated across a panic point under these locks.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

type MakeClient = dyn Fn(&str) -> Result<Client, ClientError> + Send + Sync;

/// Counters of a replica set, for the agent's `/metrics`.
#[derive(Debug, Default)]
pub struct ReplicaStats {
    /// Times a replica was marked down (its keys then went to the next one).
    pub failovers: AtomicU64,
    /// Failed resolutions of the DNS name (the last list is kept).
    pub dns_errors: AtomicU64,
}

/// The replicas of a server setting, with their clients (sharing one [`ClientStats`]).
pub struct Replicas {
    source: ReplicaSource,
    options: ReplicaOptions,
    make: Box<MakeClient>,
    members: RwLock<(Vec<Arc<Replica>>, Option<Instant>)>,
    client_stats: Arc<ClientStats>,
    stats: Arc<ReplicaStats>,
    stop: AtomicBool,
}

impl std::fmt::Debug for Replicas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replicas")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Replicas {
    /// The replica set of `source`; `make` builds the client of one base URL (with its
    /// retry policy, TLS and headers). A static list is checked at once; a DNS name is
    /// resolved on first use.
    pub fn new(
        source: ReplicaSource,
        options: ReplicaOptions,
        make: impl Fn(&str) -> Result<Client, ClientError> + Send + Sync + 'static,
    ) -> Result<Self, ClientError> {
        let r = Self {
            source,
            options,
            make: Box::new(make),
            members: RwLock::new((Vec::new(), None)),
            client_stats: Arc::default(),
            stats: Arc::default(),
            stop: AtomicBool::new(false),
        };
        if let ReplicaSource::Static(urls) = &r.source {
            let members = urls
                .iter()
                .map(|u| r.member(u))
                .collect::<Result<Vec<_>, _>>()?;
            *r.members.write().unwrap_or_else(|p| p.into_inner()) = (members, None);
        }
        Ok(r)
    }

    fn member(&self, url: &str) -> Result<Arc<Replica>, ClientError> {
        Ok(Arc::new(Replica {
            url: url.to_owned(),
            client: (self.make)(url)?.with_stats(self.client_stats.clone()),
            down_until: Mutex::new(None),
        }))
    }

    /// Where the list comes from.
    pub fn source(&self) -> &ReplicaSource {
        &self.source
    }

    /// The counters every replica's client adds to.
    pub fn client_stats(&self) -> Arc<ClientStats> {
        self.client_stats.clone()
    }

    /// Failovers and DNS errors.
    pub fn stats(&self) -> Arc<ReplicaStats> {
        self.stats.clone()
    }

    /// Makes every client's retry loop, and [`Replicas::wait`], give up.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        for m in self.members() {
            m.client.stop();
        }
    }

    /// Whether [`Replicas::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The replicas now (a DNS name is resolved again when due; on failure the last list
    /// stays).
    pub fn members(&self) -> Vec<Arc<Replica>> {
        let due = match &self.source {
            ReplicaSource::Static(_) => false,
            ReplicaSource::Dns { .. } => {
                let m = self.members.read().unwrap_or_else(|p| p.into_inner());
                m.1.is_none_or(|t| t.elapsed() >= self.options.refresh)
            }
        };
        if due {
            self.refresh();
        }
        self.members
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }

    fn refresh(&self) {
        let resolved = self.source.resolve();
        let mut m = self.members.write().unwrap_or_else(|p| p.into_inner());
        m.1 = Some(Instant::now());
        let urls = match resolved {
            Ok(urls) if !urls.is_empty() => urls,
            Ok(_) | Err(_) => {
                self.stats.dns_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(source = ?self.source, "no replica resolved; keeping the last list");
                return;
            }
        };
        let mut next = Vec::with_capacity(urls.len());
        for url in urls {
            match m.0.iter().find(|r| r.url == url) {
                Some(r) => next.push(r.clone()),
                None => match self.member(&url) {
                    Ok(r) => next.push(r),
                    Err(e) => tracing::warn!(%url, error = %e, "skipping replica"),
                },
            }
        }
        if next.iter().map(|r| &r.url).ne(m.0.iter().map(|r| &r.url)) {
            tracing::info!(replicas = ?next.iter().map(|r| &r.url).collect::<Vec<_>>(), "replica list");
        }
        m.0 = next;
    }

    /// The replica `key` goes to now: the first in its ranking that is not down, or
    /// `None` while every replica is down (or none is known).
    pub fn pick(&self, members: &[Arc<Replica>], key: u64, now: Instant) -> Option<Arc<Replica>> {
        let mut v: Vec<(u64, &Arc<Replica>)> =
            members.iter().map(|r| (score(&r.url, key), r)).collect();
        v.sort_unstable_by_key(|b| std::cmp::Reverse(b.0));
        v.into_iter()
            .map(|(_, r)| r)
            .find(|r| !r.is_down(now))
            .cloned()
    }

    /// Records the outcome of a request to `replica`: a retryable failure marks it down.
    pub fn report(&self, replica: &Replica, outcome: &Result<(), ClientError>) {
        match outcome {
            Ok(()) => replica.mark_up(),
            Err(ClientError::GaveUp { last, .. }) if !self.is_stopped() => {
                self.stats.failovers.fetch_add(1, Ordering::Relaxed);
                self.client_stats.failovers.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(replica = %replica.url, error = %last, down_for_ms = self.options.down_for.as_millis() as u64, "replica down, failing over");
                replica.mark_down(Instant::now() + self.options.down_for);
            }
            Err(_) => {}
        }
    }

    /// Waits while every replica is down: until the first one is due again, at most
    /// `down_for`. False when stopped.
    pub fn wait(&self, members: &[Arc<Replica>]) -> bool {
        let now = Instant::now();
        let until = members
            .iter()
            .filter_map(|r| *lock(&r.down_until))
            .min()
            .unwrap_or(now + self.options.down_for);
        let end = until.min(now + self.options.down_for);
        while Instant::now() < end {
            if self.is_stopped() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50).min(end - Instant::now()));
        }
        !self.is_stopped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RetryPolicy;

    #[test]
    fn parses_lists_and_dns_names() {
        let cases: &[(&str, Option<ReplicaSource>)] = &[
            (
                "http://a:1",
                Some(ReplicaSource::Static(vec!["http://a:1".into()])),
            ),
            (
                " http://b:1/, http://a:1 ,,",
                Some(ReplicaSource::Static(vec![
                    "http://a:1".into(),
                    "http://b:1".into(),
                ])),
            ),
            (
                "dns+http://kelp-server-headless.kelp.svc:3100",
                Some(ReplicaSource::Dns {
                    scheme: "http".into(),
                    host: "kelp-server-headless.kelp.svc".into(),
                    port: 3100,
                }),
            ),
            ("dns+http://name", None),
            ("dns+ftp://name:1", None),
            ("dns+http://:1", None),
            ("dns+http://a/b:1", None),
            (" , ", None),
        ];
        for (spec, want) in cases {
            assert_eq!(ReplicaSource::parse(spec).ok(), *want, "{spec}");
        }
        assert!(!ReplicaSource::parse("http://a:1").unwrap().is_replicated());
        assert!(ReplicaSource::parse("http://a:1,http://b:1")
            .unwrap()
            .is_replicated());
    }

    /// A real HTTP server on 127.0.0.1 answering 200 to every request, counting them.
    fn ok_server() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = n.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let (mut len, mut line) = (0usize, String::new());
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; len];
                let _ = reader.read_exact(&mut body);
                count.fetch_add(1, Ordering::SeqCst);
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                );
            }
        });
        (url, n)
    }

    #[test]
    fn a_keyed_sender_fails_over_to_the_next_replica_and_back() {
        // A replica that refuses connections: a port bound, then released.
        let down = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let (up, requests) = ok_server();
        let spec = format!("{down},{up}");
        // A node whose owner is the refusing replica.
        let node = (0..100)
            .map(|i| format!("node-{i}"))
            .find(|n| {
                rank(
                    [down.as_str(), up.as_str()],
                    xxhash_rust::xxh3::xxh3_64(n.as_bytes()),
                )[0] == down
            })
            .unwrap();
        let policy = RetryPolicy {
            max_attempts: Some(1),
            timeout: Duration::from_secs(2),
            ..RetryPolicy::default()
        };
        let sender =
            KeyedSender::new(&spec, &node, move |u| Client::new(u, policy.clone())).unwrap();
        assert_eq!(sender.target().as_deref(), Some(down.as_str()));
        // The owner fails: the request fails and the owner is skipped for a while.
        assert!(sender.post("/p", "text/plain", None, b"1").is_err());
        assert_eq!(sender.target().as_deref(), Some(up.as_str()));
        assert_eq!(sender.post("/p", "text/plain", None, b"2").unwrap(), b"ok");
        assert_eq!(requests.load(Ordering::SeqCst), 1);
        // One server: every request goes to it.
        let one = KeyedSender::new(&up, "any", |u| Client::new(u, RetryPolicy::default())).unwrap();
        assert_eq!(one.post("/p", "text/plain", None, b"3").unwrap(), b"ok");
        assert_eq!(requests.load(Ordering::SeqCst), 2);
        // Every replica down: a clear error, no request.
        let only_down = KeyedSender::new(&down, "n", |u| {
            Client::new(
                u,
                RetryPolicy {
                    max_attempts: Some(1),
                    ..RetryPolicy::default()
                },
            )
        })
        .unwrap();
        assert!(only_down.post("/p", "text/plain", None, b"4").is_err());
        let e = only_down
            .post("/p", "text/plain", None, b"5")
            .unwrap_err()
            .to_string();
        assert!(e.contains("every server replica is down"), "{e}");
    }

    #[test]
    fn dns_resolves_localhost_to_urls() {
        let s = ReplicaSource::parse("dns+http://localhost:3100").unwrap();
        let urls = s.resolve().unwrap();
        assert!(!urls.is_empty());
        assert!(urls
            .iter()
            .all(|u| u.starts_with("http://") && u.ends_with(":3100")));
        let bad = ReplicaSource::parse("dns+http://no-such-host.invalid:3100").unwrap();
        assert!(bad.resolve().is_err());
    }

    #[test]
    fn rendezvous_spreads_evenly_and_moves_only_the_removed_replicas_keys() {
        let three = ["http://r0:3100", "http://r1:3100", "http://r2:3100"];
        let mut per = [0usize; 3];
        let mut moved_from_kept = 0;
        for key in 0..30_000u64 {
            let k = xxhash_rust::xxh3::xxh3_64(&key.to_le_bytes());
            let owner = rank(three, k)[0];
            per[three.iter().position(|u| *u == owner).unwrap()] += 1;
            // Without r2 a key keeps its owner unless r2 owned it; r2's keys go to their
            // second choice.
            let two = rank(three[..2].iter().copied(), k);
            if owner != three[2] && two[0] != owner {
                moved_from_kept += 1;
            }
            if owner == three[2] {
                assert_eq!(two[0], rank(three, k)[1]);
            }
        }
        assert_eq!(moved_from_kept, 0);
        for n in per {
            assert!((9_000..11_000).contains(&n), "{per:?}");
        }
    }

    #[test]
    fn a_down_replica_is_skipped_until_its_time_is_up() {
        let reps = Replicas::new(
            ReplicaSource::parse("http://127.0.0.1:9,http://127.0.0.1:10").unwrap(),
            ReplicaOptions {
                down_for: Duration::from_secs(3600),
                ..ReplicaOptions::default()
            },
            |u| Client::new(u, crate::RetryPolicy::default()),
        )
        .unwrap();
        let members = reps.members();
        let now = Instant::now();
        let owner = reps.pick(&members, 42, now).unwrap();
        let gave_up = Err(ClientError::GaveUp {
            path: "/x".into(),
            attempts: 3,
            last: "refused".into(),
        });
        reps.report(&owner, &gave_up);
        let next = reps.pick(&members, 42, Instant::now()).unwrap();
        assert_ne!(next.url(), owner.url());
        assert!(owner.is_down(Instant::now()));
        reps.report(&next, &gave_up);
        assert!(reps.pick(&members, 42, Instant::now()).is_none());
        assert_eq!(reps.stats().failovers.load(Ordering::Relaxed), 2);
        // Back: an answer marks it up again.
        reps.report(&owner, &Ok(()));
        assert_eq!(
            reps.pick(&members, 42, Instant::now()).unwrap().url(),
            owner.url()
        );
        // A 4xx is the request's fault, not the replica's.
        let rejected = Err(ClientError::Rejected {
            path: "/x".into(),
            status: 400,
            body: String::new(),
        });
        reps.report(&owner, &rejected);
        assert!(!owner.is_down(Instant::now()));
    }
}
