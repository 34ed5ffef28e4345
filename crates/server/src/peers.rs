//! Replicas (issue #11): several `kelp server` processes, each with its own WAL and head,
//! behind agents that spread streams over them (`kelp_client::replicas`). A read on any
//! replica asks its peers for what they hold, in parallel, and merges it with its own
//! answer (`routes/query.rs`, `routes/labels.rs`), dropping identical entries.
//!
//! A peer is asked with the same Loki route and parameters plus [`LOCAL_HEADER`] (answer
//! from your own data, do not ask your peers), the tenant in `X-Scope-OrgID`, the caller's
//! namespace scope in [`NAMESPACES_HEADER`] and the peer token as its bearer token
//! (`replicas.peer_token_file`; `auth.rs` accepts it only with [`LOCAL_HEADER`], for
//! reads). A peer that cannot answer (refused, timeout, an error status) leaves the answer
//! incomplete but still 200: its URL goes into Loki's `warnings` (Grafana shows them), the
//! [`MISSING_HEADER`] response header and `kelp_replica_peer_failures_total`.
//!
//! The HTTP client is `kelp-client` (blocking `ureq`) on the blocking pool, one call per
//! peer at the same time. With a shared bucket, peers name themselves in their answers
//! and replicas that did not answer are read from the bucket (`fallback.rs`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use kelp_client::{Client, ReplicaOptions, ReplicaSource, Replicas, RetryPolicy};
use kelp_model::TenantId;

use crate::auth::Access;
use crate::config::ReplicasSection;
use crate::error::ConfigError;

/// Sent to peers: answer from local data only.
pub const LOCAL_HEADER: &str = "x-kelp-local";
/// Sent to peers: the namespaces the caller may read, comma-separated.
pub const NAMESPACES_HEADER: &str = "x-kelp-namespaces";
/// In answers: the peers that did not answer, comma-separated.
pub const MISSING_HEADER: &str = "x-kelp-missing-replicas";

/// The other replicas, and counters of their failures.
pub struct Peers {
    replicas: Replicas,
    self_url: Option<String>,
    token: Option<String>,
    requests: AtomicU64,
    failures: Mutex<BTreeMap<String, u64>>,
}

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peers")
            .field("replicas", &self.replicas)
            .field("self_url", &self.self_url)
            .finish_non_exhaustive()
    }
}

/// What the peers answered.
#[derive(Debug, Default)]
pub struct Answers {
    /// The bodies of the peers that answered 2xx, with their URL.
    pub bodies: Vec<(String, Vec<u8>)>,
    /// The peers that did not, with the reason.
    pub missing: Vec<(String, String)>,
    /// The replica names peers gave in their answers ([`crate::fallback::REPLICA_HEADER`]),
    /// with their URL.
    pub names: Vec<(String, String)>,
    /// The replicas read from the bucket instead (`fallback.rs`).
    pub from_bucket: Vec<String>,
    /// The replicas in the bucket that could not be read there either, with the reason.
    pub bucket_failed: Vec<(String, String)>,
}

impl Answers {
    /// The replica names of the peers whose answers are used (not in `missing`).
    pub fn answered(&self) -> Vec<String> {
        self.names
            .iter()
            .filter(|(url, _)| !self.missing.iter().any(|(m, _)| m == url))
            .map(|(_, name)| name.clone())
            .collect()
    }

    /// Loki's `warnings`: one per missing peer, per replica read from the bucket instead
    /// and per replica that could not be read there either.
    pub fn warnings(&self) -> Vec<String> {
        let missing = self.missing.iter().map(|(url, why)| {
            format!("replica {url} unreachable, results may be incomplete: {why}")
        });
        let read = self.from_bucket.iter().map(|name| {
            format!(
                "replica {name} did not answer: its data in the bucket was read instead \
                 (entries it had not flushed yet are missing until it is back)"
            )
        });
        let failed = self.bucket_failed.iter().map(|(name, why)| {
            format!("replica {name} did not answer and its bucket data could not be read: {why}")
        });
        missing.chain(read).chain(failed).collect()
    }

    /// Adds [`MISSING_HEADER`] to `headers` when a peer is missing, and
    /// [`crate::fallback::BUCKET_HEADER`] when replicas were read from the bucket.
    pub fn mark(&self, headers: &mut HeaderMap) {
        let mut set = |name: &'static str, values: Vec<&str>| {
            if values.is_empty() {
                return;
            }
            if let Ok(v) = HeaderValue::from_str(&values.join(",")) {
                headers.insert(name, v);
            }
        };
        set(
            MISSING_HEADER,
            self.missing.iter().map(|(u, _)| u.as_str()).collect(),
        );
        set(
            crate::fallback::BUCKET_HEADER,
            self.from_bucket.iter().map(String::as_str).collect(),
        );
    }

    /// Whether the answer lacks anything: a peer missing or a replica read from the
    /// bucket.
    pub fn incomplete(&self) -> bool {
        !self.missing.is_empty() || !self.from_bucket.is_empty() || !self.bucket_failed.is_empty()
    }
}

impl Peers {
    /// The peers of `section`, or `None` when it names none.
    pub fn from_config(section: &ReplicasSection) -> Result<Option<Arc<Self>>, ConfigError> {
        let invalid = |key, reason: String| ConfigError::Invalid { key, reason };
        let Some(spec) = section.peers.as_deref().filter(|s| !s.trim().is_empty()) else {
            return Ok(None);
        };
        let source =
            ReplicaSource::parse(spec).map_err(|e| invalid("replicas.peers", e.to_string()))?;
        let token = match &section.peer_token_file {
            None => None,
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    invalid("replicas.peer_token_file", format!("{}: {e}", p.display()))
                })?;
                let t = text.trim().to_owned();
                if t.is_empty() || t.contains(char::is_whitespace) {
                    return Err(invalid(
                        "replicas.peer_token_file",
                        format!("{}: expected one token without spaces", p.display()),
                    ));
                }
                Some(t)
            }
        };
        let policy = RetryPolicy {
            max_attempts: Some(1),
            timeout: Duration::from_secs(section.timeout_secs.max(1)),
            ..RetryPolicy::default()
        };
        let replicas = Replicas::new(
            source,
            ReplicaOptions {
                refresh: Duration::from_secs(10),
                ..ReplicaOptions::default()
            },
            move |u| Client::new(u, policy.clone()),
        )
        .map_err(|e| invalid("replicas.peers", e.to_string()))?;
        Ok(Some(Arc::new(Self {
            replicas,
            self_url: section
                .self_url
                .as_deref()
                .map(|u| u.trim_end_matches('/').to_owned()),
            token,
            requests: AtomicU64::new(0),
            failures: Mutex::new(BTreeMap::new()),
        })))
    }

    /// Whether there is certainly no other replica (a static list naming only this one):
    /// reads need no merging then.
    pub fn is_alone(&self) -> bool {
        match self.replicas.source() {
            ReplicaSource::Static(urls) => urls
                .iter()
                .all(|u| Some(u.as_str()) == self.self_url.as_deref()),
            ReplicaSource::Dns { .. } => false,
        }
    }

    /// The peer token, for `auth.rs`.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The other replicas now (listing may resolve a DNS name: on the blocking pool).
    pub async fn others(self: &Arc<Self>) -> Vec<Arc<kelp_client::replicas::Replica>> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.replicas.members())
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| Some(r.url()) != self.self_url.as_deref())
            .collect()
    }

    /// The headers of a request to a peer for `access`: [`LOCAL_HEADER`], the tenant, the
    /// namespace scope, categorized labels and the peer token.
    pub fn request_headers(&self, access: &Access) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = vec![
            (LOCAL_HEADER.into(), "1".into()),
            // Log answers with metadata and parsed labels apart, as the engine gives them.
            (
                "X-Loki-Response-Encoding-Flags".into(),
                kelp_wire::response::CATEGORIZE_LABELS.into(),
            ),
            ("X-Scope-OrgID".into(), access.tenant.as_str().to_owned()),
        ];
        if let Some(ns) = &access.namespaces {
            headers.push((NAMESPACES_HEADER.into(), ns.join(",")));
        }
        if let Some(t) = &self.token {
            headers.push(("Authorization".into(), format!("Bearer {t}")));
        }
        headers
    }

    /// Counts a request to a peer, and a failure of it.
    pub fn count(&self, url: &str, failed: bool) {
        self.requests.fetch_add(1, Relaxed);
        if failed {
            *self
                .failures
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(url.to_owned())
                .or_default() += 1;
        }
    }

    /// GETs `path_and_query` from every peer at the same time, for `access`'s tenant and
    /// namespaces.
    pub async fn get(self: &Arc<Self>, access: &Access, path_and_query: String) -> Answers {
        let members = self.others().await;
        let headers = Arc::new(self.request_headers(access));
        let calls: Vec<_> = members
            .into_iter()
            .map(|r| {
                let (headers, path) = (headers.clone(), path_and_query.clone());
                tokio::task::spawn_blocking(move || {
                    let h: Vec<(&str, &str)> = headers
                        .iter()
                        .map(|(n, v)| (n.as_str(), v.as_str()))
                        .collect();
                    (r.url().to_owned(), r.client().get_reply(&path, &h))
                })
            })
            .collect();
        let mut out = Answers::default();
        for call in calls {
            let Ok((url, result)) = call.await else {
                continue; // the blocking pool is shutting down
            };
            self.count(&url, result.is_err());
            match result {
                Ok((body, headers)) => {
                    let name = headers
                        .get(crate::fallback::REPLICA_HEADER)
                        .and_then(|v| v.to_str().ok());
                    if let Some(name) = name {
                        out.names.push((url.clone(), name.to_owned()));
                    }
                    out.bodies.push((url, body));
                }
                Err(e) => {
                    tracing::warn!(peer = %url, error = %e, "replica did not answer");
                    out.missing.push((url, e.to_string()));
                }
            }
        }
        out
    }

    /// The peers' counters in Prometheus' text format.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "# HELP kelp_replica_peer_requests_total Reads asked of peer replicas.\n# TYPE kelp_replica_peer_requests_total counter\nkelp_replica_peer_requests_total {}",
            self.requests.load(Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP kelp_replica_peer_failures_total Reads a peer replica did not answer (the answer said which replica was missing).\n# TYPE kelp_replica_peer_failures_total counter"
        );
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for (url, n) in failures.iter() {
            let _ = writeln!(o, "kelp_replica_peer_failures_total{{peer=\"{url}\"}} {n}");
        }
        o
    }
}

/// `r` with `answers`' missing peers (and bucket reads) named in its headers; `r` as it is
/// without peers.
pub fn marked(
    mut r: axum::response::Response,
    answers: Option<Answers>,
) -> axum::response::Response {
    if let Some(a) = answers {
        a.mark(r.headers_mut());
    }
    r
}

/// Whether a request is a peer's (answer from local data only).
pub fn is_local(headers: &HeaderMap) -> bool {
    headers.contains_key(LOCAL_HEADER)
}

/// The tenant of a peer's request, for `auth.rs`.
pub fn peer_tenant(headers: &HeaderMap) -> Option<TenantId> {
    let v = headers.get("x-scope-orgid")?.to_str().ok()?;
    TenantId::parse(v.trim()).ok()
}

/// The namespaces of a peer's request, for `auth.rs`.
pub fn peer_namespaces(headers: &HeaderMap) -> Option<Arc<[String]>> {
    let v = headers.get(NAMESPACES_HEADER)?.to_str().ok()?;
    Some(v.split(',').map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answered_names_leave_out_peers_whose_answer_was_unusable() {
        let a = Answers {
            names: vec![
                ("http://a".into(), "r0".into()),
                ("http://b".into(), "r1".into()),
            ],
            missing: vec![("http://b".into(), "no JSON".into())],
            from_bucket: vec!["r1".into(), "r2".into()],
            ..Answers::default()
        };
        assert_eq!(a.answered(), ["r0"]);
        assert!(a.incomplete());
        let w = a.warnings();
        assert_eq!(w.len(), 3);
        assert!(
            w[0].contains("http://b") && w[2].contains("replica r2"),
            "{w:?}"
        );
        let mut h = HeaderMap::new();
        a.mark(&mut h);
        assert_eq!(h[MISSING_HEADER], "http://b");
        assert_eq!(h[crate::fallback::BUCKET_HEADER], "r1,r2");
        assert!(!Answers::default().incomplete());
    }
}
