//! The server's own metrics and their Prometheus text exposition (`GET /metrics`):
//! atomics, no global registry.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The ingest protocols, one metric label value each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `POST /loki/api/v1/push`.
    Loki,
    /// `POST /kelp/api/v1/push`.
    Native,
    /// `POST /_bulk`.
    Elasticsearch,
    /// `POST /otlp/v1/logs`.
    Otlp,
}

const PROTOCOLS: [&str; 4] = ["loki", "native", "elasticsearch", "otlp"];

/// The query endpoints, one metric label value each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `query_range`.
    Range,
    /// `query`.
    Instant,
    /// labels, label values, series, index stats and volume.
    Metadata,
}

const ENDPOINTS: [&str; 3] = ["query_range", "query", "metadata"];

/// Upper bounds of the query latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// Counters and histograms, updated by the handlers.
#[derive(Debug, Default)]
pub struct Metrics {
    ingest_requests: [AtomicU64; 4],
    ingest_errors: [AtomicU64; 4],
    ingest_entries: AtomicU64,
    ingest_bytes: AtomicU64,
    rejected_too_old: AtomicU64,
    rejected_too_long: AtomicU64,
    rejected_too_new: AtomicU64,
    duplicates: AtomicU64,
    rate_limited: AtomicU64,
    shed: AtomicU64,
    evaluations_running: AtomicU64,
    evaluations_queued: AtomicU64,
    evaluations_interrupted: AtomicU64,
    query_requests: [AtomicU64; 3],
    query_errors: [AtomicU64; 3],
    query_latency: [Histogram; 3],
    tail_clients: AtomicU64,
    tail_dropped: AtomicU64,
}

/// Store figures sampled when `/metrics` is scraped.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreGauges {
    /// Bytes in the head.
    pub head_bytes: u64,
    /// Bytes of segments and indexes on disk.
    pub disk_bytes: u64,
    /// Segments.
    pub segments: u64,
    /// 1 once recovery is done.
    pub ready: u64,
}

impl Metrics {
    /// One ingest request, successful or not.
    pub fn ingest_request(&self, p: Protocol, ok: bool) {
        self.ingest_requests[p as usize].fetch_add(1, Relaxed);
        if !ok {
            self.ingest_errors[p as usize].fetch_add(1, Relaxed);
        }
    }

    /// What an append stored and rejected; `bytes` are line bytes accepted.
    pub fn ingested(&self, outcome: &kelp_store::AppendOutcome, bytes: u64) {
        self.ingest_entries.fetch_add(outcome.accepted, Relaxed);
        self.ingest_bytes.fetch_add(bytes, Relaxed);
        self.rejected_too_old.fetch_add(outcome.too_old, Relaxed);
        self.rejected_too_long.fetch_add(outcome.too_long, Relaxed);
        self.rejected_too_new.fetch_add(outcome.too_new, Relaxed);
        self.duplicates.fetch_add(outcome.duplicates, Relaxed);
    }

    /// A push refused by the ingestion rate limit.
    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Relaxed);
    }

    /// A push refused with 503 because the server had too many in flight.
    pub fn shed(&self) {
        self.shed.fetch_add(1, Relaxed);
    }

    /// A query evaluation started on the query pool (`+1`) or ended (`-1`), whether or
    /// not its request is still there.
    pub fn evaluations_running(&self, delta: i64) {
        add(&self.evaluations_running, delta);
    }

    /// A query evaluation began (`+1`) or ended (`-1`) waiting for a running slot
    /// (`limits.max_running_queries`).
    pub fn evaluations_queued(&self, delta: i64) {
        add(&self.evaluations_queued, delta);
    }

    /// An evaluation the engine stopped early: cancelled (the client went away) or timed
    /// out.
    pub fn evaluation_interrupted(&self) {
        self.evaluations_interrupted.fetch_add(1, Relaxed);
    }

    /// One query and how long it took.
    pub fn query(&self, e: Endpoint, ok: bool, took: Duration) {
        let i = e as usize;
        self.query_requests[i].fetch_add(1, Relaxed);
        if !ok {
            self.query_errors[i].fetch_add(1, Relaxed);
        }
        let h = &self.query_latency[i];
        let secs = took.as_secs_f64();
        for (b, le) in h.buckets.iter().zip(BUCKETS) {
            if secs <= le {
                b.fetch_add(1, Relaxed);
            }
        }
        h.count.fetch_add(1, Relaxed);
        h.sum_micros
            .fetch_add(took.as_micros().min(u64::MAX as u128) as u64, Relaxed);
    }

    /// A tail client connected (`+1`) or left (`-1`).
    pub fn tail_clients(&self, delta: i64) {
        add(&self.tail_clients, delta);
    }

    /// Entries a slow tail client missed.
    pub fn tail_dropped(&self, n: u64) {
        self.tail_dropped.fetch_add(n, Relaxed);
    }

    /// The Prometheus text exposition (version 0.0.4).
    pub fn render(&self, store: StoreGauges) -> String {
        let mut o = String::with_capacity(4096);
        let by_proto = |o: &mut String, name: &str, help: &str, v: &[AtomicU64; 4]| {
            header(o, name, help, "counter");
            for (p, c) in PROTOCOLS.iter().zip(v) {
                let _ = writeln!(o, "{name}{{protocol=\"{p}\"}} {}", c.load(Relaxed));
            }
        };
        by_proto(
            &mut o,
            "kelp_ingest_requests_total",
            "Ingest requests by protocol.",
            &self.ingest_requests,
        );
        by_proto(
            &mut o,
            "kelp_ingest_errors_total",
            "Ingest requests answered with an error, by protocol.",
            &self.ingest_errors,
        );
        counter(
            &mut o,
            "kelp_ingest_entries_total",
            "Entries stored.",
            &self.ingest_entries,
        );
        counter(
            &mut o,
            "kelp_ingest_bytes_total",
            "Line bytes stored.",
            &self.ingest_bytes,
        );
        header(
            &mut o,
            "kelp_ingest_rejected_entries_total",
            "Entries rejected, by reason.",
            "counter",
        );
        for (reason, c) in [
            ("too_old", &self.rejected_too_old),
            ("too_long", &self.rejected_too_long),
            ("too_new", &self.rejected_too_new),
            ("duplicate", &self.duplicates),
        ] {
            let _ = writeln!(
                o,
                "kelp_ingest_rejected_entries_total{{reason=\"{reason}\"}} {}",
                c.load(Relaxed)
            );
        }
        counter(
            &mut o,
            "kelp_ingest_rate_limited_total",
            "Pushes refused by the ingestion rate limit.",
            &self.rate_limited,
        );
        counter(
            &mut o,
            "kelp_ingest_shed_total",
            "Pushes refused with 503 because too many were in flight.",
            &self.shed,
        );
        self.render_queries(&mut o);
        gauge(
            &mut o,
            "kelp_query_evaluations_running",
            "Query evaluations on the query pool, including those whose client left.",
            self.evaluations_running.load(Relaxed),
        );
        gauge(
            &mut o,
            "kelp_query_evaluations_queued",
            "Query evaluations waiting for a running slot (limits.max_running_queries).",
            self.evaluations_queued.load(Relaxed),
        );
        counter(
            &mut o,
            "kelp_query_evaluations_interrupted_total",
            "Query evaluations stopped early: cancelled or timed out.",
            &self.evaluations_interrupted,
        );
        gauge(
            &mut o,
            "kelp_tail_clients",
            "Live tail connections.",
            self.tail_clients.load(Relaxed),
        );
        counter(
            &mut o,
            "kelp_tail_dropped_entries_total",
            "Entries slow tail clients missed.",
            &self.tail_dropped,
        );
        gauge(
            &mut o,
            "kelp_store_head_bytes",
            "Bytes in the store's head.",
            store.head_bytes,
        );
        gauge(
            &mut o,
            "kelp_store_disk_bytes",
            "Bytes of segments and indexes on disk.",
            store.disk_bytes,
        );
        gauge(
            &mut o,
            "kelp_store_segments",
            "Segment files.",
            store.segments,
        );
        gauge(
            &mut o,
            "kelp_ready",
            "1 once the store has recovered.",
            store.ready,
        );
        o
    }

    fn render_queries(&self, o: &mut String) {
        header(
            o,
            "kelp_query_requests_total",
            "Queries by endpoint.",
            "counter",
        );
        for (e, c) in ENDPOINTS.iter().zip(&self.query_requests) {
            let _ = writeln!(
                o,
                "kelp_query_requests_total{{endpoint=\"{e}\"}} {}",
                c.load(Relaxed)
            );
        }
        header(
            o,
            "kelp_query_errors_total",
            "Queries answered with an error.",
            "counter",
        );
        for (e, c) in ENDPOINTS.iter().zip(&self.query_errors) {
            let _ = writeln!(
                o,
                "kelp_query_errors_total{{endpoint=\"{e}\"}} {}",
                c.load(Relaxed)
            );
        }
        let name = "kelp_query_duration_seconds";
        header(o, name, "Query latency.", "histogram");
        for (e, h) in ENDPOINTS.iter().zip(&self.query_latency) {
            for (le, b) in BUCKETS.iter().zip(&h.buckets) {
                let _ = writeln!(
                    o,
                    "{name}_bucket{{endpoint=\"{e}\",le=\"{le}\"}} {}",
                    b.load(Relaxed)
                );
            }
            let count = h.count.load(Relaxed);
            let _ = writeln!(o, "{name}_bucket{{endpoint=\"{e}\",le=\"+Inf\"}} {count}");
            let sum = h.sum_micros.load(Relaxed) as f64 / 1e6;
            let _ = writeln!(o, "{name}_sum{{endpoint=\"{e}\"}} {sum}");
            let _ = writeln!(o, "{name}_count{{endpoint=\"{e}\"}} {count}");
        }
    }
}

/// Adds `delta` (which may be negative) to a gauge.
fn add(g: &AtomicU64, delta: i64) {
    if delta >= 0 {
        g.fetch_add(delta as u64, Relaxed);
    } else {
        g.fetch_sub(delta.unsigned_abs(), Relaxed);
    }
}

fn header(o: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn counter(o: &mut String, name: &str, help: &str, v: &AtomicU64) {
    header(o, name, help, "counter");
    let _ = writeln!(o, "{name} {}", v.load(Relaxed));
}

fn gauge(o: &mut String, name: &str, help: &str, v: u64) {
    header(o, name, help, "gauge");
    let _ = writeln!(o, "{name} {v}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_family() {
        let m = Metrics::default();
        m.ingest_request(Protocol::Loki, true);
        m.query(Endpoint::Range, true, Duration::from_millis(3));
        let text = m.render(StoreGauges::default());
        assert!(text.contains("kelp_ingest_requests_total{protocol=\"loki\"} 1\n"));
        assert!(text.contains(
            "kelp_query_duration_seconds_bucket{endpoint=\"query_range\",le=\"0.005\"} 1\n"
        ));
        assert!(text.contains("kelp_query_duration_seconds_count{endpoint=\"query_range\"} 1\n"));
        assert!(text.contains("# TYPE kelp_store_head_bytes gauge\n"));
    }
}
