//! The Kubernetes list/watch protocol for the node's pods, as client-go's reflector
//! speaks it: list (paged with `limit`/`continue`), then watch from the list's
//! `resourceVersion` with bookmarks; a watch that ends (the server's `timeoutSeconds`, a
//! dropped connection) is started again from the last version seen; `410 Gone` (as the
//! watch response's status or as an `ERROR` event: the version is older than the API
//! server's window) means list again. Errors back off from 1 s to 30 s.

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{KubeConfig, Node, NodeInfo, Pod, PodCache};
use crate::AgentError;

/// Pods per list page.
const PAGE: u32 = 500;

#[derive(Debug, Deserialize)]
struct PodList {
    metadata: ListMeta,
    #[serde(default)]
    items: Vec<Pod>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListMeta {
    #[serde(default)]
    resource_version: String,
    #[serde(default, rename = "continue")]
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WatchEvent {
    #[serde(rename = "type")]
    kind: String,
    object: serde_json::Value,
}

/// Why a watch ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// The stream closed: watch again from the last version.
    Closed,
    /// 410 Gone: list again.
    Gone,
}

/// A failed request.
#[derive(Debug)]
struct Failed(String);

/// One node's pods, listed and watched into a [`PodCache`].
pub struct Watcher {
    config: KubeConfig,
    agent: ureq::Agent,
    cache: Arc<PodCache>,
}

impl Watcher {
    /// A watcher for `config` filling `cache`; reads the CA bundle.
    pub fn new(config: KubeConfig, cache: Arc<PodCache>) -> Result<Watcher, AgentError> {
        let mut builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_recv_body(Some(config.watch_timeout + Duration::from_secs(60)));
        if let Some(ca) = &config.ca_file {
            let pem = std::fs::read(ca).map_err(|source| AgentError::Io {
                path: ca.clone(),
                source,
            })?;
            let mut certs = Vec::new();
            for item in ureq::tls::parse_pem(&pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                    Ok(_) => {}
                    Err(e) => {
                        return Err(AgentError::Config(format!("{}: {e}", ca.display())));
                    }
                }
            }
            builder = builder.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)))
                    .build(),
            );
        }
        Ok(Watcher {
            agent: builder.build().into(),
            config,
            cache,
        })
    }

    fn selector(&self) -> String {
        let field = format!("spec.nodeName={}", self.config.node);
        form_encode(&[("fieldSelector", &field)])
    }

    fn get(&self, query: &str) -> Result<ureq::http::Response<ureq::Body>, Failed> {
        self.get_path(&format!("/api/v1/pods?{query}"))
    }

    fn get_path(&self, path: &str) -> Result<ureq::http::Response<ureq::Body>, Failed> {
        let url = format!("{}{path}", self.config.api_server);
        let mut req = self.agent.get(&url).header("Accept", "application/json");
        if let Some(file) = &self.config.token_file {
            // Read at every request: the kubelet rotates projected tokens.
            let token = std::fs::read_to_string(file)
                .map_err(|e| Failed(format!("{}: {e}", file.display())))?;
            req = req.header("Authorization", format!("Bearer {}", token.trim()));
        }
        req.call().map_err(|e| Failed(format!("GET {url}: {e}")))
    }

    /// Lists the node's pods (every page) into the cache; the list's version.
    fn list(&mut self) -> Result<String, Failed> {
        let mut pods = Vec::new();
        let mut next: Option<String> = None;
        let version = loop {
            let mut query = format!("{}&limit={PAGE}", self.selector());
            if let Some(c) = &next {
                query.push('&');
                query.push_str(&form_encode(&[("continue", c)]));
            }
            let resp = self.get(&query)?;
            let status = resp.status().as_u16();
            if status != 200 {
                return Err(Failed(format!("list: HTTP {status}")));
            }
            let page: PodList = serde_json::from_reader(resp.into_body().into_reader())
                .map_err(|e| Failed(format!("list: {e}")))?;
            pods.extend(page.items);
            match page.metadata.next.filter(|c| !c.is_empty()) {
                Some(c) => next = Some(c),
                None => break page.metadata.resource_version,
            }
        };
        self.cache.relisted(&pods, Instant::now());
        tracing::debug!(pods = pods.len(), version, "listed the node's pods");
        Ok(version)
    }

    /// Watches from `version`, applying events, until the stream ends; `version` follows
    /// the events.
    fn watch(&mut self, version: &mut String) -> Result<Ended, Failed> {
        let query = format!(
            "{}&watch=1&allowWatchBookmarks=true&timeoutSeconds={}&{}",
            self.selector(),
            self.config.watch_timeout.as_secs().max(1),
            form_encode(&[("resourceVersion", version)])
        );
        let resp = self.get(&query)?;
        match resp.status().as_u16() {
            200 => {}
            410 => return Ok(Ended::Gone),
            s => return Err(Failed(format!("watch: HTTP {s}"))),
        }
        let reader = BufReader::new(resp.into_body().into_reader());
        for line in reader.lines() {
            let Ok(line) = line else {
                // A connection cut in the middle: watch again from where it was.
                return Ok(Ended::Closed);
            };
            if line.trim().is_empty() {
                continue;
            }
            let event: WatchEvent =
                serde_json::from_str(&line).map_err(|e| Failed(format!("watch event: {e}")))?;
            if event.kind == "ERROR" {
                let code = event.object.get("code").and_then(|c| c.as_u64());
                if code == Some(410) {
                    return Ok(Ended::Gone);
                }
                return Err(Failed(format!("watch error: {}", event.object)));
            }
            let pod: Pod = serde_json::from_value(event.object)
                .map_err(|e| Failed(format!("watch {}: {e}", event.kind)))?;
            match event.kind.as_str() {
                "ADDED" | "MODIFIED" => self.cache.upsert(&pod),
                "DELETED" => self.cache.delete(&pod, Instant::now()),
                _ => {} // BOOKMARK: only the version moves.
            }
            if !pod.metadata.resource_version.is_empty() {
                *version = pod.metadata.resource_version;
            }
        }
        Ok(Ended::Closed)
    }

    /// Reads the agent's Node object into the cache.
    fn read_node(&self) -> Result<(), Failed> {
        let path = format!("/api/v1/nodes/{}", path_segment(&self.config.node));
        let resp = self.get_path(&path)?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(Failed(format!("GET {path}: HTTP {status}")));
        }
        let node: Node = serde_json::from_reader(resp.into_body().into_reader())
            .map_err(|e| Failed(format!("GET {path}: {e}")))?;
        self.cache.set_node(NodeInfo::of(&node));
        Ok(())
    }

    /// Reads the Node object every `every` until `stop` is set (failures are logged and
    /// retried at the next turn; the last good read is kept).
    pub fn run_node(&self, stop: &AtomicBool, every: Duration) {
        let mut warned = false;
        while !stop.load(Ordering::SeqCst) {
            match self.read_node() {
                Ok(()) => warned = false,
                Err(Failed(reason)) if !warned => {
                    tracing::warn!(%reason, "cannot read the node object; percentages use /proc's capacity");
                    warned = true;
                }
                Err(Failed(reason)) => tracing::debug!(%reason, "node object read failed again"),
            }
            sleep_unless(stop, every);
        }
    }

    /// Lists and watches until `stop` is set.
    pub fn run(&mut self, stop: &AtomicBool) {
        let mut version: Option<String> = None;
        let mut backoff = Duration::from_secs(1);
        while !stop.load(Ordering::SeqCst) {
            self.cache.expire(Instant::now());
            let began = Instant::now();
            let step = match version.take() {
                None => self.list().map(Some),
                Some(mut v) => self.watch(&mut v).map(|ended| match ended {
                    Ended::Closed => {
                        // A server closing watches at once must not make a busy loop.
                        if began.elapsed() < Duration::from_secs(1) {
                            sleep_unless(stop, Duration::from_secs(1));
                        }
                        Some(v)
                    }
                    Ended::Gone => {
                        tracing::debug!("watch: resource version gone, listing again");
                        None
                    }
                }),
            };
            match step {
                Ok(next) => {
                    version = next;
                    backoff = Duration::from_secs(1);
                }
                Err(Failed(reason)) => {
                    tracing::warn!(%reason, "kubernetes pod watch failed; retrying");
                    sleep_unless(stop, backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}

fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::SeqCst) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A path segment, percent-encoded (node names are DNS subdomains; this is a safety net).
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `name=value&...`, percent-encoded as a query string.
fn form_encode(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// How long [`spawn`] waits for the first list, so that the lines read at start carry
/// their pods' labels (an unreachable API only delays the start by this much).
pub const FIRST_LIST_WAIT: Duration = Duration::from_secs(5);

/// Starts the watch thread and waits up to [`FIRST_LIST_WAIT`] for its first list; the
/// cache it fills. The thread is not joined: it may be waiting on a watch, and it holds
/// nothing that needs closing.
pub fn spawn(config: KubeConfig, stop: Arc<AtomicBool>) -> Result<Arc<PodCache>, AgentError> {
    let cache = Arc::new(PodCache::new(
        config.pod_labels.clone(),
        config.keep_deleted,
    ));
    let mut watcher = Watcher::new(config, cache.clone())?;
    std::thread::Builder::new()
        .name("kelp-agent-kube".into())
        .spawn(move || watcher.run(&stop))
        .map_err(|source| AgentError::Io {
            path: "kelp-agent-kube thread".into(),
            source,
        })?;
    let until = Instant::now() + FIRST_LIST_WAIT;
    while !cache.listed() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    if !cache.listed() {
        tracing::warn!("no list of the node's pods yet; reading without their labels meanwhile");
    }
    Ok(cache)
}

/// How often [`spawn_node`] reads the Node object again.
pub const NODE_EVERY: Duration = Duration::from_secs(60);

/// Starts a thread reading the agent's Node object (labels, allocatable) into `cache`
/// every [`NODE_EVERY`], and waits up to [`FIRST_LIST_WAIT`] for its first read.
pub fn spawn_node(
    config: KubeConfig,
    cache: Arc<PodCache>,
    stop: Arc<AtomicBool>,
) -> Result<(), AgentError> {
    let watcher = Watcher::new(config, cache.clone())?;
    std::thread::Builder::new()
        .name("kelp-agent-node".into())
        .spawn(move || watcher.run_node(&stop, NODE_EVERY))
        .map_err(|source| AgentError::Io {
            path: "kelp-agent-node thread".into(),
            source,
        })?;
    let until = Instant::now() + FIRST_LIST_WAIT;
    while cache.node().is_none() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
