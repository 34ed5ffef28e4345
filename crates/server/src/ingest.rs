//! The one ingest function every protocol calls: `service_name` discovery, the rate
//! limit, the store's durable append (on the blocking pool) and the fan-out to live tail.

use std::sync::Arc;

use kelp_model::{StreamEntries, TenantId};
use kelp_store::AppendOutcome;

use crate::error::ApiError;
use crate::metrics::Protocol;
use crate::state::{AppState, TailBatch};

/// Labels whose value becomes `service_name` when a stream lacks one, first present wins
/// (Loki's `discover_service_name` default, spec §2.5).
pub const SERVICE_NAME_SOURCES: [&str; 13] = [
    "service",
    "app",
    "application",
    "app_name",
    "name",
    "app_kubernetes_io_name",
    "container",
    "container_name",
    "k8s_container_name",
    "component",
    "workload",
    "job",
    "k8s_job_name",
];

/// The value for streams without any of [`SERVICE_NAME_SOURCES`].
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// Adds `service_name` to streams that lack it.
pub fn discover_service_name(streams: &mut [StreamEntries]) {
    for s in streams {
        if s.labels.get("service_name").is_some() {
            continue;
        }
        let value = SERVICE_NAME_SOURCES
            .iter()
            .find_map(|n| s.labels.get(n))
            .unwrap_or(UNKNOWN_SERVICE)
            .to_owned();
        // "service_name" is a valid label name and the value is non-empty: cannot fail.
        if let Ok(l) = s.labels.with("service_name", &value) {
            s.labels = l;
        }
    }
}

/// What an ingest did.
#[derive(Debug, Clone, Copy)]
pub struct Ingested {
    /// The store's outcome.
    pub outcome: AppendOutcome,
}

/// Decodes with `decode` and appends, both on the blocking pool; returns once the accepted
/// entries are durable. Whole-batch failures (bad body, label limits, rate limit, store
/// errors) are errors; per-entry rejections are in the outcome.
pub async fn ingest<F>(
    state: &AppState,
    protocol: Protocol,
    tenant: TenantId,
    decode: F,
) -> Result<Ingested, ApiError>
where
    F: FnOnce() -> Result<Vec<StreamEntries>, ApiError> + Send + 'static,
{
    let st = state.clone();
    let result = tokio::task::spawn_blocking(move || append(&st, tenant, decode))
        .await
        .map_err(|e| ApiError::Internal(format!("ingest task failed: {e}")))
        .and_then(|r| r);
    state.metrics.ingest_request(protocol, result.is_ok());
    result
}

fn append<F>(state: &AppState, tenant: TenantId, decode: F) -> Result<Ingested, ApiError>
where
    F: FnOnce() -> Result<Vec<StreamEntries>, ApiError>,
{
    let store = state.store()?;
    let mut streams = decode()?;
    if state.config.discover_service_name {
        discover_service_name(&mut streams);
    }
    let (lines, bytes) = streams
        .iter()
        .flat_map(|s| &s.entries)
        .fold((0, 0u64), |(n, b), e| (n + 1, b + e.line.len() as u64));
    if let Err(e) = state.rate.take(&tenant, bytes, lines) {
        state.metrics.rate_limited();
        return Err(e);
    }
    let outcome = store
        .append(&tenant, &streams)
        .map_err(stream_limit_is_429)?;
    state.metrics.ingested(&outcome, bytes);
    if outcome.accepted > 0 && state.tail.receiver_count() > 0 {
        let _ = state.tail.send(Arc::new(TailBatch {
            tenant,
            streams: Arc::new(streams),
        }));
    }
    Ok(Ingested { outcome })
}

/// Loki answers its active-stream limit with 429 (a per-tenant limit, like the rate): the
/// shipper retries later, when streams have gone idle, instead of dropping the batch.
fn stream_limit_is_429(e: kelp_store::StoreError) -> ApiError {
    match e {
        kelp_store::StoreError::Limit {
            tenant,
            limit: "streams",
            max,
            detail,
        } => ApiError::RateLimited {
            message: format!(
                "Maximum active stream limit exceeded ({detail}, limit: {max}), reduce the number of active streams (reduce labels or reduce label values), or contact your Loki administrator to see if the limit can be increased, user: '{tenant}'"
            ),
            retry_after_secs: 1,
        },
        e => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use kelp_model::Labels;

    use super::*;

    #[test]
    fn service_name_discovery() {
        let mk = |pairs: &[(&str, &str)]| StreamEntries {
            labels: Labels::from_pairs(pairs.iter().copied()).unwrap(),
            entries: vec![],
        };
        let mut s = vec![
            mk(&[("app", "api"), ("container", "c")]),
            mk(&[("container", "c"), ("job", "j")]),
            mk(&[("service_name", "keep"), ("app", "x")]),
            mk(&[("env", "prod")]),
        ];
        discover_service_name(&mut s);
        let got: Vec<_> = s
            .iter()
            .map(|s| s.labels.get("service_name").unwrap())
            .collect();
        assert_eq!(got, ["api", "c", "keep", "unknown_service"]);
    }
}
