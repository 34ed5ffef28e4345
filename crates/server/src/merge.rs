//! Merging peer replicas' answers with this replica's (`peers.rs`): log streams with
//! identical entries (same output labels, timestamp and line) kept once and Loki's limit
//! applied again over the union; label names, values and series as set unions.
//!
//! Peers are asked with `categorize-labels`, so their answers carry each entry's
//! structured metadata and parsed labels apart, as the engine's own results do.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use kelp_model::{LabelPair, Labels, Timestamp};
use kelp_query::{Direction, LogEntry, StreamResult};
use serde_json::Value;

use crate::error::ApiError;

fn bad_peer(url: &str, what: &str) -> ApiError {
    ApiError::Internal(format!("replica {url} answered {what}"))
}

fn pairs(v: Option<&Value>) -> Vec<LabelPair> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| {
                    Some(LabelPair {
                        name: k.clone(),
                        value: v.as_str()?.to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The streams of a peer's categorized log answer, as the engine's results.
pub fn peer_streams(url: &str, body: &[u8]) -> Result<Vec<StreamResult>, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|_| bad_peer(url, "no JSON"))?;
    let data = &v["data"];
    if data["resultType"] != "streams" {
        return Err(bad_peer(url, "no streams"));
    }
    let mut out = Vec::new();
    for s in data["result"].as_array().into_iter().flatten() {
        let stream = pairs(s.get("stream"));
        let mut by_labels: BTreeMap<Labels, Vec<LogEntry>> = BTreeMap::new();
        for e in s["values"].as_array().into_iter().flatten() {
            let ts = e[0]
                .as_str()
                .and_then(|t| t.parse::<i64>().ok())
                .ok_or_else(|| bad_peer(url, "an entry without a timestamp"))?;
            let line = e[1].as_str().unwrap_or_default().to_owned();
            let mut metadata = pairs(e[2].get("structuredMetadata"));
            let mut parsed = pairs(e[2].get("parsed"));
            metadata.sort();
            parsed.sort();
            let all = stream.iter().chain(&metadata).chain(&parsed);
            let labels = Labels::from_pairs(all.map(|p| (p.name.as_str(), p.value.as_str())))
                .map_err(|_| bad_peer(url, "invalid labels"))?;
            by_labels.entry(labels).or_default().push(LogEntry {
                timestamp: Timestamp::from_unix_nanos(ts),
                line,
                metadata,
                parsed,
            });
        }
        out.extend(
            by_labels
                .into_iter()
                .map(|(labels, entries)| StreamResult { labels, entries }),
        );
    }
    Ok(out)
}

/// `local` and `peers` merged: identical entries once, in `direction`, at most `limit`
/// entries over all streams (the first ones in `direction`, as each replica chose).
pub fn streams(
    local: Vec<StreamResult>,
    peers: Vec<StreamResult>,
    direction: Direction,
    limit: usize,
) -> Vec<StreamResult> {
    let mut by_labels: BTreeMap<Labels, Vec<LogEntry>> = BTreeMap::new();
    for s in local.into_iter().chain(peers) {
        by_labels.entry(s.labels).or_default().extend(s.entries);
    }
    // Every entry with its stream, deduplicated, then the first `limit` in direction.
    let mut all: Vec<(usize, LogEntry)> = Vec::new();
    let labels: Vec<Labels> = by_labels.keys().cloned().collect();
    for (i, entries) in by_labels.into_values().enumerate() {
        let mut seen: HashSet<(Timestamp, String)> = HashSet::new();
        all.extend(
            entries
                .into_iter()
                .filter(|e| seen.insert((e.timestamp, e.line.clone())))
                .map(|e| (i, e)),
        );
    }
    match direction {
        Direction::Forward => all.sort_by_key(|a| a.1.timestamp),
        Direction::Backward => all.sort_by_key(|b| std::cmp::Reverse(b.1.timestamp)),
    }
    all.truncate(limit);
    let mut out: Vec<StreamResult> = labels
        .into_iter()
        .map(|labels| StreamResult {
            labels,
            entries: Vec::new(),
        })
        .collect();
    for (i, e) in all {
        out[i].entries.push(e);
    }
    out.retain(|s| !s.entries.is_empty());
    out
}

/// The union of `local` and the peers' `data` arrays of strings (label names, values).
pub fn strings(local: Vec<String>, bodies: &[(String, Vec<u8>)]) -> Result<Vec<String>, ApiError> {
    let mut set: BTreeSet<String> = local.into_iter().collect();
    for (url, body) in bodies {
        let v: Value = serde_json::from_slice(body).map_err(|_| bad_peer(url, "no JSON"))?;
        for s in v["data"].as_array().into_iter().flatten() {
            if let Some(s) = s.as_str() {
                set.insert(s.to_owned());
            }
        }
    }
    Ok(set.into_iter().collect())
}

/// The union of `local` and the peers' series (`data`: label objects).
pub fn series(local: Vec<Labels>, bodies: &[(String, Vec<u8>)]) -> Result<Vec<Labels>, ApiError> {
    let mut set: BTreeSet<Labels> = local.into_iter().collect();
    for (url, body) in bodies {
        let v: Value = serde_json::from_slice(body).map_err(|_| bad_peer(url, "no JSON"))?;
        for s in v["data"].as_array().into_iter().flatten() {
            let p = pairs(Some(s));
            let l = Labels::from_pairs(p.iter().map(|p| (p.name.as_str(), p.value.as_str())))
                .map_err(|_| bad_peer(url, "invalid labels"))?;
            set.insert(l);
        }
    }
    Ok(set.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ts: i64, line: &str) -> LogEntry {
        LogEntry {
            timestamp: Timestamp::from_unix_nanos(ts),
            line: line.into(),
            metadata: Vec::new(),
            parsed: Vec::new(),
        }
    }

    fn stream(app: &str, entries: Vec<LogEntry>) -> StreamResult {
        StreamResult {
            labels: Labels::from_pairs([("app", app)]).unwrap(),
            entries,
        }
    }

    #[test]
    fn identical_entries_are_kept_once_and_the_limit_applies_to_the_union() {
        let local = vec![
            stream("a", vec![entry(3, "x"), entry(1, "x")]),
            stream("b", vec![entry(2, "y")]),
        ];
        // The peer holds a duplicate of a@1 (a retried push), a different line at the
        // same time, and a newer entry.
        let peer = vec![stream(
            "a",
            vec![entry(4, "z"), entry(1, "x"), entry(1, "w")],
        )];
        let merged = streams(local.clone(), peer.clone(), Direction::Forward, 100);
        let flat: Vec<(String, i64, String)> = merged
            .iter()
            .flat_map(|s| {
                s.entries.iter().map(|e| {
                    (
                        s.labels.to_string(),
                        e.timestamp.as_unix_nanos(),
                        e.line.clone(),
                    )
                })
            })
            .collect();
        assert_eq!(
            flat,
            [
                ("{app=\"a\"}".into(), 1, "x".into()),
                ("{app=\"a\"}".into(), 1, "w".into()),
                ("{app=\"a\"}".into(), 3, "x".into()),
                ("{app=\"a\"}".into(), 4, "z".into()),
                ("{app=\"b\"}".into(), 2, "y".into()),
            ]
        );
        let newest = streams(local, peer, Direction::Backward, 2);
        let ts: Vec<i64> = newest
            .iter()
            .flat_map(|s| s.entries.iter().map(|e| e.timestamp.as_unix_nanos()))
            .collect();
        assert_eq!(ts, [4, 3]);
    }

    #[test]
    fn reads_a_peers_categorized_answer() {
        let body = br#"{"status":"success","data":{"resultType":"streams","encodingFlags":["categorize-labels"],"result":[
            {"stream":{"app":"a"},"values":[["5","l1",{"structuredMetadata":{"pod_uid":"u"},"parsed":{"level":"info"}}],["6","l2",{}]]}]}}"#;
        let s = peer_streams("http://p", body).unwrap();
        assert_eq!(s.len(), 2);
        let with = s.iter().find(|s| s.labels.get("level").is_some()).unwrap();
        assert_eq!(with.labels.get("pod_uid"), Some("u"));
        assert_eq!(
            with.entries[0].parsed,
            vec![LabelPair {
                name: "level".into(),
                value: "info".into()
            }]
        );
        assert!(peer_streams("http://p", b"{}").is_err());
        assert!(peer_streams("http://p", b"nope").is_err());
    }

    #[test]
    fn unions_of_names_and_series() {
        let bodies = vec![(
            "http://p".to_owned(),
            br#"{"status":"success","data":["b","c"]}"#.to_vec(),
        )];
        assert_eq!(
            strings(vec!["a".into(), "b".into()], &bodies).unwrap(),
            ["a", "b", "c"]
        );
        let bodies = vec![(
            "http://p".to_owned(),
            br#"{"status":"success","data":[{"app":"x"},{"app":"y"}]}"#.to_vec(),
        )];
        let local = vec![Labels::from_pairs([("app", "x")]).unwrap()];
        assert_eq!(series(local, &bodies).unwrap().len(), 2);
    }
}
