//! # kelp-cli
//!
//! The reading side of the command line: `kelp logs` (kubectl's flags and output, for
//! live and deleted pods alike), `kelp pods`, `kelp query`, `kelp labels` and `kelp series`
//! (logcli's habits). Everything goes through a Kelp server's HTTP API.
//!
//! - [`Conn`]: server, tenant and token from flags, `KELP_SERVER`, `KELP_TENANT`,
//!   `KELP_TOKEN` or the [`config`] file; typed helpers over `query_range`, `series`,
//!   `labels`; a [`term::Progress`] line for long reads.
//! - [`logs`]: `kelp logs` ([`logs::LogsArgs`], [`logs::run`]); `-f` reads the tail
//!   WebSocket ([`tail`]).
//! - [`pods`]: `kelp pods`.
//! - [`query`]: `kelp query`, `kelp labels`, `kelp series`.
//! - [`term`]: colour (`--color`, `NO_COLOR`) and the progress line.
//! - [`top`]: `kelp top node|pod` over the `metrics.k8s.io` API, with history.
//!
//! Exit codes: 0 success (also "no resources found", as kubectl); 1 any error, with the
//! message on stderr.

pub mod config;
pub mod logs;
pub mod pods;
pub mod query;
pub mod tail;
pub mod term;
pub mod top;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use kelp_client::{Client, RetryPolicy};
use kelp_model::Timestamp;

/// The most entries one `query_range` asks for (Loki's default `max_entries_limit_per_query`).
pub const PAGE: usize = 5000;

/// Connection and terminal flags shared by every reading command.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnArgs {
    /// The Kelp server [env: KELP_SERVER; default: the config file, else http://127.0.0.1:3100].
    #[arg(long, value_name = "URL", global = true)]
    pub server: Option<String>,
    /// Tenant, sent as X-Scope-OrgID [env: KELP_TENANT].
    #[arg(long, value_name = "ID", global = true)]
    pub tenant: Option<String>,
    /// Bearer token [env: KELP_TOKEN].
    #[arg(long, value_name = "TOKEN", global = true)]
    pub token: Option<String>,
    /// CA of an https:// server, PEM [env: KELP_CA_FILE; default: the Mozilla roots].
    #[arg(long, value_name = "PATH", global = true)]
    pub ca_file: Option<String>,
    /// Client certificate for mutual TLS, PEM [env: KELP_CERT_FILE].
    #[arg(long, value_name = "PATH", global = true)]
    pub cert_file: Option<String>,
    /// Key of the client certificate, PEM [env: KELP_KEY_FILE].
    #[arg(long, value_name = "PATH", global = true)]
    pub key_file: Option<String>,
    /// Config file [env: KELP_CONFIG; default: ~/.config/kelp/config.yaml].
    #[arg(long, value_name = "PATH", global = true)]
    pub config: Option<std::path::PathBuf>,
    /// Context of the config file [env: KELP_CONTEXT; default: its current-context].
    #[arg(long, value_name = "NAME", global = true)]
    pub context: Option<String>,
    /// Colour: auto (a terminal, NO_COLOR unset), always or never.
    #[arg(long, value_enum, default_value = "auto", global = true)]
    pub color: term::ColorMode,
}

/// One entry of a log query answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The stream's output labels (stream labels, structured metadata, parsed labels).
    pub labels: BTreeMap<String, String>,
    /// The entry's time.
    pub ts: i64,
    /// The line.
    pub line: String,
}

/// A connection to one server.
#[derive(Debug)]
pub struct Conn {
    client: Client,
    /// Where and as whom.
    pub settings: config::Resolved,
    /// The progress line of this command's reads.
    pub progress: term::Progress,
    /// Colour for stdout.
    pub paint: term::Paint,
}

impl Conn {
    /// From flags, then the environment, then the config file, then the default local
    /// server.
    pub fn new(args: &ConnArgs) -> anyhow::Result<Self> {
        let mut c = Self::with_settings(config::resolve(args)?)?;
        c.progress = term::Progress::new();
        c.paint = term::Paint::new(args.color.enabled());
        Ok(c)
    }

    /// A connection with resolved settings, without colour or progress line.
    pub fn with_settings(settings: config::Resolved) -> anyhow::Result<Self> {
        let policy = RetryPolicy {
            max_attempts: Some(3),
            timeout: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        let mut client = Client::with_tls(&settings.server, policy, &settings.tls)?;
        for (name, value) in settings.headers() {
            client = client.with_header(name, &value);
        }
        Ok(Self {
            client,
            settings,
            progress: term::Progress::with(false),
            paint: term::Paint::new(false),
        })
    }

    /// GETs `path` with the query `params` and parses the JSON answer's `data`.
    pub fn get(&self, path: &str, params: &[(&str, String)]) -> anyhow::Result<serde_json::Value> {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            q.append_pair(k, v);
        }
        let body = self
            .client
            .get(&format!("{path}?{}", q.finish()))
            .with_context(|| format!("asking {}", self.client.base()))?;
        self.progress.received(body.len(), 0);
        let v: serde_json::Value = serde_json::from_slice(&body)
            .with_context(|| format!("{path}: the server's answer is not JSON"))?;
        match v.get("data") {
            Some(d) => Ok(d.clone()),
            None => bail!("{path}: no data in the answer"),
        }
    }

    /// The raw JSON answer of `path`.
    pub fn get_raw(&self, path: &str, params: &[(&str, String)]) -> anyhow::Result<Vec<u8>> {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            q.append_pair(k, v);
        }
        let body = self
            .client
            .get(&format!("{path}?{}", q.finish()))
            .with_context(|| format!("asking {}", self.client.base()))?;
        self.progress.received(body.len(), 0);
        Ok(body)
    }

    /// One page of a log query over `[start, end)`: at most `limit` entries in
    /// `direction` order (`forward` or `backward`).
    pub fn log_page(
        &self,
        query: &str,
        (start, end): (i64, i64),
        limit: usize,
        forward: bool,
    ) -> anyhow::Result<Vec<LogLine>> {
        let data = self.get(
            "/loki/api/v1/query_range",
            &[
                ("query", query.to_owned()),
                ("start", start.to_string()),
                ("end", end.to_string()),
                ("limit", limit.to_string()),
                (
                    "direction",
                    if forward { "forward" } else { "backward" }.into(),
                ),
            ],
        )?;
        if data["resultType"] != "streams" {
            bail!("not a log query: {query}");
        }
        let mut out = Vec::new();
        for s in data["result"].as_array().into_iter().flatten() {
            let labels = string_map(&s["stream"]);
            for v in s["values"].as_array().into_iter().flatten() {
                let ts = v[0]
                    .as_str()
                    .and_then(|t| t.parse::<i64>().ok())
                    .context("a value without a timestamp")?;
                let line = v[1].as_str().unwrap_or_default().to_owned();
                out.push(LogLine {
                    labels: labels.clone(),
                    ts,
                    line,
                });
            }
        }
        self.progress.received(0, out.len());
        // Streams come one after the other: merge them in time order (stable for ties).
        if forward {
            out.sort_by_key(|l| l.ts);
        } else {
            out.sort_by_key(|l| std::cmp::Reverse(l.ts));
        }
        Ok(out)
    }

    /// Every entry of a log query over `[start, end)` oldest first, page by page; `each`
    /// returns `false` to stop.
    pub fn log_all(
        &self,
        query: &str,
        (mut start, end): (i64, i64),
        mut each: impl FnMut(&LogLine) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        // Entries at the last page's last timestamp already given: skipped when the next
        // page starts at that timestamp again (`start` is inclusive).
        let mut seen_at_edge: Vec<(BTreeMap<String, String>, String)> = Vec::new();
        loop {
            let page = self.log_page(query, (start, end), PAGE, true)?;
            let full = page.len() == PAGE;
            let Some(last_ts) = page.last().map(|l| l.ts) else {
                return Ok(());
            };
            let mut edge = Vec::new();
            for l in &page {
                if l.ts == start && take_seen(&mut seen_at_edge, l) {
                    continue;
                }
                if l.ts == last_ts {
                    edge.push((l.labels.clone(), l.line.clone()));
                }
                if !each(l)? {
                    return Ok(());
                }
            }
            if !full {
                return Ok(());
            }
            if page.first().map(|l| l.ts) == Some(last_ts) {
                // A whole page at one timestamp: the next page would give the same lines
                // again. Step past it; more than a page of lines sharing one nanosecond
                // is beyond what one query can page through.
                eprintln!(
                    "kelp: more than {PAGE} lines at {}: the rest of them are skipped",
                    Timestamp::from_unix_nanos(last_ts).to_rfc3339_nano()
                );
                seen_at_edge.clear();
                start = last_ts + 1;
            } else {
                seen_at_edge = edge;
                start = last_ts;
            }
        }
    }

    /// Label sets of the series matching `selector` in `[start, end)`.
    pub fn series(
        &self,
        selector: &str,
        (start, end): (i64, i64),
    ) -> anyhow::Result<Vec<BTreeMap<String, String>>> {
        let data = self.get(
            "/loki/api/v1/series",
            &[
                ("match[]", selector.to_owned()),
                ("start", start.to_string()),
                ("end", end.to_string()),
            ],
        )?;
        Ok(data
            .as_array()
            .into_iter()
            .flatten()
            .map(string_map)
            .collect())
    }
}

/// Removes one entry equal to `l` from `seen`; whether there was one.
fn take_seen(seen: &mut Vec<(BTreeMap<String, String>, String)>, l: &LogLine) -> bool {
    match seen
        .iter()
        .position(|(a, b)| *a == l.labels && *b == l.line)
    {
        Some(i) => {
            seen.swap_remove(i);
            true
        }
        None => false,
    }
}

pub(crate) fn string_map(v: &serde_json::Value) -> BTreeMap<String, String> {
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect()
}

/// Now, in Unix nanoseconds.
pub fn now_ns() -> i64 {
    Timestamp::now().as_unix_nanos()
}

/// A LogQL string literal of `s`.
pub fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// The canonical text of a label set: `{a="1", b="2"}`.
pub fn labels_text(l: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect();
    format!("{{{}}}", inner.join(", "))
}
