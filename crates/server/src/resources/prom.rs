//! The kubelet's `/metrics/resource` exposition (spec §5.1) over every node Kelp holds:
//! each fresh series' newest sample with its millisecond timestamp, label names sorted,
//! values as Go prints them (`strconv.FormatFloat(v, 'g', -1, 64)`). Kelp adds a `node`
//! label, since one endpoint serves all nodes.

use std::fmt::Write;

use kelp_series::{Kind, SeriesKey};

use super::view::stale_after;
use super::{series_error, Resources};
use crate::error::ApiError;

/// (name, help, type) of every family, in the kubelet's (alphabetical) order.
const FAMILIES: [(&str, &str, &str); 8] = [
    (
        "container_cpu_usage_seconds_total",
        "Cumulative cpu time consumed by the container in core-seconds",
        "counter",
    ),
    (
        "container_memory_working_set_bytes",
        "Current working set of the container in bytes",
        "gauge",
    ),
    (
        "container_start_time_seconds",
        "Start time of the container since unix epoch in seconds",
        "gauge",
    ),
    (
        "node_cpu_usage_seconds_total",
        "Cumulative cpu time consumed by the node in core-seconds",
        "counter",
    ),
    (
        "node_memory_working_set_bytes",
        "Current working set of the node in bytes",
        "gauge",
    ),
    (
        "pod_cpu_usage_seconds_total",
        "Cumulative cpu time consumed by the pod in core-seconds",
        "counter",
    ),
    (
        "pod_memory_working_set_bytes",
        "Current working set of the pod in bytes",
        "gauge",
    ),
    (
        "resource_scrape_error",
        "1 if there was an error while getting container metrics, 0 otherwise",
        "gauge",
    ),
];

/// A float as Go's `strconv.FormatFloat(v, 'g', -1, 64)` (what Prometheus's expfmt
/// writes): shortest digits, in exponent form below 1e-4 and from 1e6 on.
pub fn go_float(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let e = format!("{v:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{v}")
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn labels(k: &SeriesKey) -> String {
    let node = escape(&k.node);
    match k.kind {
        Kind::Node => format!("{{node=\"{node}\"}}"),
        Kind::Pod => format!(
            "{{namespace=\"{}\",node=\"{node}\",pod=\"{}\"}}",
            escape(&k.namespace),
            escape(&k.pod)
        ),
        Kind::Container => format!(
            "{{container=\"{}\",namespace=\"{}\",node=\"{node}\",pod=\"{}\"}}",
            escape(&k.container),
            escape(&k.namespace),
            escape(&k.pod)
        ),
    }
}

/// The exposition text for `tenant` as of `now`, of the series `visible` lets through
/// (a namespace-scoped token sees its namespaces' pods and containers only).
///
/// # Errors
///
/// The store's read errors (500).
pub fn render(
    res: &Resources,
    tenant: &str,
    now: i64,
    visible: &dyn Fn(&SeriesKey) -> bool,
) -> Result<String, ApiError> {
    // Lines per family, in FAMILIES order.
    let mut lines: [Vec<String>; 8] = Default::default();
    for k in res.store.series(|k| k.tenant == tenant && visible(k)) {
        let s = res.store.last(&k, now, 2, now).map_err(series_error)?;
        let fresh = match s[..] {
            [last] => now - last.t <= 60_000_000_000,
            [prev, last] => now - last.t <= stale_after(&last, &prev),
            _ => false,
        };
        let Some(last) = s.last().filter(|_| fresh) else {
            continue;
        };
        let l = labels(&k);
        let ms = last.t / 1_000_000;
        let cpu = go_float(last.cpu_ns as f64 / 1e9);
        let mem = go_float(last.memory as f64);
        let (c, m) = match k.kind {
            Kind::Container => (0, 1),
            Kind::Node => (3, 4),
            Kind::Pod => (5, 6),
        };
        lines[c].push(format!("{}{l} {cpu} {ms}", FAMILIES[c].0));
        lines[m].push(format!("{}{l} {mem} {ms}", FAMILIES[m].0));
        if k.kind == Kind::Container {
            if let Some(st) = res.start_time(&k) {
                let v = go_float((st / 1_000_000_000) as f64);
                lines[2].push(format!("{}{l} {v}", FAMILIES[2].0));
            }
        }
    }
    lines[7].push(format!("{} 0", FAMILIES[7].0));
    let mut out = String::new();
    for ((name, help, kind), ls) in FAMILIES.iter().zip(lines) {
        if ls.is_empty() {
            continue;
        }
        let _ = writeln!(out, "# HELP {name} [STABLE] {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for l in ls {
            out.push_str(&l);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::go_float;

    #[test]
    fn floats_print_as_go_does() {
        for (v, want) in [
            (5.3, "5.3"),
            (48_263_168.0, "4.8263168e+07"),
            (1_878_544_384.0, "1.878544384e+09"),
            (1234.56, "1234.56"),
            (0.0, "0"),
            (1.0, "1"),
            (999_999.0, "999999"),
            (1_000_000.0, "1e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.7172431e9, "1.7172431e+09"),
        ] {
            assert_eq!(go_float(v), want, "{v}");
        }
    }
}
