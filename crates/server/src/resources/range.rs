//! The range API for charts: per series, CPU in cores and the working set at every step.
//!
//! At step `t` with window `w` (= the step): the working set is the newest sample at or
//! before `t`; CPU is the counter's increase (a decrease is a restart, counted from 0, as
//! Prometheus's `rate` does) from the newest sample at or before `min(t − w, last − 1ns)`
//! to that newest sample, over the time between them. No point is given while the series
//! is stale at `t` ([`super::view::stale_after`]) or without an older sample.

use kelp_series::{Kind, Sample, SeriesKey};
use serde_json::{json, Value};

use super::view::{stale_after, window};
use super::{series_error, Resources};
use crate::error::ApiError;

/// The most steps one series may have (Prometheus's limit).
pub const MAX_POINTS: i64 = 11_000;

/// What to return.
#[derive(Debug, Clone)]
pub struct RangeQuery {
    /// Node, pod or container series.
    pub kind: Kind,
    /// Only this namespace.
    pub namespace: Option<String>,
    /// Only this pod.
    pub pod: Option<String>,
    /// Only this node.
    pub node: Option<String>,
    /// Only this container.
    pub container: Option<String>,
    /// First step, Unix ns.
    pub start: i64,
    /// Last step at most, Unix ns.
    pub end: i64,
    /// Between steps, ns (> 0).
    pub step: i64,
}

impl RangeQuery {
    fn selects(&self, tenant: &str, k: &SeriesKey) -> bool {
        let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        k.tenant == tenant
            && k.kind == self.kind
            && is(&self.node, &k.node)
            && is(&self.namespace, &k.namespace)
            && is(&self.pod, &k.pod)
            && is(&self.container, &k.container)
    }
}

/// A time as JSON seconds: an integer when whole.
fn secs(t: i64) -> Value {
    if t % 1_000_000_000 == 0 {
        json!(t / 1_000_000_000)
    } else {
        json!(t as f64 / 1e9)
    }
}

/// The counter's increase from `s[0]` to the last of `s`, a decrease counted as a restart.
fn increase(s: &[Sample]) -> u64 {
    s.windows(2)
        .map(|w| {
            if w[1].cpu_ns >= w[0].cpu_ns {
                w[1].cpu_ns - w[0].cpu_ns
            } else {
                w[1].cpu_ns
            }
        })
        .sum()
}

/// The answer's `data`: `{"window": …, "series": […]}`.
///
/// # Errors
///
/// Too many steps (400); the store's read errors (500).
pub fn range(
    res: &Resources,
    tenant: &str,
    q: &RangeQuery,
    now: i64,
    visible: &dyn Fn(&SeriesKey) -> bool,
) -> Result<Value, ApiError> {
    if q.step <= 0 {
        return Err(ApiError::bad("step must be positive"));
    }
    if (q.end - q.start) / q.step + 1 > MAX_POINTS {
        return Err(ApiError::bad(format!(
            "exceeded maximum resolution of {MAX_POINTS} points per timeseries. Try decreasing the query resolution (?step=XX)"
        )));
    }
    let w = q.step;
    let keys = res.store.series(|k| q.selects(tenant, k) && visible(k));
    let mut series = Vec::with_capacity(keys.len());
    for k in keys {
        // Enough history before `start` for a base sample and the staleness rule.
        let from = q
            .start
            .saturating_sub(w)
            .saturating_sub(15 * 60 * 1_000_000_000);
        let s = res
            .store
            .samples(&k, from, q.end, now)
            .map_err(series_error)?;
        let (cpu, memory) = points(&s, q, w);
        if cpu.is_empty() && memory.is_empty() {
            continue;
        }
        let mut obj = json!({"kind": k.kind.as_str(), "node": k.node});
        if k.kind != Kind::Node {
            obj["namespace"] = json!(k.namespace);
            obj["pod"] = json!(k.pod);
        }
        if k.kind == Kind::Container {
            obj["container"] = json!(k.container);
        }
        obj["cpu"] = Value::Array(cpu);
        obj["memory"] = Value::Array(memory);
        series.push(obj);
    }
    Ok(json!({"window": window(w), "series": series}))
}

/// The CPU and memory points of one series' samples.
fn points(s: &[Sample], q: &RangeQuery, w: i64) -> (Vec<Value>, Vec<Value>) {
    let (mut cpu, mut memory) = (Vec::new(), Vec::new());
    let mut t = q.start;
    while t <= q.end {
        // Index of the newest sample at or before t.
        let n = s.partition_point(|x| x.t <= t);
        if n > 0 {
            let last = s[n - 1];
            let fresh = match n {
                1 => t - last.t <= w.max(60_000_000_000),
                _ => t - last.t <= stale_after(&last, &s[n - 2]).max(w),
            };
            if fresh {
                memory.push(json!([secs(t), last.memory]));
                let limit = (t - w).min(last.t - 1);
                let b = s[..n].partition_point(|x| x.t <= limit);
                if b > 0 {
                    let base = b - 1;
                    let span = last.t - s[base].t;
                    let cores = increase(&s[base..n]) as f64 / span as f64;
                    cpu.push(json!([secs(t), cores]));
                }
            }
        }
        t = match t.checked_add(q.step) {
            Some(t) => t,
            None => break,
        };
    }
    (cpu, memory)
}
