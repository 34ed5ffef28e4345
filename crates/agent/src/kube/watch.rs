//! The Kubernetes list/watch protocol, as client-go's reflector speaks it: list (paged
//! with `limit`/`continue`), then watch from the list's `resourceVersion` with bookmarks;
//! a watch that ends (the server's `timeoutSeconds`, a dropped connection) is started
//! again from the last version seen; `410 Gone` (as the watch response's status or as an
//! `ERROR` event: the version is older than the API server's window) means list again.
//! Errors back off from 1 s to 30 s. [`Reflector`] does this for any resource and hands
//! lists and events to a [`Handler`]; [`Watcher`] is the node's pods.

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::api::{Api, Failed};
use super::termination::Terminations;
use super::{KubeConfig, Pod, PodCache};
use crate::AgentError;

/// Objects per list page.
const PAGE: u32 = 500;

#[derive(Debug, Deserialize)]
struct List {
    metadata: ListMeta,
    #[serde(default)]
    items: Vec<serde_json::Value>,
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

/// What a reflector feeds.
pub(crate) trait Handler {
    /// A complete list, at `version`: it replaces what was known.
    fn listed(&mut self, items: Vec<serde_json::Value>, version: &str) -> Result<(), Failed>;
    /// A watch event (`ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`); `version` is the
    /// object's `resourceVersion`.
    fn event(&mut self, kind: &str, object: serde_json::Value, version: &str)
        -> Result<(), Failed>;
}

/// List and watch of one resource.
pub(crate) struct Reflector {
    pub(crate) api: Api,
    /// `/api/v1/pods`, `/api/v1/events`.
    pub(crate) path: String,
    /// Query parameters sent with every request (`fieldSelector=...`), encoded.
    pub(crate) selector: Option<String>,
    /// The server-side length of one watch.
    pub(crate) watch_timeout: Duration,
}

impl Reflector {
    fn url(&self, rest: &str) -> String {
        match &self.selector {
            Some(s) => format!("{}?{s}&{rest}", self.path),
            None => format!("{}?{rest}", self.path),
        }
    }

    /// Lists every page into `h`; the list's version.
    fn list(&self, h: &mut dyn Handler) -> Result<String, Failed> {
        let mut items = Vec::new();
        let mut next: Option<String> = None;
        let version = loop {
            let mut query = format!("limit={PAGE}");
            if let Some(c) = &next {
                query.push('&');
                query.push_str(&form_encode(&[("continue", c)]));
            }
            let resp = self.api.get(&self.url(&query))?;
            let status = resp.status().as_u16();
            if status != 200 {
                return Err(Failed(format!("list {}: HTTP {status}", self.path)));
            }
            let page: List = serde_json::from_reader(resp.into_body().into_reader())
                .map_err(|e| Failed(format!("list {}: {e}", self.path)))?;
            items.extend(page.items);
            match page.metadata.next.filter(|c| !c.is_empty()) {
                Some(c) => next = Some(c),
                None => break page.metadata.resource_version,
            }
        };
        tracing::debug!(path = self.path, items = items.len(), version, "listed");
        h.listed(items, &version)?;
        Ok(version)
    }

    /// Watches from `version`, handing events on while `go_on` holds, until the stream
    /// ends; `version` follows the events.
    fn watch(
        &self,
        h: &mut dyn Handler,
        version: &mut String,
        go_on: &dyn Fn() -> bool,
    ) -> Result<Ended, Failed> {
        let query = format!(
            "watch=1&allowWatchBookmarks=true&timeoutSeconds={}&{}",
            self.watch_timeout.as_secs().max(1),
            form_encode(&[("resourceVersion", version)])
        );
        let resp = self.api.get(&self.url(&query))?;
        match resp.status().as_u16() {
            200 => {}
            410 => return Ok(Ended::Gone),
            s => return Err(Failed(format!("watch {}: HTTP {s}", self.path))),
        }
        let reader = BufReader::new(resp.into_body().into_reader());
        for line in reader.lines() {
            let Ok(line) = line else {
                // A connection cut in the middle: watch again from where it was.
                return Ok(Ended::Closed);
            };
            if !go_on() {
                return Ok(Ended::Closed);
            }
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
            let v = event.object["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            h.event(&event.kind, event.object, &v)?;
            if !v.is_empty() {
                *version = v;
            }
        }
        Ok(Ended::Closed)
    }

    /// Lists (or, given `from`, watches from that version) and watches while `go_on`
    /// holds.
    pub(crate) fn run(&self, h: &mut dyn Handler, from: Option<String>, go_on: &dyn Fn() -> bool) {
        let mut version = from;
        let mut backoff = Duration::from_secs(1);
        while go_on() {
            let began = Instant::now();
            let step = match version.take() {
                None => self.list(h).map(Some),
                Some(mut v) => self.watch(h, &mut v, go_on).map(|ended| match ended {
                    Ended::Closed => {
                        // A server closing watches at once must not make a busy loop.
                        if began.elapsed() < Duration::from_secs(1) {
                            sleep_while(go_on, Duration::from_secs(1));
                        }
                        Some(v)
                    }
                    Ended::Gone => {
                        tracing::debug!(path = self.path, "watch: version gone, listing again");
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
                    tracing::warn!(path = self.path, %reason, "kubernetes watch failed; retrying");
                    sleep_while(go_on, backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}

/// Sleeps `d`, or less once `go_on` fails.
pub(crate) fn sleep_while(go_on: &dyn Fn() -> bool, d: Duration) {
    let until = Instant::now() + d;
    while go_on() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `name=value&...`, percent-encoded as a query string.
pub(crate) fn form_encode(pairs: &[(&str, &str)]) -> String {
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

/// The pod cache's side of the reflector, and the termination records.
struct Pods {
    cache: Arc<PodCache>,
    terminations: Option<Terminations>,
}

fn pod_of(v: serde_json::Value) -> Result<Pod, Failed> {
    serde_json::from_value(v).map_err(|e| Failed(format!("pod: {e}")))
}

impl Handler for Pods {
    fn listed(&mut self, items: Vec<serde_json::Value>, _: &str) -> Result<(), Failed> {
        let pods = items
            .into_iter()
            .map(pod_of)
            .collect::<Result<Vec<_>, _>>()?;
        self.cache.expire(Instant::now());
        self.cache.relisted(&pods, Instant::now());
        if let Some(t) = &mut self.terminations {
            for p in &pods {
                t.observe(p);
            }
        }
        Ok(())
    }

    fn event(&mut self, kind: &str, object: serde_json::Value, _: &str) -> Result<(), Failed> {
        if kind == "BOOKMARK" {
            return Ok(());
        }
        let pod = pod_of(object)?;
        self.cache.expire(Instant::now());
        match kind {
            "ADDED" | "MODIFIED" => self.cache.upsert(&pod),
            "DELETED" => self.cache.delete(&pod, Instant::now()),
            _ => return Ok(()),
        }
        if let Some(t) = &mut self.terminations {
            t.observe(&pod);
        }
        Ok(())
    }
}

/// One node's pods, listed and watched into a [`PodCache`].
pub struct Watcher {
    reflector: Reflector,
    pods: Pods,
}

impl Watcher {
    /// A watcher for `config` filling `cache`; reads the CA bundle.
    pub fn new(config: KubeConfig, cache: Arc<PodCache>) -> Result<Watcher, AgentError> {
        let api = Api::new(&config, config.watch_timeout + Duration::from_secs(60))?;
        let field = format!("spec.nodeName={}", config.node);
        Ok(Watcher {
            reflector: Reflector {
                api,
                path: "/api/v1/pods".into(),
                selector: Some(form_encode(&[("fieldSelector", &field)])),
                watch_timeout: config.watch_timeout,
            },
            pods: Pods {
                cache,
                terminations: None,
            },
        })
    }

    /// Also records containers' terminations (`kubernetes-termination` entries).
    pub(crate) fn with_terminations(mut self, t: Terminations) -> Watcher {
        self.pods.terminations = Some(t);
        self
    }

    /// Lists and watches until `stop` is set.
    pub fn run(&mut self, stop: &AtomicBool) {
        let go_on = || !stop.load(Ordering::SeqCst);
        self.reflector.run(&mut self.pods, None, &go_on);
    }
}
