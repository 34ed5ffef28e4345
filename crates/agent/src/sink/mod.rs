//! Where batches go. A [`Sink`] takes a batch and returns once it is acknowledged (durable
//! at the other end); only then do the batch's checkpoint marks apply.
//!
//! - `kelp`: Kelp's native push (protobuf + zstd, `/kelp/api/v1/push`), the default.
//! - `loki`: Loki's push (protobuf + snappy, `/loki/api/v1/push`); Loki, or `kelp server`.
//! - `elasticsearch`: `_bulk` NDJSON with the fields Fluent Bit's kubernetes filter
//!   writes; a batch is acknowledged once every item is (failed items are retried).
//! - `file` / `stdout`: JSON lines; a file is fsynced before the acknowledgement.
//! - `null`: acknowledges at once (benchmarks).
//!
//! `kelp` and `loki` take several servers (`http://a:3100,http://b:3100`, or
//! `dns+http://kelp-server-headless.kelp.svc:3100`): each stream then goes to the replica
//! that owns it, with failover ([`ReplicaSink`]).

mod es;
mod file;
mod replicas;

use std::path::PathBuf;
use std::sync::Arc;

use kelp_client::{Client, ClientStats, RetryPolicy};
use kelp_model::StreamEntries;
use serde::Deserialize;

use crate::AgentError;

pub use es::EsSink;
pub use file::{FileSink, StdoutSink};
pub use replicas::{Push, ReplicaSink};

/// Sends one batch and returns once it is acknowledged; an error is for good (the
/// retries, if any, are the sink's business).
pub trait Sink: Send + Sync {
    /// Delivers `streams`.
    fn send(&self, streams: &[StreamEntries]) -> Result<(), AgentError>;

    /// The HTTP client's counters, for sinks that have one.
    fn client_stats(&self) -> Option<Arc<ClientStats>> {
        None
    }

    /// Makes retry loops give up at their next wait (shutdown after a failure).
    fn stop(&self) {}
}

/// The kinds of sink (`--sink`, `sink.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// Kelp's native push.
    #[default]
    Kelp,
    /// Loki's protobuf push.
    Loki,
    /// Elasticsearch `_bulk`.
    Elasticsearch,
    /// JSON lines appended to a file, fsynced per batch.
    File,
    /// JSON lines on standard output.
    Stdout,
    /// Nothing; every batch is acknowledged at once.
    Null,
}

impl SinkKind {
    /// Parses a kind's name.
    pub fn parse(s: &str) -> Result<Self, AgentError> {
        Ok(match s {
            "kelp" => Self::Kelp,
            "loki" => Self::Loki,
            "elasticsearch" | "es" => Self::Elasticsearch,
            "file" => Self::File,
            "stdout" => Self::Stdout,
            "null" => Self::Null,
            _ => {
                return Err(AgentError::Config(format!(
                    "unknown sink {s:?} (kelp, loki, elasticsearch, file, stdout, null)"
                )))
            }
        })
    }

    /// The kind's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kelp => "kelp",
            Self::Loki => "loki",
            Self::Elasticsearch => "elasticsearch",
            Self::File => "file",
            Self::Stdout => "stdout",
            Self::Null => "null",
        }
    }
}

/// Which sink, and its settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkConfig {
    /// The kind (the base URL of `kelp`, `loki` and `elasticsearch` is the agent's
    /// `server`).
    pub kind: SinkKind,
    /// `X-Scope-OrgID` sent with every request, if set.
    pub tenant: Option<String>,
    /// zstd level of the native push.
    pub zstd_level: i32,
    /// The Elasticsearch index written to.
    pub es_index: String,
    /// The file the `file` sink appends to.
    pub path: Option<PathBuf>,
    /// A file holding the bearer token sent as `Authorization: Bearer <token>` (read at
    /// start; surrounding whitespace ignored).
    pub token_file: Option<PathBuf>,
    /// CA file and client certificate for an `https://` server.
    pub tls: kelp_client::TlsOptions,
}

impl Default for SinkConfig {
    fn default() -> Self {
        Self {
            kind: SinkKind::Kelp,
            tenant: None,
            zstd_level: kelp_wire::native::DEFAULT_LEVEL,
            es_index: "kelp".into(),
            path: None,
            token_file: None,
            tls: kelp_client::TlsOptions::default(),
        }
    }
}

/// The sender of one node's requests (its resource samples, its pod inventory) to the
/// replica that owns `key` among those of `server` (the next while it is down), with
/// `config`'s tenant, token and TLS.
///
/// # Errors
///
/// The token file cannot be read, or `server` is not a valid setting.
pub fn keyed_sender(
    server: &str,
    key: &str,
    policy: RetryPolicy,
    config: &SinkConfig,
) -> Result<kelp_client::replicas::KeyedSender, AgentError> {
    let headers = request_headers(config)?;
    let tls = config.tls.clone();
    Ok(kelp_client::replicas::KeyedSender::new(
        server,
        key,
        move |url| {
            let mut c = Client::with_tls(url, policy.clone(), &tls)?;
            for (name, value) in &headers {
                c = c.with_header(name, value);
            }
            Ok(c)
        },
    )?)
}

/// The headers every request to the server carries: `X-Scope-OrgID` when a tenant is
/// set, `Authorization: Bearer` when a token file is.
pub fn request_headers(config: &SinkConfig) -> Result<Vec<(&'static str, String)>, AgentError> {
    let mut h = Vec::new();
    if let Some(t) = &config.tenant {
        h.push(("X-Scope-OrgID", t.clone()));
    }
    if let Some(p) = &config.token_file {
        let text = std::fs::read_to_string(p)
            .map_err(|e| AgentError::Config(format!("token file {}: {e}", p.display())))?;
        let token = text.trim();
        if token.is_empty() || token.contains(char::is_whitespace) {
            return Err(AgentError::Config(format!(
                "token file {}: expected one token without spaces",
                p.display()
            )));
        }
        h.push(("Authorization", format!("Bearer {token}")));
    }
    Ok(h)
}

/// Builds the sink `config` names; `url` is the server's base URL (`http://host:port`).
pub fn build(
    config: &SinkConfig,
    url: &str,
    retry: &RetryPolicy,
) -> Result<Arc<dyn Sink>, AgentError> {
    let headers = match config.kind {
        SinkKind::Kelp | SinkKind::Loki | SinkKind::Elasticsearch => request_headers(config)?,
        SinkKind::File | SinkKind::Stdout | SinkKind::Null => Vec::new(),
    };
    let client = || -> Result<Client, AgentError> {
        let mut c = Client::with_tls(url, retry.clone(), &config.tls)?;
        for (name, value) in &headers {
            c = c.with_header(name, value);
        }
        Ok(c)
    };
    let push = match config.kind {
        SinkKind::Kelp => Some(Push::Native(config.zstd_level)),
        SinkKind::Loki => Some(Push::Loki),
        _ => None,
    };
    let source = push
        .map(|_| kelp_client::ReplicaSource::parse(url))
        .transpose()?
        .filter(kelp_client::ReplicaSource::is_replicated);
    if let (Some(push), Some(source)) = (push, source) {
        // Each replica's client gives up after a few quick attempts, so a dead replica's
        // streams fail over within about a second; the sink itself keeps trying.
        let per_replica = kelp_client::RetryPolicy {
            max_attempts: Some(3),
            max_backoff: retry.max_backoff.min(std::time::Duration::from_secs(1)),
            ..retry.clone()
        };
        let (tls, headers) = (config.tls.clone(), headers.clone());
        let replicas =
            kelp_client::Replicas::new(source, kelp_client::ReplicaOptions::default(), move |u| {
                let mut c = Client::with_tls(u, per_replica.clone(), &tls)?;
                for (name, value) in &headers {
                    c = c.with_header(name, value);
                }
                Ok(c)
            })?;
        return Ok(Arc::new(ReplicaSink::new(
            replicas,
            push,
            retry.max_attempts,
        )));
    }
    Ok(match config.kind {
        SinkKind::Kelp => Arc::new(KelpSink {
            client: client()?,
            level: config.zstd_level,
        }),
        SinkKind::Loki => Arc::new(LokiSink { client: client()? }),
        SinkKind::Elasticsearch => Arc::new(EsSink::new(client()?, &config.es_index)),
        SinkKind::File => {
            let path = config.path.as_ref().ok_or_else(|| {
                AgentError::Config("the file sink needs a path (sink.path, --sink-path)".into())
            })?;
            Arc::new(FileSink::open(path)?)
        }
        SinkKind::Stdout => Arc::new(StdoutSink),
        SinkKind::Null => Arc::new(NullSink),
    })
}

/// Kelp's native push.
pub struct KelpSink {
    client: Client,
    level: i32,
}

impl Sink for KelpSink {
    fn send(&self, streams: &[StreamEntries]) -> Result<(), AgentError> {
        Ok(self.client.push_native_level(streams, self.level)?)
    }
    fn client_stats(&self) -> Option<Arc<ClientStats>> {
        Some(self.client.stats())
    }
    fn stop(&self) {
        self.client.stop();
    }
}

/// Loki's protobuf push.
pub struct LokiSink {
    client: Client,
}

impl Sink for LokiSink {
    fn send(&self, streams: &[StreamEntries]) -> Result<(), AgentError> {
        Ok(self.client.push_loki(streams)?)
    }
    fn client_stats(&self) -> Option<Arc<ClientStats>> {
        Some(self.client.stats())
    }
    fn stop(&self) {
        self.client.stop();
    }
}

/// Acknowledges every batch at once.
pub struct NullSink;

impl Sink for NullSink {
    fn send(&self, _: &[StreamEntries]) -> Result<(), AgentError> {
        Ok(())
    }
}
