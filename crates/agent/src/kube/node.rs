//! The agent's own Node object (`GET /api/v1/nodes/<node>`), read every [`NODE_EVERY`]
//! into the pod cache for the resource collector: its labels, capacity and allocatable
//! (`kelp top node`'s percentages, metrics.k8s.io's node labels).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::api::{Api, Failed};
use super::{KubeConfig, Node, NodeInfo, PodCache};
use crate::AgentError;

/// How often [`spawn_node`] reads the Node object again.
pub const NODE_EVERY: Duration = Duration::from_secs(60);

/// How long [`spawn_node`] waits for the first read.
const FIRST_READ_WAIT: Duration = Duration::from_secs(5);

/// A path segment, percent-encoded (node names are DNS subdomains; this is a safety net).
fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn read_node(api: &Api, node: &str, cache: &PodCache) -> Result<(), Failed> {
    let path = format!("/api/v1/nodes/{}", path_segment(node));
    let (status, body) = api.get_json(&path)?;
    if status != 200 {
        return Err(Failed(format!("GET {path}: HTTP {status}")));
    }
    let node: Node =
        serde_json::from_value(body).map_err(|e| Failed(format!("GET {path}: {e}")))?;
    cache.set_node(NodeInfo::of(&node));
    Ok(())
}

fn sleep_unless(stop: &AtomicBool, d: Duration) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::SeqCst) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts a thread reading the agent's Node object into `cache` every [`NODE_EVERY`]
/// (a failure is logged and retried at the next turn; the last good read is kept), and
/// waits up to 5 s for its first read.
pub fn spawn_node(
    config: &KubeConfig,
    cache: Arc<PodCache>,
    stop: Arc<AtomicBool>,
) -> Result<(), AgentError> {
    let api = Api::new(config, Duration::from_secs(30))?;
    let node = config.node.clone();
    let shared = cache.clone();
    std::thread::Builder::new()
        .name("kelp-agent-node".into())
        .spawn(move || {
            let mut warned = false;
            while !stop.load(Ordering::SeqCst) {
                match read_node(&api, &node, &shared) {
                    Ok(()) => warned = false,
                    Err(Failed(reason)) if !warned => {
                        tracing::warn!(%reason, "cannot read the node object; percentages use /proc's capacity");
                        warned = true;
                    }
                    Err(Failed(reason)) => {
                        tracing::debug!(%reason, "node object read failed again")
                    }
                }
                sleep_unless(&stop, NODE_EVERY);
            }
        })
        .map_err(|source| AgentError::Io {
            path: "kelp-agent-node thread".into(),
            source,
        })?;
    let until = Instant::now() + FIRST_READ_WAIT;
    while cache.node().is_none() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
