//! The current figures metrics-server would serve, at any time `at`: per node and per
//! container, the last two samples at or before `at` and metrics-server's rate rules
//! (`kelp_metrics::rate::rate`; a zero CPU or memory drops the point, a pod is listed
//! only when all its containers have a rate; its timestamp and window are its earliest
//! container's).
//!
//! metrics-server forgets what its last scrape did not return. Kelp keeps history, so a
//! series counts at `at` only while fresh: its newest sample at or before `at` is at most
//! [`stale_after`] old.

use std::collections::BTreeMap;

use kelp_metrics::rate::{self, PodRate, Point, Rate};
use kelp_model::{GoDuration, Timestamp};
use kelp_series::{Kind, Sample, SeriesKey};

use super::{series_error, Resources};
use crate::error::ApiError;

/// How long after its newest sample a series still counts: three of its own collection
/// intervals, at least 5 s (a collection missed or late is tolerated; a deleted pod
/// disappears within three intervals).
pub fn stale_after(last: &Sample, prev: &Sample) -> i64 {
    (3 * (last.t - prev.t)).max(5_000_000_000)
}

/// A pod's rates and its labels.
pub type LabeledPod = (PodRate, BTreeMap<String, String>);

/// A fresh container series: its key, last and previous samples.
type Fresh = (SeriesKey, Sample, Sample);

/// The last two samples of `key` at or before `at`, if fresh.
fn last_two(
    res: &Resources,
    key: &SeriesKey,
    at: i64,
    now: i64,
) -> Result<Option<(Sample, Sample)>, ApiError> {
    let s = res.store.last(key, at, 2, now).map_err(series_error)?;
    let [prev, last] = s[..] else {
        return Ok(None);
    };
    Ok((at - last.t <= stale_after(&last, &prev)).then_some((last, prev)))
}

fn point(s: &Sample, start: i64) -> Point {
    Point {
        start_time: Timestamp(start),
        timestamp: Timestamp(s.t),
        cpu_ns: s.cpu_ns,
        memory: s.memory,
    }
}

/// metrics-server's decoding rule: a zero CPU or memory is no point.
fn usable(s: &Sample) -> bool {
    s.cpu_ns != 0 && s.memory != 0
}

/// A rate from `key`'s last two samples at `at`.
fn rate_of(res: &Resources, key: &SeriesKey, at: i64, now: i64) -> Result<Option<Rate>, ApiError> {
    let Some((last, prev)) = last_two(res, key, at, now)? else {
        return Ok(None);
    };
    if !usable(&last) || !usable(&prev) {
        return Ok(None);
    }
    let start = res.start_time(key).unwrap_or(0);
    Ok(rate::rate(&point(&last, start), &point(&prev, start)).ok())
}

/// A node's name, rate and labels.
pub type LabeledNode = (String, Rate, BTreeMap<String, String>);

/// Every node with a rate at `at`, by name, with its labels.
///
/// # Errors
///
/// The store's read errors (500).
pub fn nodes(
    res: &Resources,
    tenant: &str,
    at: i64,
    now: i64,
) -> Result<Vec<LabeledNode>, ApiError> {
    let keys = res
        .store
        .series(|k| k.tenant == tenant && k.kind == Kind::Node);
    let mut out = Vec::new();
    for k in keys {
        if let Some(r) = rate_of(res, &k, at, now)? {
            out.push((k.node.clone(), r, res.labels(&k)));
        }
    }
    Ok(out)
}

/// Every pod `want(namespace, pod)` selects with a rate at `at`, by namespace and name,
/// with its labels.
///
/// # Errors
///
/// The store's read errors (500).
pub fn pods(
    res: &Resources,
    tenant: &str,
    at: i64,
    now: i64,
    want: &dyn Fn(&str, &str) -> bool,
) -> Result<Vec<LabeledPod>, ApiError> {
    let keys = res
        .store
        .series(|k| k.tenant == tenant && k.kind == Kind::Container && want(&k.namespace, &k.pod));
    // (namespace, pod) → its fresh containers' (name, last, prev), from the node where
    // the pod's newest sample is (a pod name reused on another node).
    let mut pods: BTreeMap<(String, String), (i64, String, Vec<Fresh>)> = BTreeMap::new();
    let mut by_node: BTreeMap<(String, String, String), Vec<Fresh>> = BTreeMap::new();
    for k in keys {
        if let Some((last, prev)) = last_two(res, &k, at, now)? {
            by_node
                .entry((k.namespace.clone(), k.pod.clone(), k.node.clone()))
                .or_default()
                .push((k, last, prev));
        }
    }
    for ((ns, pod, node), cs) in by_node {
        let newest = cs.iter().map(|c| c.1.t).max().unwrap_or(i64::MIN);
        let slot = pods
            .entry((ns, pod))
            .or_insert((i64::MIN, String::new(), Vec::new()));
        if newest > slot.0 {
            *slot = (newest, node, cs);
        }
    }
    let mut out = Vec::new();
    'pods: for ((ns, pod), (_, node, cs)) in pods {
        let mut containers = Vec::with_capacity(cs.len());
        for (k, last, prev) in &cs {
            // metrics-server drops the whole pod when one container has a zero figure.
            if !usable(last) || !usable(prev) {
                continue 'pods;
            }
            let start = res.start_time(k).unwrap_or(0);
            match rate::rate(&point(last, start), &point(prev, start)) {
                Ok(r) => containers.push((k.container.clone(), r)),
                Err(_) => continue 'pods,
            }
        }
        let Some(earliest) = containers
            .iter()
            .map(|(_, r)| r)
            .min_by_key(|r| r.timestamp)
        else {
            continue;
        };
        let (timestamp, window) = (earliest.timestamp, earliest.window);
        let labels = res.labels(&SeriesKey::new(tenant, Kind::Pod, &node, &ns, &pod, ""));
        out.push((
            PodRate {
                namespace: ns,
                name: pod,
                timestamp,
                window,
                containers,
            },
            labels,
        ));
    }
    Ok(out)
}

/// A window as metrics-server prints it.
pub fn window(ns: i64) -> String {
    GoDuration::from_nanos(ns).to_string()
}
