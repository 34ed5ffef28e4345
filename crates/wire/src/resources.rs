//! Kelp's resource-metrics push, `POST /kelp/api/v1/resources/push`: the cumulative
//! samples an agent collected (node, pods, containers), as JSON compressed with zstd
//! (`Content-Type: application/json`, `Content-Encoding: zstd`; identity and gzip are
//! accepted too). Format and delivery rules: `docs/metrics.md`, "Push".
//!
//! The server stores each sample once per series and timestamp: a retried push is
//! acknowledged again without storing anything twice.
//!
//! ```
//! use kelp_wire::resources::{Collection, NodeSample, ResourcePush};
//!
//! let push = ResourcePush {
//!     node: "n1".into(),
//!     collections: vec![Collection {
//!         seq: 1,
//!         node: NodeSample { time: 1_000_000_000, cpu_ns: 5_000_000_000, memory: 1 << 30, ..Default::default() },
//!         pods: vec![],
//!     }],
//! };
//! let body = kelp_wire::resources::encode(&push, 1);
//! let back = kelp_wire::resources::decode(Some("zstd"), &body, 1 << 20)?;
//! assert_eq!(back, push);
//! # Ok::<(), kelp_wire::WireError>(())
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::compress::{decode_content_encoding, zstd, ContentEncoding};
use crate::WireError;

/// The path of the push.
pub const PUSH_PATH: &str = "/kelp/api/v1/resources/push";
/// Its content type.
pub const CONTENT_TYPE: &str = "application/json";
/// Its content encoding.
pub const CONTENT_ENCODING: &str = "zstd";

/// One push: some collections of one node, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourcePush {
    /// The node's name.
    pub node: String,
    /// The collections, oldest first.
    pub collections: Vec<Collection>,
}

/// What one collection read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Collection {
    /// The agent's sequence number of the collection (for logs and tests only; the
    /// server deduplicates by series and timestamp).
    pub seq: u64,
    /// The node's figures.
    pub node: NodeSample,
    /// Named pods, each with its containers.
    #[serde(default)]
    pub pods: Vec<PodSample>,
}

/// The node's cumulative CPU and working set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSample {
    /// When the files were read, Unix nanoseconds.
    pub time: i64,
    /// Cumulative CPU, nanoseconds.
    pub cpu_ns: u64,
    /// Working set, bytes.
    pub memory: u64,
    /// What the node has (`/proc`: CPUs and `MemTotal`), when the agent knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
    /// What the node can give pods (`status.allocatable` of the Node object), when the
    /// agent reads the Kubernetes API: the percentages of `kelp top node`, as kubectl's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocatable: Option<Capacity>,
    /// The Node object's labels, when the agent reads the Kubernetes API.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A node's CPUs and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    /// CPUs, in millicores.
    pub cpu_millis: u64,
    /// Memory, bytes.
    pub memory: u64,
}

/// A pod: its cgroup's figures (sandbox included) and its named containers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodSample {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Pod UID.
    #[serde(default)]
    pub uid: String,
    /// The pod's labels as the Kubernetes API has them (`app.kubernetes.io/name`), when
    /// the agent watches the API (empty otherwise).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// When the pod cgroup was read, Unix nanoseconds.
    pub time: i64,
    /// Cumulative CPU of the pod cgroup, nanoseconds.
    pub cpu_ns: u64,
    /// Working set of the pod cgroup, bytes.
    pub memory: u64,
    /// Its containers with a log (not the sandbox).
    #[serde(default)]
    pub containers: Vec<ContainerSample>,
}

/// A container's figures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerSample {
    /// Container name.
    pub name: String,
    /// When its cgroup was read, Unix nanoseconds.
    pub time: i64,
    /// When it started (its cgroup's creation), Unix nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    /// Cumulative CPU, nanoseconds.
    pub cpu_ns: u64,
    /// Working set, bytes.
    pub memory: u64,
}

/// The server's answer to a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushAck {
    /// Samples stored.
    pub stored: u64,
    /// Samples already stored (a retry), or not newer than the series' last one.
    pub duplicates: u64,
    /// Samples refused (series limit).
    pub refused: u64,
}

/// The body of a push: JSON, zstd at `level`.
pub fn encode(push: &ResourcePush, level: i32) -> Vec<u8> {
    // Serializing plain structs of strings and integers cannot fail.
    let json = serde_json::to_vec(push).unwrap_or_default();
    zstd(&json, level)
}

/// Decodes a push body with its `Content-Encoding`, at most `max` bytes decompressed.
///
/// # Errors
///
/// [`WireError::UnsupportedEncoding`], [`WireError::Decompress`], [`WireError::TooLarge`]
/// or [`WireError::Json`] (with serde's message and position).
pub fn decode(
    content_encoding: Option<&str>,
    body: &[u8],
    max: usize,
) -> Result<ResourcePush, WireError> {
    let encoding = ContentEncoding::parse(content_encoding)?;
    if encoding == ContentEncoding::Snappy {
        return Err(WireError::UnsupportedEncoding {
            encoding: "snappy".into(),
        });
    }
    if body.len() > max {
        return Err(WireError::TooLarge {
            what: "resource push body",
            limit: max,
        });
    }
    let raw = decode_content_encoding(encoding, body, max)?;
    serde_json::from_slice(&raw).map_err(|e| WireError::Json {
        context: "resource push".into(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let push = ResourcePush {
            node: "n".into(),
            collections: vec![Collection {
                seq: 3,
                node: NodeSample {
                    time: 5,
                    cpu_ns: 6,
                    memory: 7,
                    capacity: Some(Capacity {
                        cpu_millis: 2000,
                        memory: 1 << 33,
                    }),
                    allocatable: Some(Capacity {
                        cpu_millis: 1930,
                        memory: 7 << 30,
                    }),
                    labels: BTreeMap::from([("kubernetes.io/hostname".into(), "n".into())]),
                },
                pods: vec![PodSample {
                    namespace: "shop".into(),
                    pod: "web-1".into(),
                    uid: "u".into(),
                    labels: BTreeMap::from([("app".into(), "web".into())]),
                    time: 5,
                    cpu_ns: 9,
                    memory: 10,
                    containers: vec![ContainerSample {
                        name: "app".into(),
                        time: 5,
                        start_time: Some(1),
                        cpu_ns: 8,
                        memory: 9,
                    }],
                }],
            }],
        };
        let body = encode(&push, 3);
        assert_eq!(decode(Some("zstd"), &body, 1 << 20).unwrap(), push);
        let plain = serde_json::to_vec(&push).unwrap();
        assert_eq!(decode(None, &plain, 1 << 20).unwrap(), push);
        let e = decode(None, b"{\"node\":1}", 100).unwrap_err();
        assert!(
            e.to_string().starts_with("resource push: invalid type"),
            "{e}"
        );
        let e = decode(None, &plain, 10).unwrap_err();
        assert!(matches!(e, WireError::TooLarge { .. }), "{e}");
        assert!(decode(Some("snappy"), &plain, 1 << 20).is_err());
    }

    /// A push of an agent from before node labels and allocatable (and pod labels)
    /// still decodes.
    #[test]
    fn old_pushes_decode() {
        let old = br#"{"node":"n1","collections":[{"seq":1,"node":{"time":5,"cpu_ns":6,"memory":7,"capacity":{"cpu_millis":2000,"memory":8}},"pods":[{"namespace":"a","pod":"p","uid":"u","time":5,"cpu_ns":1,"memory":2,"containers":[]}]}]}"#;
        let push = decode(None, old, 1 << 20).unwrap();
        let c = &push.collections[0];
        assert_eq!((c.node.allocatable, c.node.labels.len()), (None, 0));
        assert!(c.pods[0].labels.is_empty());
    }
}
