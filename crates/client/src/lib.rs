//! # kelp-client
//!
//! The HTTP transport for Kelp's wire types, on [`ureq`] (blocking, small, no async
//! runtime: the agent's sender is one thread that waits for each acknowledgement anyway).
//!
//! - [`Client::push_native`] sends a batch as Kelp's native push (Loki protobuf + zstd,
//!   [`kelp_wire::native`]) to `/kelp/api/v1/push` and retries until the server
//!   acknowledges it (204: durable in the WAL) or answers with a permanent error.
//! - [`RetryPolicy`]: exponential backoff with full jitter; `429` and `503` honour
//!   `Retry-After`; connection errors, timeouts and `5xx` are retried, other `4xx` are not.
//! - [`Client::push_loki`] sends a batch as Loki's push (protobuf + snappy) to
//!   `/loki/api/v1/push`; [`Client::post`] posts any body (Elasticsearch `_bulk`).
//! - [`Client::get`] fetches a path (queries) with the same retries.
//! - [`ClientStats`]: retries and failures by kind, for the agent's `/metrics`.
//! - [`TlsOptions`]: `https://` servers with a CA file (else the Mozilla roots) and a
//!   client certificate for mutual TLS, on rustls ([`Client::with_tls`]).
//! - [`Replicas`] (`replicas`): several `kelp server` replicas, from a list or a DNS
//!   name; rendezvous hashing says which one owns a stream, and a replica that fails is
//!   skipped for a while (failover to the next in the stream's ranking).
//! - [`ClientError`] is the crate's one error type.
//!
//! ```no_run
//! use kelp_client::{Client, RetryPolicy};
//! let client = Client::new("http://127.0.0.1:3100", RetryPolicy::default()).unwrap();
//! client.push_native(&[]).unwrap();
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kelp_model::StreamEntries;

pub mod replicas;
mod tls;
pub use replicas::{ReplicaOptions, ReplicaSource, Replicas};
pub use tls::{TlsOptions, TlsStream};

/// The path of Kelp's native push.
pub const NATIVE_PUSH_PATH: &str = "/kelp/api/v1/push";
/// The path of Loki's push.
pub const LOKI_PUSH_PATH: &str = "/loki/api/v1/push";

/// Counters of a client's failed attempts (relaxed atomics, read for metrics).
#[derive(Debug, Default)]
pub struct ClientStats {
    /// Attempts that were retried.
    pub retries: AtomicU64,
    /// Attempts that failed before an answer: connection refused or reset, timeouts.
    pub transport_errors: AtomicU64,
    /// Answers 429 or 503 (the server asked to slow down).
    pub throttled: AtomicU64,
    /// Other 5xx answers.
    pub server_errors: AtomicU64,
    /// Answers that retrying cannot fix (4xx other than 429).
    pub rejected: AtomicU64,
    /// Times a server replica was marked down and its streams went to the next one
    /// ([`Replicas`]).
    pub failovers: AtomicU64,
}

/// Why a request failed for good.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The base URL is not `http://host[:port][/prefix]`.
    #[error("invalid server url {url}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The server rejected the request with a status that retrying cannot fix.
    #[error("{path}: server answered {status}: {body}")]
    Rejected {
        /// The request path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// A TLS file that cannot be read or used.
    #[error("tls: {path}: {reason}")]
    Tls {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// Retries ran out ([`RetryPolicy::max_attempts`]) or the client was stopped.
    #[error("{path}: gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// The request path.
        path: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
}

/// How failed requests are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The first backoff; each later one doubles, up to `max_backoff`. Default 100 ms.
    pub min_backoff: Duration,
    /// The longest backoff (and the longest `Retry-After` honoured). Default 10 s.
    pub max_backoff: Duration,
    /// Attempts before giving up; `None` (the default) retries forever, as an agent that
    /// must not lose lines does.
    pub max_attempts: Option<u32>,
    /// Timeout of one whole request (connect, send, receive). Default 30 s.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            max_attempts: None,
            timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (`attempt` ≥ 1 failed ones so far): full
    /// jitter over the exponential backoff, or the server's `Retry-After` when it gave one
    /// (capped at `max_backoff`).
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>, jitter: u64) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_backoff);
        }
        let exp = self
            .min_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let cap = exp.min(self.max_backoff).as_millis().max(1) as u64;
        // Full jitter, but never less than half the step, so retries do not hammer.
        Duration::from_millis(cap / 2 + jitter % (cap / 2 + 1))
    }
}

/// What one attempt gave.
enum Attempt {
    Done(Vec<u8>, ureq::http::HeaderMap),
    Retry {
        why: String,
        retry_after: Option<Duration>,
    },
    Fail(ClientError),
}

/// A client of one Kelp server.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
    policy: RetryPolicy,
    stop: AtomicBool,
    stats: Arc<ClientStats>,
    /// Sent with every request (tenant, authorization).
    headers: Vec<(String, String)>,
}

impl Client {
    /// A client of the server at `base` (`http://host:port` or `https://host:port`,
    /// optionally with a path prefix); `https://` trusts the Mozilla roots.
    pub fn new(base: &str, policy: RetryPolicy) -> Result<Self, ClientError> {
        Self::with_tls(base, policy, &TlsOptions::default())
    }

    /// [`Client::new`] with TLS options (CA file, client certificate) for `https://`.
    pub fn with_tls(
        base: &str,
        policy: RetryPolicy,
        tls: &TlsOptions,
    ) -> Result<Self, ClientError> {
        let bad = |reason| ClientError::InvalidUrl {
            url: base.to_owned(),
            reason,
        };
        let rest = base
            .strip_prefix("http://")
            .or_else(|| base.strip_prefix("https://"))
            .ok_or_else(|| bad("only http:// and https:// are supported"))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(bad("no host"));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(policy.timeout))
            .tls_config(tls.ureq_config()?)
            .build()
            .into();
        Ok(Self {
            agent,
            base: base.trim_end_matches('/').to_owned(),
            policy,
            stop: AtomicBool::new(false),
            stats: Arc::default(),
            headers: Vec::new(),
        })
    }

    /// Adds a header sent with every request (for example `X-Scope-OrgID`).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Makes this client count into `stats` (shared by the clients of a replica set).
    pub fn with_stats(mut self, stats: Arc<ClientStats>) -> Self {
        self.stats = stats;
        self
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The client's counters.
    pub fn stats(&self) -> Arc<ClientStats> {
        self.stats.clone()
    }

    /// Makes every retry loop give up at its next wait (for shutdown).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Pushes `streams` with the native protocol and returns once the server has
    /// acknowledged them (they are durable), retrying as the policy says.
    pub fn push_native(&self, streams: &[StreamEntries]) -> Result<(), ClientError> {
        self.push_native_level(streams, kelp_wire::native::DEFAULT_LEVEL)
    }

    /// [`Client::push_native`] with zstd at `level`.
    pub fn push_native_level(
        &self,
        streams: &[StreamEntries],
        level: i32,
    ) -> Result<(), ClientError> {
        let body = kelp_wire::native::encode(streams, level);
        self.post(
            NATIVE_PUSH_PATH,
            kelp_wire::native::CONTENT_TYPE,
            Some(kelp_wire::native::CONTENT_ENCODING),
            &body,
        )
        .map(drop)
    }

    /// Pushes `streams` as Promtail does (Loki's protobuf `PushRequest`, snappy block) to
    /// `/loki/api/v1/push` and returns once the server answered 2xx.
    pub fn push_loki(&self, streams: &[StreamEntries]) -> Result<(), ClientError> {
        let body = kelp_wire::encode_push_protobuf(streams);
        self.post(LOKI_PUSH_PATH, "application/x-protobuf", None, &body)
            .map(drop)
    }

    /// POSTs `body` to `path` with retries and returns the body of the 2xx answer.
    pub fn post(
        &self,
        path: &str,
        content_type: &str,
        content_encoding: Option<&str>,
        body: &[u8],
    ) -> Result<Vec<u8>, ClientError> {
        self.with_retries(path, || {
            let mut req = self
                .agent
                .post(format!("{}{path}", self.base))
                .header("Content-Type", content_type);
            if let Some(enc) = content_encoding {
                req = req.header("Content-Encoding", enc);
            }
            for (name, value) in &self.headers {
                req = req.header(name.as_str(), value.as_str());
            }
            req.send(body)
        })
    }

    /// Waits before retry number `attempt` (1 for the first), as the policy says; false
    /// when the client was stopped or the attempts ran out instead.
    pub fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> bool {
        let out_of_attempts = self.policy.max_attempts.is_some_and(|m| attempt >= m);
        if out_of_attempts || self.stop.load(Ordering::SeqCst) {
            return false;
        }
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(self.policy.backoff(attempt, retry_after, seed()));
        true
    }

    /// GETs `path_and_query` (which starts with `/`) and returns the body of a 2xx answer.
    pub fn get(&self, path_and_query: &str) -> Result<Vec<u8>, ClientError> {
        let path = path_and_query.split('?').next().unwrap_or_default();
        self.with_retries(path, || {
            let mut req = self.agent.get(format!("{}{path_and_query}", self.base));
            for (name, value) in &self.headers {
                req = req.header(name.as_str(), value.as_str());
            }
            req.call()
        })
    }

    /// [`Client::get`] with extra headers for this request only.
    pub fn get_with_headers(
        &self,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> Result<Vec<u8>, ClientError> {
        self.get_reply(path_and_query, headers)
            .map(|(body, _)| body)
    }

    /// [`Client::get_with_headers`], returning the answer's headers with its body (a
    /// server replica names itself in one).
    pub fn get_reply(
        &self,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> Result<(Vec<u8>, ureq::http::HeaderMap), ClientError> {
        let path = path_and_query.split('?').next().unwrap_or_default();
        self.with_retries_full(path, || {
            let mut req = self.agent.get(format!("{}{path_and_query}", self.base));
            for (name, value) in &self.headers {
                req = req.header(name.as_str(), value.as_str());
            }
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            req.call()
        })
    }

    fn with_retries(
        &self,
        path: &str,
        send: impl Fn() -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Vec<u8>, ClientError> {
        self.with_retries_full(path, send).map(|(body, _)| body)
    }

    fn with_retries_full(
        &self,
        path: &str,
        send: impl Fn() -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(Vec<u8>, ureq::http::HeaderMap), ClientError> {
        let mut attempts = 0;
        let mut jitter = seed();
        loop {
            attempts += 1;
            let (why, retry_after) = match classify(path, send(), &self.stats) {
                Attempt::Done(body, headers) => return Ok((body, headers)),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry { why, retry_after } => (why, retry_after),
            };
            let out_of_attempts = self.policy.max_attempts.is_some_and(|m| attempts >= m);
            if out_of_attempts || self.stop.load(Ordering::SeqCst) {
                return Err(ClientError::GaveUp {
                    path: path.to_owned(),
                    attempts,
                    last: why,
                });
            }
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            jitter ^= jitter << 13;
            jitter ^= jitter >> 7;
            jitter ^= jitter << 17;
            let wait = self.policy.backoff(attempts, retry_after, jitter);
            tracing::warn!(path, attempts, wait_ms = wait.as_millis() as u64, %why, "retrying");
            std::thread::sleep(wait);
        }
    }
}

fn classify(
    path: &str,
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    stats: &ClientStats,
) -> Attempt {
    let mut response = match result {
        Ok(r) => r,
        Err(e) => {
            stats.transport_errors.fetch_add(1, Ordering::Relaxed);
            return Attempt::Retry {
                why: e.to_string(),
                retry_after: None,
            };
        }
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = match response
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
    {
        Ok(b) => b,
        Err(e) => {
            stats.transport_errors.fetch_add(1, Ordering::Relaxed);
            return Attempt::Retry {
                why: format!("reading the answer: {e}"),
                retry_after: None,
            };
        }
    };
    let count = |c: &AtomicU64| c.fetch_add(1, Ordering::Relaxed);
    match status {
        200..=299 => Attempt::Done(body, std::mem::take(response.headers_mut())),
        429 | 500..=599 => {
            count(if matches!(status, 429 | 503) {
                &stats.throttled
            } else {
                &stats.server_errors
            });
            Attempt::Retry {
                why: format!("status {status}: {}", snippet(&body)),
                retry_after,
            }
        }
        _ => {
            count(&stats.rejected);
            Attempt::Fail(ClientError::Rejected {
                path: path.to_owned(),
                status,
                body: snippet(&body),
            })
        }
    }
}

fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(512)])
        .trim()
        .to_owned()
}

/// A jitter seed that differs between processes and calls, without a random crate.
fn seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish() | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_honours_retry_after() {
        let p = RetryPolicy::default();
        for jitter in [0, 7, u64::MAX] {
            let first = p.backoff(1, None, jitter);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let late = p.backoff(30, None, jitter);
            assert!(late >= Duration::from_secs(5) && late <= Duration::from_secs(10));
        }
        let after = Some(Duration::from_secs(2));
        assert_eq!(p.backoff(1, after, 3), Duration::from_secs(2));
        assert_eq!(
            p.backoff(1, Some(Duration::from_secs(999)), 3),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn rejects_bad_urls() {
        for url in ["ftp://x", "x:3100", "http://", "http:///p", "https://"] {
            assert!(Client::new(url, RetryPolicy::default()).is_err(), "{url}");
        }
        assert!(Client::new("http://127.0.0.1:3100/", RetryPolicy::default()).is_ok());
        assert!(Client::new("https://kelp.example:3100", RetryPolicy::default()).is_ok());
        // TLS files that are missing or hold no certificate are errors, not panics.
        let missing = TlsOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsOptions::default()
        };
        assert!(Client::with_tls("https://x", RetryPolicy::default(), &missing).is_err());
        let half = TlsOptions {
            cert_file: Some("/nonexistent/c.pem".into()),
            ..TlsOptions::default()
        };
        assert!(Client::with_tls("https://x", RetryPolicy::default(), &half).is_err());
    }

    #[test]
    fn gives_up_on_a_dead_server_when_told_to() {
        let policy = RetryPolicy {
            min_backoff: Duration::from_millis(1),
            max_attempts: Some(2),
            timeout: Duration::from_secs(2),
            ..RetryPolicy::default()
        };
        // Port 9 (discard) on localhost: nothing listens in a test sandbox.
        let c = Client::new("http://127.0.0.1:9", policy).unwrap();
        assert!(matches!(
            c.push_native(&[]),
            Err(ClientError::GaveUp { attempts: 2, .. })
        ));
    }
}
