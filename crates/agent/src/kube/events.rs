//! Kubernetes Events (`core/v1`, every namespace) as log entries, by the one agent that
//! holds the events Lease ([`super::lease`]).
//!
//! Stream: `{source="kubernetes-events", namespace, involved_kind, involved_name, reason,
//! type}` (the event's own name, a random suffix per event, is not a label: it would
//! make a stream per event). Time: the event's last occurrence (`series.lastObservedTime`,
//! `lastTimestamp`, `eventTime`, `firstTimestamp`, then its creation). Line, as `kubectl
//! get events` shows one: `<type> <reason> <kind>/<name>: <message>`, with ` (x<count>)`
//! once it repeated. Structured metadata: `event_uid`, `count`, `component` (who reported
//! it), `field_path` (the container it is about), when present.
//!
//! A repeated event is the same object with a higher count and a newer last time: each
//! occurrence the watch sees becomes an entry of its own (its time and count differ);
//! seeing the same state again (a relist, a new leader) makes an identical entry, which
//! the store drops. Deleted events (their TTL, an hour by default) are not entries.

use kelp_model::{Entry, LabelPair, Labels, StreamEntries, Timestamp};
use serde::Deserialize;

use super::api::Failed;
use super::ship::{Item, Shipper};
use super::watch::Handler;

/// The `source` label of event streams.
pub const SOURCE: &str = "kubernetes-events";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    #[serde(default)]
    metadata: Meta,
    #[serde(default)]
    involved_object: Involved,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    message: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    count: Option<i64>,
    #[serde(default)]
    first_timestamp: Option<String>,
    #[serde(default)]
    last_timestamp: Option<String>,
    #[serde(default)]
    event_time: Option<String>,
    #[serde(default)]
    series: Option<Series>,
    #[serde(default)]
    source: Source,
    #[serde(default)]
    reporting_component: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    creation_timestamp: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Involved {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    field_path: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Series {
    #[serde(default)]
    count: i64,
    #[serde(default)]
    last_observed_time: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct Source {
    #[serde(default)]
    component: String,
}

fn time(s: &Option<String>) -> Option<Timestamp> {
    Timestamp::parse_rfc3339(s.as_deref()?.as_bytes()).ok()
}

/// The entry for one event's state; `None` for an event without any time.
pub(crate) fn entry_of(v: serde_json::Value) -> Result<Option<StreamEntries>, Failed> {
    let ev: Event = serde_json::from_value(v).map_err(|e| Failed(format!("event: {e}")))?;
    let ts = ev
        .series
        .as_ref()
        .and_then(|s| time(&s.last_observed_time))
        .or_else(|| time(&ev.last_timestamp))
        .or_else(|| time(&ev.event_time))
        .or_else(|| time(&ev.first_timestamp))
        .or_else(|| time(&ev.metadata.creation_timestamp));
    let Some(ts) = ts else {
        return Ok(None);
    };
    let count = ev
        .series
        .as_ref()
        .map_or(ev.count.unwrap_or(1), |s| s.count);
    let ns = if ev.metadata.namespace.is_empty() {
        &ev.involved_object.namespace
    } else {
        &ev.metadata.namespace
    };
    let labels = Labels::from_pairs([
        ("source", SOURCE),
        ("namespace", ns.as_str()),
        ("involved_kind", ev.involved_object.kind.as_str()),
        ("involved_name", ev.involved_object.name.as_str()),
        ("reason", ev.reason.as_str()),
        ("type", ev.kind.as_str()),
    ])
    .map_err(|e| Failed(format!("event labels: {e}")))?;
    let mut line = format!(
        "{} {} {}/{}: {}",
        or_dash(&ev.kind),
        or_dash(&ev.reason),
        ev.involved_object.kind.to_lowercase(),
        ev.involved_object.name,
        ev.message.trim_end()
    );
    if count > 1 {
        line.push_str(&format!(" (x{count})"));
    }
    let component = if ev.reporting_component.is_empty() {
        &ev.source.component
    } else {
        &ev.reporting_component
    };
    let mut e = Entry::new(ts, line);
    for (name, value) in [
        ("event_uid", ev.metadata.uid.as_str()),
        ("count", &count.to_string()),
        ("component", component.as_str()),
        ("field_path", ev.involved_object.field_path.as_str()),
    ] {
        if !value.is_empty() {
            e.metadata.push(LabelPair {
                name: name.into(),
                value: value.into(),
            });
        }
    }
    Ok(Some(StreamEntries {
        labels,
        entries: vec![e],
    }))
}

/// [`entry_of`], an event it cannot read skipped with a warning (failing the watch would
/// only list it again, and again).
fn entry_or_skip(v: serde_json::Value) -> Option<StreamEntries> {
    match entry_of(v) {
        Ok(e) => e,
        Err(Failed(reason)) => {
            tracing::warn!(%reason, "kubernetes event skipped");
            None
        }
    }
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

/// The reflector's handler: every listed or changed event to the shipper, with the
/// version it brings the reader to.
pub(crate) struct Events {
    pub(crate) out: Shipper,
}

impl Events {
    fn queue(&self, streams: Vec<StreamEntries>, version: &str) -> Result<(), Failed> {
        let version = (!version.is_empty()).then(|| version.to_owned());
        if self.out.send(Item { streams, version }) {
            Ok(())
        } else {
            Err(Failed("the events sender has stopped".into()))
        }
    }
}

impl Handler for Events {
    fn listed(&mut self, items: Vec<serde_json::Value>, version: &str) -> Result<(), Failed> {
        let mut streams = Vec::new();
        for v in items {
            streams.extend(entry_or_skip(v));
        }
        tracing::info!(events = streams.len(), version, "listed kubernetes events");
        self.queue(streams, version)
    }

    fn event(
        &mut self,
        kind: &str,
        object: serde_json::Value,
        version: &str,
    ) -> Result<(), Failed> {
        let streams = match kind {
            "ADDED" | "MODIFIED" => entry_or_skip(object).into_iter().collect(),
            _ => Vec::new(), // DELETED (expired), BOOKMARK: only the version moves.
        };
        self.queue(streams, version)
    }
}

/// Starts the Lease elector's thread and the events watch, which lists and watches while
/// this agent leads; the elector's handle.
pub(crate) fn spawn(
    config: &super::KubeConfig,
    lease: super::LeaseConfig,
    sink: std::sync::Arc<dyn crate::sink::Sink>,
    stats: std::sync::Arc<crate::stats::Stats>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, crate::AgentError> {
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use super::lease::{Elector, Leadership};
    use super::ship::{lock, Acked};
    use super::watch::Reflector;

    // Short watches: a leader that lost the Lease notices at the latest when one ends.
    let timeout = config.watch_timeout.min(WATCH_TIMEOUT);
    let api = super::api::Api::new(config, timeout + Duration::from_secs(60))?;
    let acked = Acked::default();
    let out = super::ship::spawn(
        "kelp-agent-events-send",
        sink,
        acked.clone(),
        (stats.clone(), |s| &s.events_shipped),
        stop.clone(),
    )?;
    let lead = std::sync::Arc::new(Leadership::default());
    let reflector = Reflector {
        api,
        path: "/api/v1/events".into(),
        selector: None,
        watch_timeout: timeout,
    };
    let mut handler = Events { out };
    super::thread("kelp-agent-events", {
        let (lead, stop) = (lead.clone(), stop.clone());
        move || loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            if !lead.leading.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            let from = lock(&lead.resume).take();
            let go_on = || lead.leading.load(Ordering::SeqCst) && !stop.load(Ordering::SeqCst);
            reflector.run(&mut handler, from, &go_on);
        }
    })?;
    // A Lease request ends within a retry period: a holder cut off from the API server
    // notices before its renew deadline has long passed.
    let limit = lease.retry_period.max(Duration::from_secs(1));
    let elector = Elector::new(super::api::Api::bounded(config, limit)?, lease);
    super::thread("kelp-agent-lease", move || {
        super::lease::run(elector, &lead, &acked, &stats.events_leader, &stop)
    })
}

/// The longest events watch request.
pub const WATCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
