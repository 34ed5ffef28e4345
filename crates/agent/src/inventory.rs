//! The pod inventory: which pods exist on this node right now, reported to the server so
//! `kelp pods` can tell a live pod from a deleted one without the Kubernetes API.
//!
//! A pod exists on the node while the kubelet keeps its log directory
//! (`<pods_dir>/<ns>_<pod>_<uid>/`): it removes it when the pod is deleted. Every
//! `interval` a thread lists the pods directory (one `readdir` per pod and per container,
//! no file is opened) and posts the set (`kelp_wire::inventory`) to the server when it
//! changed, and at least every `refresh` otherwise, so a restarted server learns it again.
//! A failed report is retried at the next listing; it never holds up log shipping.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kelp_client::replicas::KeyedSender;
use kelp_client::RetryPolicy;
use kelp_k8s::path::PodLogPath;
use kelp_wire::inventory::{Inventory, InventoryContainer, InventoryPod, INVENTORY_PATH};

use crate::AgentConfig;

/// How often the pods directory is listed.
pub const LIST_EVERY: Duration = Duration::from_secs(1);
/// An unchanged inventory is sent again this often.
pub const REFRESH_EVERY: Duration = Duration::from_secs(30);

/// The pods under `pods_dir`, sorted; directories that are not pod log directories are
/// skipped. A missing `pods_dir` is an empty node.
pub fn list(pods_dir: &Path) -> std::io::Result<Vec<InventoryPod>> {
    let entries = match std::fs::read_dir(pods_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut pods = Vec::new();
    for entry in entries.flatten() {
        let Some(dir) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        // The pod directory's name parses as part of a path; `x/0.log` is a stand-in.
        let probe = format!("{dir}/x/0.log");
        let Ok(p) = PodLogPath::parse(&probe) else {
            continue;
        };
        let (namespace, pod, uid) = (p.namespace.to_owned(), p.pod.to_owned(), p.uid.to_owned());
        let mut containers: BTreeMap<String, u32> = BTreeMap::new();
        // A pod directory removed meanwhile is simply gone.
        for c in std::fs::read_dir(entry.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let Some(name) = c.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if !c.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let mut restart = None;
            for f in std::fs::read_dir(c.path()).into_iter().flatten().flatten() {
                let Some(file) = f.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                if let Ok(l) = PodLogPath::parse(&format!("{dir}/{name}/{file}")) {
                    restart = Some(restart.unwrap_or(0).max(l.restart));
                }
            }
            if PodLogPath::parse(&format!("{dir}/{name}/0.log")).is_ok() {
                containers.insert(name, restart.unwrap_or(0));
            }
        }
        pods.push(InventoryPod {
            namespace,
            pod,
            uid,
            containers: containers
                .into_iter()
                .map(|(name, restart)| InventoryContainer { name, restart })
                .collect(),
        });
    }
    pods.sort();
    Ok(pods)
}

/// Starts the inventory thread when the agent ships pod logs to a Kelp server; it ends
/// when `stop` is set.
pub(crate) fn spawn(
    config: &AgentConfig,
    stop: Arc<AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    if !config.read_pods || config.sink.kind != crate::sink::SinkKind::Kelp {
        return None;
    }
    // One attempt per report: the next listing is the retry.
    let policy = RetryPolicy {
        max_attempts: Some(1),
        timeout: Duration::from_secs(10),
        ..config.retry.clone()
    };
    // With several replicas, the node's inventory goes to the one its name hashes to, or
    // to the next while that one is down.
    let made = crate::sink::keyed_sender(&config.server, &config.node, policy, &config.sink);
    let client = match made {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "no pod inventory");
            return None;
        }
    };
    let (pods_dir, node) = (config.pods_dir.clone(), config.node.clone());
    std::thread::Builder::new()
        .name("inventory".into())
        .spawn(move || run(&client, &pods_dir, &node, &stop))
        .ok()
}

fn run(client: &KeyedSender, pods_dir: &Path, node: &str, stop: &AtomicBool) {
    let mut sent: Option<(Vec<InventoryPod>, Instant)> = None;
    let mut failing = false;
    while !stop.load(Ordering::SeqCst) {
        match list(pods_dir) {
            Ok(pods) => {
                let due = sent
                    .as_ref()
                    .is_none_or(|(p, at)| *p != pods || at.elapsed() >= REFRESH_EVERY);
                if due {
                    let body = Inventory {
                        node: node.to_owned(),
                        pods: pods.clone(),
                    }
                    .to_json();
                    match client.post(INVENTORY_PATH, "application/json", None, &body) {
                        Ok(_) => {
                            sent = Some((pods, Instant::now()));
                            failing = false;
                        }
                        Err(e) => {
                            if !failing {
                                tracing::warn!(error = %e, "pod inventory not delivered; retrying");
                            }
                            failing = true;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, dir = %pods_dir.display(), "listing pods"),
        }
        // Sleeps in small steps so a stop is seen quickly.
        let until = Instant::now() + LIST_EVERY;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_pods_with_their_current_restart() {
        let dir = tempfile::tempdir().unwrap();
        let pod = dir.path().join("shop_web-1_u1");
        std::fs::create_dir_all(pod.join("app")).unwrap();
        std::fs::create_dir_all(pod.join("side")).unwrap();
        for f in ["0.log.20261123-000000.gz", "1.log", "2.log"] {
            std::fs::write(pod.join("app").join(f), b"").unwrap();
        }
        std::fs::create_dir_all(dir.path().join("not-a-pod")).unwrap();
        let pods = list(dir.path()).unwrap();
        assert_eq!(
            pods,
            [InventoryPod {
                namespace: "shop".into(),
                pod: "web-1".into(),
                uid: "u1".into(),
                containers: vec![
                    InventoryContainer {
                        name: "app".into(),
                        restart: 2
                    },
                    InventoryContainer {
                        name: "side".into(),
                        restart: 0
                    },
                ],
            }]
        );
        assert!(list(&dir.path().join("missing")).unwrap().is_empty());
    }
}
