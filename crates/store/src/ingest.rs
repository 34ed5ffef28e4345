//! Admission of a batch: label limits, the out-of-order window, line length, duplicates.

use std::collections::HashSet;

use kelp_model::{Labels, TenantId};

use crate::config::Limits;
use crate::head::Head;
use crate::{AppendOutcome, Result, StoreError, StreamEntries};

/// Checks a stream's labels against the tenant limits (the model already validated them).
pub(crate) fn check_labels(tenant: &TenantId, labels: &Labels, limits: &Limits) -> Result<()> {
    let err = |limit, max: usize, detail: String| StoreError::Limit {
        tenant: tenant.clone(),
        limit,
        max: max as u64,
        detail,
    };
    if labels.is_empty() {
        return Err(err(
            "label names per series",
            limits.max_label_names_per_series,
            "a stream needs at least one label".into(),
        ));
    }
    if labels.len() > limits.max_label_names_per_series {
        return Err(err(
            "label names per series",
            limits.max_label_names_per_series,
            format!("{} has {} labels", labels, labels.len()),
        ));
    }
    for p in labels.iter() {
        if p.name.len() > limits.max_label_name_bytes {
            return Err(err(
                "label name length",
                limits.max_label_name_bytes,
                format!("name {:?}…", p.name.get(..32).unwrap_or(&p.name)),
            ));
        }
        if p.value.len() > limits.max_label_value_bytes {
            return Err(err(
                "label value length",
                limits.max_label_value_bytes,
                format!("label {} has a {}-byte value", p.name, p.value.len()),
            ));
        }
    }
    Ok(())
}

/// Decides per entry, against the head: returns the accepted entries (`None`: all of them)
/// and the counts. Fails the whole batch if it would exceed the tenant's stream limit.
pub(crate) fn precheck(
    head: &Head,
    tenant: &TenantId,
    streams: &[StreamEntries],
    window_ns: i64,
    limits: &Limits,
) -> Result<(Option<Vec<StreamEntries>>, AppendOutcome)> {
    let known = head.tenants.get(tenant);
    let mut new_streams = HashSet::new();
    for s in streams {
        let id = s.labels.stream_id();
        if known.is_none_or(|k| !k.contains_key(&id)) {
            new_streams.insert(id);
        }
    }
    let count = head.stream_count(tenant);
    if !new_streams.is_empty() && count + new_streams.len() > limits.max_streams_per_tenant {
        return Err(StoreError::Limit {
            tenant: tenant.clone(),
            limit: "streams",
            max: limits.max_streams_per_tenant as u64,
            detail: format!(
                "{count} active streams, the push adds {}",
                new_streams.len()
            ),
        });
    }
    let mut out = AppendOutcome::default();
    let mut filtered: Option<Vec<StreamEntries>> = None;
    let newest = limits.creation_grace_secs.map(|g| {
        kelp_model::Timestamp::now().as_unix_nanos().saturating_add(
            i64::try_from(g)
                .unwrap_or(i64::MAX)
                .saturating_mul(1_000_000_000),
        )
    });
    for (i, s) in streams.iter().enumerate() {
        let sh = known.and_then(|k| k.get(&s.labels.stream_id()));
        let mut max = sh.map_or(i64::MIN, |h| h.max_ts);
        let mut keep = Vec::new();
        let mut all = true;
        for e in &s.entries {
            let ts = e.timestamp.as_unix_nanos();
            let verdict = if e.line.len() > limits.max_line_bytes {
                out.too_long += 1;
                false
            } else if ts < max.saturating_sub(window_ns) {
                out.too_old += 1;
                false
            } else if newest.is_some_and(|n| ts > n) {
                out.too_new += 1;
                false
            } else if sh.is_some_and(|h| h.has(ts, &e.line)) {
                out.duplicates += 1;
                false
            } else {
                out.accepted += 1;
                if sh.is_some_and(|h| ts < h.dedup_from) {
                    out.unchecked += 1;
                }
                max = max.max(ts);
                true
            };
            all &= verdict;
            if verdict {
                keep.push(e);
            }
        }
        if !all && filtered.is_none() {
            filtered = Some(streams[..i].to_vec());
        }
        if let Some(f) = filtered.as_mut() {
            if !keep.is_empty() {
                f.push(StreamEntries {
                    labels: s.labels.clone(),
                    entries: keep.into_iter().cloned().collect(),
                });
            }
        }
    }
    Ok((filtered, out))
}
