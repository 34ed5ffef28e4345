//! Termination records: when the node's pod watch shows a container's
//! `state.terminated` or `lastState.terminated` it has not recorded yet, one entry on the
//! stream `{source="kubernetes-termination", namespace, pod, container, node}` at the
//! container's `finishedAt`, carrying the instance as structured metadata (`pod_uid`,
//! `restart`: the same as its log lines', so `kelp logs --previous` finds it) and as its
//! line the termination as JSON ([`Record`]). The line depends only on the terminated
//! container, so seeing it again (a relist, an agent restart) makes an identical entry
//! that the store drops.
//!
//! The restart: the kubelet names a container's log `<restartCount>.log` after the
//! count when it created it. A terminated `state` is the current attempt
//! (`restartCount`); a `lastState` beside a running container is the attempt before
//! (`restartCount - 1`); beside a waiting container (a back-off) the latest attempt,
//! which has not been replaced yet (`restartCount`).

use std::collections::HashSet;

use kelp_model::{Entry, LabelPair, Labels, StreamEntries, Timestamp};
use serde::{Deserialize, Serialize};

use super::ship::{Item, Shipper};
use super::Pod;

/// The `source` label of termination streams.
pub const SOURCE: &str = "kubernetes-termination";

/// Containers remembered as recorded; past it the memory starts again (the store drops
/// the repeats).
const MAX_SEEN: usize = 100_000;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PodStatus {
    #[serde(default)]
    pub init_container_statuses: Vec<ContainerStatus>,
    #[serde(default)]
    pub container_statuses: Vec<ContainerStatus>,
    #[serde(default)]
    pub ephemeral_container_statuses: Vec<ContainerStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ContainerStatus {
    pub name: String,
    #[serde(default)]
    pub restart_count: i64,
    #[serde(default)]
    pub state: ContainerState,
    #[serde(default)]
    pub last_state: ContainerState,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct ContainerState {
    #[serde(default)]
    pub running: Option<serde_json::Value>,
    #[serde(default)]
    pub terminated: Option<Record>,
}

/// `ContainerStateTerminated`, and the line of a termination entry (this field order,
/// empty fields left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// `OOMKilled`, `Error`, `Completed`, `ContainerCannotRun`, ...
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// The exit code.
    #[serde(default)]
    pub exit_code: i32,
    /// The signal, when one ended it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub signal: i32,
    /// The termination message (`terminationMessagePath`, or the log's tail with
    /// `FallbackToLogsOnError`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When it started.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub started_at: String,
    /// When it ended: the entry's time.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub finished_at: String,
    /// `containerd://<id>`.
    #[serde(
        default,
        rename = "containerID",
        skip_serializing_if = "String::is_empty"
    )]
    pub container_id: String,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// Records the terminations the pod watch shows, once each.
pub(crate) struct Terminations {
    node: String,
    seen: HashSet<String>,
    out: Shipper,
}

impl Terminations {
    pub(crate) fn new(node: String, out: Shipper) -> Terminations {
        Terminations {
            node,
            seen: HashSet::new(),
            out,
        }
    }

    /// Queues an entry for every termination of `pod` not recorded yet.
    pub(crate) fn observe(&mut self, pod: &Pod) {
        let entries = self.entries(pod);
        if !entries.is_empty() {
            self.out.send(Item {
                streams: entries,
                version: None,
            });
        }
    }

    pub(crate) fn entries(&mut self, pod: &Pod) -> Vec<StreamEntries> {
        let Some(status) = &pod.status else {
            return Vec::new();
        };
        let m = &pod.metadata;
        let all = status
            .init_container_statuses
            .iter()
            .chain(&status.container_statuses)
            .chain(&status.ephemeral_container_statuses);
        let mut out = Vec::new();
        for cs in all {
            let Some((rec, restart)) = terminated(cs) else {
                continue;
            };
            let Ok(ts) = Timestamp::parse_rfc3339(rec.finished_at.as_bytes()) else {
                continue; // No time: nothing to place it at.
            };
            let key = format!(
                "{}/{}/{}/{}",
                m.uid, cs.name, rec.container_id, rec.finished_at
            );
            if self.seen.contains(&key) {
                continue;
            }
            if self.seen.len() >= MAX_SEEN {
                self.seen.clear();
            }
            self.seen.insert(key);
            let labels = Labels::from_pairs([
                ("source", SOURCE),
                ("namespace", m.namespace.as_str()),
                ("pod", m.name.as_str()),
                ("container", cs.name.as_str()),
                ("node", self.node.as_str()),
            ]);
            let Ok(labels) = labels else { continue };
            let line = serde_json::to_string(rec).unwrap_or_default();
            let mut e = Entry::new(ts, line);
            e.metadata = vec![
                LabelPair {
                    name: "pod_uid".into(),
                    value: m.uid.clone(),
                },
                LabelPair {
                    name: "restart".into(),
                    value: restart.to_string(),
                },
            ];
            tracing::debug!(
                pod = m.name,
                container = cs.name,
                reason = rec.reason,
                restart,
                "container terminated"
            );
            out.push(StreamEntries {
                labels,
                entries: vec![e],
            });
        }
        out
    }
}

/// The terminated attempt a status shows, and its restart number.
fn terminated(cs: &ContainerStatus) -> Option<(&Record, i64)> {
    if let Some(t) = &cs.state.terminated {
        return Some((t, cs.restart_count));
    }
    let t = cs.last_state.terminated.as_ref()?;
    if cs.state.running.is_some() {
        Some((t, (cs.restart_count - 1).max(0)))
    } else {
        Some((t, cs.restart_count))
    }
}
