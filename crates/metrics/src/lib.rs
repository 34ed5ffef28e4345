//! # kelp-metrics
//!
//! Resource metrics the way the kubelet, metrics-server and `kubectl top` compute them
//! (spec §5), as a library with no network: the agent collects with it, the server keeps
//! rates and answers `metrics.k8s.io` with it, the CLI prints `kelp top` with it.
//!
//! - [`cgroup`]: scan a cgroup v2 root for pod and container cgroups (systemd and
//!   cgroupfs drivers, containerd and CRI-O naming, every QoS class): cumulative CPU and
//!   working set per pod and container.
//! - [`node`]: node CPU and working set from the root cgroup (v2 or v1), or `/proc`.
//! - [`mapping`]: container id → namespace, pod, container, from the pod log tree.
//! - [`collect`]: all three in one call, and the points metrics-server would decode.
//! - [`rate`]: metrics-server's last/previous storage and rate rules.
//! - [`quantity`]: canonical quantity strings; [`api`]: `metrics.k8s.io/v1beta1` JSON.
//! - [`top`]: `kubectl top node|pod` tables.
//!
//! ```
//! use kelp_metrics::rate::{rate, Point};
//! use kelp_metrics::quantity;
//! use kelp_model::Timestamp;
//!
//! // spec §5.3: 5.000 s at t=100 and 5.300 s at t=115 → 0.02 cores.
//! let p = |t: i64, cpu_ns| Point { start_time: Timestamp(0), timestamp: Timestamp(t * 1_000_000_000), cpu_ns, memory: 1 };
//! let r = rate(&p(115, 5_300_000_000), &p(100, 5_000_000_000)).unwrap();
//! assert_eq!(r.cpu_nanocores, 20_000_000);
//! assert_eq!((quantity::cpu(r.cpu_nanocores), r.window.to_string()), ("20m".into(), "15s".into()));
//! ```

pub mod api;
pub mod cgroup;
pub mod collect;
mod error;
pub mod mapping;
pub mod node;
pub mod quantity;
pub mod rate;
mod tabwriter;
pub mod top;

pub use error::MetricsError;
