//! The Elasticsearch `_bulk` sink: one `create` action per entry, documents shaped as
//! Fluent Bit's kubernetes filter writes them, so that Elasticsearch, OpenSearch and
//! `kelp server`'s `_bulk` endpoint (whose default mapping reads these fields back into
//! the `namespace`, `pod`, `container`, `node` and `stream` labels) all understand them:
//!
//! ```json
//! {"create":{"_index":"kelp"}}
//! {"@timestamp":"2026-11-22T10:00:00.123456789Z","stream":"stdout","log":"hello",
//!  "kubernetes":{"namespace_name":"ns","pod_name":"p","container_name":"c","host":"n",
//!  "pod_id":"<uid>"},"restart":"0"}
//! ```
//!
//! Other stream labels and structured metadata become top-level fields of their name
//! (`pod_uid` is `kubernetes.pod_id`). Elasticsearch answers per item: a batch counts as
//! acknowledged only when every item is; items failed with 429 or 5xx are sent again
//! (alone) after a backoff, any other item failure is an error for good.

use std::ops::Range;
use std::sync::Arc;

use kelp_client::{Client, ClientStats};
use kelp_model::StreamEntries;
use serde_json::Value;

use super::Sink;
use crate::AgentError;

/// The `_bulk` sink.
pub struct EsSink {
    client: Client,
    action: Vec<u8>,
}

impl EsSink {
    /// A sink writing to `index` through `client`.
    pub fn new(client: Client, index: &str) -> Self {
        let mut action = br#"{"create":{"_index":"#.to_vec();
        json_str(&mut action, index);
        action.extend_from_slice(b"}}\n");
        Self { client, action }
    }

    /// The NDJSON body of `streams` and the byte range of each item in it.
    fn encode(&self, streams: &[StreamEntries]) -> (Vec<u8>, Vec<Range<usize>>) {
        let mut body = Vec::new();
        let mut items = Vec::new();
        for s in streams {
            let mut k8s = Vec::new();
            let mut top = Vec::new();
            for pair in s.labels.iter() {
                let (name, value) = (pair.name.as_str(), pair.value.as_str());
                let field = match name {
                    "namespace" => "namespace_name",
                    "pod" => "pod_name",
                    "container" => "container_name",
                    "node" => "host",
                    _ => {
                        top.push(b',');
                        json_str(&mut top, name);
                        top.push(b':');
                        json_str(&mut top, value);
                        continue;
                    }
                };
                k8s.push(b',');
                json_str(&mut k8s, field);
                k8s.push(b':');
                json_str(&mut k8s, value);
            }
            for e in &s.entries {
                let start = body.len();
                body.extend_from_slice(&self.action);
                body.extend_from_slice(br#"{"@timestamp":""#);
                e.timestamp.write_rfc3339_nano(&mut body);
                body.extend_from_slice(br#"","log":"#);
                json_str(&mut body, &String::from_utf8_lossy(&e.line));
                body.extend_from_slice(&top);
                let mut pod_id = None;
                for m in &e.metadata {
                    if m.name == "pod_uid" {
                        pod_id = Some(m.value.as_str());
                        continue;
                    }
                    body.push(b',');
                    json_str(&mut body, &m.name);
                    body.push(b':');
                    json_str(&mut body, &m.value);
                }
                body.extend_from_slice(br#","kubernetes":{"#);
                let mut rest = &k8s[..];
                if let Some(id) = pod_id {
                    body.extend_from_slice(br#""pod_id":"#);
                    json_str(&mut body, id);
                } else {
                    rest = rest.get(1..).unwrap_or_default();
                }
                body.extend_from_slice(rest);
                body.extend_from_slice(b"}}\n");
                items.push(start..body.len());
            }
        }
        (body, items)
    }
}

impl Sink for EsSink {
    fn send(&self, streams: &[StreamEntries]) -> Result<(), AgentError> {
        let (all, items) = self.encode(streams);
        if items.is_empty() {
            return Ok(());
        }
        let mut pending: Vec<Range<usize>> = items;
        let mut body = all.clone();
        let mut attempt = 0;
        loop {
            let answer = self
                .client
                .post("/_bulk", "application/x-ndjson", None, &body)?;
            let failed = failed_items(&answer, pending.len())?;
            if failed.is_empty() {
                return Ok(());
            }
            if let Some((_, status, reason)) = failed
                .iter()
                .find(|(_, status, _)| *status != 429 && *status < 500)
            {
                return Err(AgentError::Sink(format!(
                    "elasticsearch refused a document ({status}): {reason}"
                )));
            }
            attempt += 1;
            let (status, reason) = (failed[0].1, failed[0].2.clone());
            tracing::warn!(items = failed.len(), status, %reason, "bulk items failed; retrying them");
            pending = failed.iter().map(|(i, _, _)| pending[*i].clone()).collect();
            body.clear();
            for r in &pending {
                body.extend_from_slice(&all[r.clone()]);
            }
            if !self.client.backoff(attempt, None) {
                return Err(AgentError::Sink(format!(
                    "gave up on {} bulk items after {attempt} attempts: {status} {reason}",
                    pending.len()
                )));
            }
        }
    }

    fn client_stats(&self) -> Option<Arc<ClientStats>> {
        Some(self.client.stats())
    }

    fn stop(&self) {
        self.client.stop();
    }
}

/// The items of a `_bulk` answer that failed: (position, status, reason).
fn failed_items(answer: &[u8], sent: usize) -> Result<Vec<(usize, u16, String)>, AgentError> {
    if memchr::memmem::find(answer, br#""errors":false"#).is_some() {
        return Ok(Vec::new());
    }
    let bad = |why: &str| AgentError::Sink(format!("unexpected _bulk answer: {why}"));
    let v: Value = serde_json::from_slice(answer).map_err(|e| bad(&e.to_string()))?;
    if v.get("errors").and_then(Value::as_bool) == Some(false) {
        return Ok(Vec::new());
    }
    let items = v
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no items"))?;
    if items.len() != sent {
        return Err(bad(&format!("{} items for {sent} documents", items.len())));
    }
    let mut failed = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let inner = item
            .as_object()
            .and_then(|o| o.values().next())
            .ok_or_else(|| bad("an item is not an object"))?;
        let status = inner.get("status").and_then(Value::as_u64).unwrap_or(0) as u16;
        if !(200..300).contains(&status) {
            let reason = inner
                .get("error")
                .map(|e| e.to_string())
                .unwrap_or_else(|| "no reason given".into());
            failed.push((i, status, reason));
        }
    }
    Ok(failed)
}

/// Appends `s` as a JSON string.
pub(super) fn json_str(out: &mut Vec<u8>, s: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;
    use kelp_model::{Entry, LabelPair, Labels, Timestamp};

    #[test]
    fn documents_map_back_to_the_labels() {
        let sink = EsSink::new(
            Client::new("http://127.0.0.1:9", Default::default()).unwrap(),
            "kelp",
        );
        let labels = Labels::from_pairs([
            ("container", "c"),
            ("namespace", "ns"),
            ("node", "n1"),
            ("pod", "p"),
            ("stream", "stderr"),
        ])
        .unwrap();
        let mut e = Entry::new(
            Timestamp::from_unix_nanos(1_700_000_000_123_456_789),
            "a \"q\"",
        );
        e.metadata = vec![
            LabelPair {
                name: "pod_uid".into(),
                value: "u-1".into(),
            },
            LabelPair {
                name: "restart".into(),
                value: "2".into(),
            },
        ];
        let (body, items) = sink.encode(&[StreamEntries {
            labels: labels.clone(),
            entries: vec![e],
        }]);
        assert_eq!(items, vec![0..body.len()]);
        let req = kelp_wire::bulk::parse_bulk(
            &body,
            None,
            &kelp_wire::bulk::BulkMapping::default(),
            Timestamp::from_unix_nanos(0),
        )
        .unwrap();
        let s = &req.streams[0];
        for (k, v) in [
            ("namespace", "ns"),
            ("pod", "p"),
            ("container", "c"),
            ("node", "n1"),
            ("stream", "stderr"),
            ("index", "kelp"),
        ] {
            assert_eq!(s.labels.get(k), Some(v), "{k}");
        }
        assert_eq!(&s.entries[0].line[..], b"a \"q\"");
        assert_eq!(
            s.entries[0].timestamp,
            Timestamp::from_unix_nanos(1_700_000_000_123_456_789)
        );
        let meta: Vec<_> = s.entries[0]
            .metadata
            .iter()
            .map(|m| (m.name.as_str(), m.value.as_str()))
            .collect();
        assert!(meta.contains(&("kubernetes_pod_id", "u-1")), "{meta:?}");
        assert!(meta.contains(&("restart", "2")), "{meta:?}");
    }

    #[test]
    fn reads_failed_items() {
        assert!(failed_items(br#"{"took":1,"errors":false,"items":[]}"#, 3)
            .unwrap()
            .is_empty());
        let answer = br#"{"took":1,"errors":true,"items":[{"create":{"status":201}},{"create":{"status":429,"error":{"type":"es_rejected_execution_exception"}}}]}"#;
        let failed = failed_items(answer, 2).unwrap();
        assert_eq!(failed.len(), 1);
        assert_eq!((failed[0].0, failed[0].1), (1, 429));
        assert!(failed_items(answer, 3).is_err());
        assert!(failed_items(b"not json", 1).is_err());
    }
}
