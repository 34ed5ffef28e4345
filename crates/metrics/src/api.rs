//! `metrics.k8s.io/v1beta1` objects as metrics-server serves them (spec §5.4): field
//! order, `timestamp` in RFC 3339 seconds, `window` as a Go duration,
//! `metadata.creationTimestamp` = the time of the request, quantities canonical.
//!
//! ```
//! use kelp_metrics::api::NodeMetrics;
//! use kelp_metrics::rate::Rate;
//! use kelp_model::{GoDuration, Timestamp};
//!
//! let rate = Rate {
//!     cpu_nanocores: 187_263_491,
//!     memory: 1_878_544_384,
//!     timestamp: Timestamp::parse_rfc3339(b"2024-06-01T12:00:14Z").unwrap(),
//!     window: GoDuration::from_nanos(15_012_000_000),
//! };
//! let now = Timestamp::parse_rfc3339(b"2024-06-01T12:00:20Z").unwrap();
//! let labels = [("kubernetes.io/hostname".to_owned(), "node-a".to_owned())].into();
//! let json = serde_json::to_string(&NodeMetrics::new("node-a", labels, now, &rate)).unwrap();
//! assert_eq!(json, r#"{"kind":"NodeMetrics","apiVersion":"metrics.k8s.io/v1beta1","metadata":{"name":"node-a","creationTimestamp":"2024-06-01T12:00:20Z","labels":{"kubernetes.io/hostname":"node-a"}},"timestamp":"2024-06-01T12:00:14Z","window":"15.012s","usage":{"cpu":"187263491n","memory":"1834516Ki"}}"#);
//! ```

use std::collections::BTreeMap;

use kelp_model::Timestamp;
use serde::{Deserialize, Serialize};

use crate::quantity;
use crate::rate::{PodRate, Rate};

/// The group and version.
pub const API_VERSION: &str = "metrics.k8s.io/v1beta1";

/// The `metadata` of an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// Object name.
    pub name: String,
    /// Namespace (pods only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The time of the request.
    #[serde(rename = "creationTimestamp")]
    pub creation_timestamp: String,
    /// The node's or pod's labels (Go prints map keys sorted).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A list's `metadata` (empty: metrics-server sets no resourceVersion).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListMeta {}

/// `usage`: canonical quantity strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// CPU (`187263491n`).
    pub cpu: String,
    /// Memory (`1834516Ki`).
    pub memory: String,
}

impl Usage {
    /// From nanocores and bytes.
    pub fn new(cpu_nanocores: u64, memory_bytes: u64) -> Self {
        Self {
            cpu: quantity::cpu(cpu_nanocores),
            memory: quantity::memory(memory_bytes),
        }
    }
}

/// A `NodeMetrics` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeMetrics {
    /// `NodeMetrics`.
    pub kind: String,
    /// [`API_VERSION`].
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Name, creation time, labels.
    pub metadata: ObjectMeta,
    /// End of the window, RFC 3339 seconds.
    pub timestamp: String,
    /// Go duration.
    pub window: String,
    /// CPU and memory.
    pub usage: Usage,
}

impl NodeMetrics {
    /// The object for node `name` with `rate`, answered at `now`.
    pub fn new(name: &str, labels: BTreeMap<String, String>, now: Timestamp, rate: &Rate) -> Self {
        Self {
            kind: "NodeMetrics".into(),
            api_version: API_VERSION.into(),
            metadata: ObjectMeta {
                name: name.into(),
                namespace: None,
                creation_timestamp: now.to_rfc3339_secs(),
                labels,
            },
            timestamp: rate.timestamp.to_rfc3339_secs(),
            window: rate.window.to_string(),
            usage: Usage::new(rate.cpu_nanocores, rate.memory),
        }
    }
}

/// One container of a `PodMetrics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerMetrics {
    /// Container name.
    pub name: String,
    /// CPU and memory.
    pub usage: Usage,
}

/// A `PodMetrics` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodMetrics {
    /// `PodMetrics`.
    pub kind: String,
    /// [`API_VERSION`].
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Name, namespace, creation time, labels.
    pub metadata: ObjectMeta,
    /// The earliest container timestamp, RFC 3339 seconds.
    pub timestamp: String,
    /// That container's window, Go duration.
    pub window: String,
    /// Per container.
    pub containers: Vec<ContainerMetrics>,
}

impl PodMetrics {
    /// The object for `rate`, with the pod's labels, answered at `now`.
    pub fn new(rate: &PodRate, labels: BTreeMap<String, String>, now: Timestamp) -> Self {
        Self {
            kind: "PodMetrics".into(),
            api_version: API_VERSION.into(),
            metadata: ObjectMeta {
                name: rate.name.clone(),
                namespace: Some(rate.namespace.clone()),
                creation_timestamp: now.to_rfc3339_secs(),
                labels,
            },
            timestamp: rate.timestamp.to_rfc3339_secs(),
            window: rate.window.to_string(),
            containers: rate
                .containers
                .iter()
                .map(|(name, r)| ContainerMetrics {
                    name: name.clone(),
                    usage: Usage::new(r.cpu_nanocores, r.memory),
                })
                .collect(),
        }
    }
}

/// A `NodeMetricsList` or `PodMetricsList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct List<T> {
    /// `NodeMetricsList` or `PodMetricsList`.
    pub kind: String,
    /// [`API_VERSION`].
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// Always empty.
    pub metadata: ListMeta,
    /// The objects.
    pub items: Vec<T>,
}

impl List<NodeMetrics> {
    /// A `NodeMetricsList`.
    pub fn nodes(items: Vec<NodeMetrics>) -> Self {
        Self::with_kind("NodeMetricsList", items)
    }
}

impl List<PodMetrics> {
    /// A `PodMetricsList`.
    pub fn pods(items: Vec<PodMetrics>) -> Self {
        Self::with_kind("PodMetricsList", items)
    }
}

impl<T> List<T> {
    fn with_kind(kind: &str, items: Vec<T>) -> Self {
        Self {
            kind: kind.into(),
            api_version: API_VERSION.into(),
            metadata: ListMeta {},
            items,
        }
    }
}
