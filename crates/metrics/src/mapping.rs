//! Names for cgroups: container id → (namespace, pod, container) from the pod log tree.
//!
//! cgroups know pod UIDs and container ids; metrics need names. The kubelet's log tree
//! has both (spec §2.1):
//! - `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log` names a pod by UID;
//! - `/var/log/containers/<pod>_<namespace>_<container>-<id>.log` names a container by
//!   id (and namespace and pod, which must be those of the pod cgroup's UID).
//!
//! [`LogIndex::read`] builds both maps from two directory listings (no per-file system
//! calls) with `kelp-k8s`'s parsers; [`join`] puts names on a [`Scan`]. A container cgroup whose id has no log symlink (the pod sandbox, or a
//! container whose symlink is not written yet) keeps counting in the pod-level values and
//! is listed in [`PodSample::unnamed`], not as a container.

use std::collections::HashMap;
use std::path::Path;

use kelp_k8s::path::{ContainerLogLink, PodLogPath};
use kelp_model::Timestamp;

use crate::cgroup::{is_container_id, Qos, Scan, Usage};
use crate::error::MetricsError;

/// A pod's names, from its log directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Pod UID (a static pod's config hash).
    pub uid: String,
}

/// A container's names, from its `/var/log/containers` symlink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRef {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub container: String,
}

/// Pods by UID and containers by id, as the log tree shows them.
#[derive(Debug, Clone, Default)]
pub struct LogIndex {
    pods: HashMap<String, PodRef>,
    containers: HashMap<String, ContainerRef>,
    /// Symlinks the kubelet cut to 251 bytes: (id prefix, names).
    truncated: Vec<(String, ContainerRef)>,
}

impl LogIndex {
    /// Reads `pods_dir` (`/var/log/pods`) and `containers_dir` (`/var/log/containers`).
    /// Names that are not the kubelet's are passed over.
    ///
    /// # Errors
    ///
    /// [`MetricsError::Io`] when a directory cannot be listed.
    pub fn read(pods_dir: &Path, containers_dir: &Path) -> Result<Self, MetricsError> {
        let mut index = Self::default();
        for name in list(pods_dir)? {
            // The pod directory's name is checked by the pod log path parser, on a
            // stand-in `<dir>/<container>/0.log` below it.
            if let Ok(p) = PodLogPath::parse(&format!("{name}/c/0.log")) {
                index.insert_pod(PodRef {
                    namespace: p.namespace.into(),
                    pod: p.pod.into(),
                    uid: p.uid.into(),
                });
            }
        }
        for name in list(containers_dir)? {
            let Ok(l) = ContainerLogLink::parse(&name) else {
                continue;
            };
            let names = ContainerRef {
                namespace: l.namespace.into(),
                pod: l.pod.into(),
                container: l.container.into(),
            };
            index.insert_container(l.container_id, l.truncated, names);
        }
        Ok(index)
    }

    /// Adds a pod.
    pub fn insert_pod(&mut self, pod: PodRef) {
        self.pods.insert(pod.uid.clone(), pod);
    }

    /// Adds a container by id (`truncated`: the id is a prefix cut by the kubelet).
    pub fn insert_container(&mut self, id: &str, truncated: bool, names: ContainerRef) {
        if truncated || !is_container_id(id) {
            if !id.is_empty() {
                self.truncated.push((id.to_owned(), names));
            }
        } else {
            self.containers.insert(id.to_owned(), names);
        }
    }

    /// Whether some log names the container with this id (a cut symlink by prefix).
    pub fn has_container(&self, id: &str) -> bool {
        self.containers.contains_key(id)
            || self
                .truncated
                .iter()
                .any(|(prefix, _)| id.starts_with(prefix.as_str()))
    }

    /// Ids of the containers with a log (uncut names), by (namespace, pod).
    pub fn ids_by_pod(&self) -> HashMap<(&str, &str), Vec<&str>> {
        let mut out: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
        for (id, c) in &self.containers {
            out.entry((c.namespace.as_str(), c.pod.as_str()))
                .or_default()
                .push(id.as_str());
        }
        out
    }

    /// The pod with this UID.
    pub fn pod(&self, uid: &str) -> Option<&PodRef> {
        self.pods.get(uid)
    }

    /// Every pod, in no particular order.
    pub fn pods(&self) -> impl Iterator<Item = &PodRef> {
        self.pods.values()
    }

    /// The names of the container with this id, in the pod `pod` (a cut symlink matches
    /// by prefix, within that pod only).
    pub fn container(&self, id: &str, pod: &PodRef) -> Option<&ContainerRef> {
        let same_pod = |c: &&ContainerRef| c.namespace == pod.namespace && c.pod == pod.pod;
        self.containers.get(id).filter(same_pod).or_else(|| {
            self.truncated
                .iter()
                .find(|(prefix, c)| id.starts_with(prefix.as_str()) && same_pod(&c))
                .map(|(_, c)| c)
        })
    }
}

/// A named container sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSample {
    /// Container name.
    pub name: String,
    /// Container id.
    pub id: String,
    /// Cumulative CPU and working set.
    pub usage: Usage,
    /// When read.
    pub time: Timestamp,
    /// Start time stand-in (the cgroup's creation), for restart detection.
    pub start_time: Option<Timestamp>,
}

/// A named pod sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSample {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Pod UID.
    pub uid: String,
    /// QoS class.
    pub qos: Qos,
    /// Pod cgroup values (sandbox included), the kubelet's `pod_*` metrics.
    pub usage: Usage,
    /// When read.
    pub time: Timestamp,
    /// Containers with a log, sorted by name.
    pub containers: Vec<ContainerSample>,
    /// Ids of container cgroups without a log: the sandbox, or a container too new to
    /// have its symlink.
    pub unnamed: Vec<String>,
}

/// A scan with names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Joined {
    /// Pods found in both the cgroups and the log tree, sorted by namespace and name.
    pub pods: Vec<PodSample>,
    /// UIDs of pod cgroups with no pod log directory.
    pub unknown_pods: Vec<String>,
}

/// Names the pods and containers of `scan` from `index`.
pub fn join(scan: &Scan, index: &LogIndex) -> Joined {
    let mut out = Joined::default();
    for pod in &scan.pods {
        let Some(names) = index.pod(&pod.uid) else {
            out.unknown_pods.push(pod.uid.clone());
            continue;
        };
        let mut containers = Vec::new();
        let mut unnamed = Vec::new();
        for c in &pod.containers {
            match index.container(&c.id, names) {
                Some(r) => containers.push(ContainerSample {
                    name: r.container.clone(),
                    id: c.id.clone(),
                    usage: c.usage,
                    time: c.time,
                    start_time: c.start_time,
                }),
                None => unnamed.push(c.id.clone()),
            }
        }
        unnamed.extend(pod.unread.iter().cloned());
        unnamed.sort();
        containers.sort_by(|a, b| a.name.cmp(&b.name));
        out.pods.push(PodSample {
            namespace: names.namespace.clone(),
            pod: names.pod.clone(),
            uid: pod.uid.clone(),
            qos: pod.qos,
            usage: pod.usage,
            time: pod.time,
            containers,
            unnamed,
        });
    }
    out.pods
        .sort_by(|a, b| (&a.namespace, &a.pod).cmp(&(&b.namespace, &b.pod)));
    out
}

/// The UTF-8 entry names of `dir`.
fn list(dir: &Path) -> Result<Vec<String>, MetricsError> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| MetricsError::io(dir, e))? {
        let e = e.map_err(|e| MetricsError::io(dir, e))?;
        if let Ok(name) = e.file_name().into_string() {
            out.push(name);
        }
    }
    Ok(out)
}
