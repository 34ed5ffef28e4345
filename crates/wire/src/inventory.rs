//! The agent's pod inventory, `POST /kelp/api/v1/inventory`: the pods whose log
//! directories exist on a node right now (`<ns>_<pod>_<uid>` under `/var/log/pods`), with
//! each container's current restart (the highest `<restart>.log`). A node's latest report
//! replaces its previous one; the server answers `kelp pods`' "does it still exist" from it.
//!
//! JSON body, `Content-Type: application/json`:
//!
//! ```json
//! {"node":"node-1","pods":[{"namespace":"shop","pod":"web-1","uid":"8a…",
//!   "containers":[{"name":"app","restart":2}]}]}
//! ```

use serde::{Deserialize, Serialize};

use crate::WireError;

/// Where the agent sends its inventory.
pub const INVENTORY_PATH: &str = "/kelp/api/v1/inventory";

/// Most pods one report may list (a node runs at most a few hundred).
pub const MAX_INVENTORY_PODS: usize = 100_000;

/// One node's pods.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// The node's name (the agent's `node` label).
    pub node: String,
    /// The pods present, in any order.
    pub pods: Vec<InventoryPod>,
}

/// A pod present on the node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryPod {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub pod: String,
    /// Pod UID.
    pub uid: String,
    /// Its containers with a log directory.
    #[serde(default)]
    pub containers: Vec<InventoryContainer>,
}

/// A container of a present pod.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryContainer {
    /// Container name.
    pub name: String,
    /// The current instance's restart number (`<restart>.log`).
    pub restart: u32,
}

impl Inventory {
    /// Encodes as JSON.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain strings and numbers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Decodes and checks a report: a node name, at most [`MAX_INVENTORY_PODS`] pods, no
    /// empty names.
    pub fn from_json(body: &[u8]) -> Result<Self, WireError> {
        let inv: Inventory =
            serde_json::from_slice(body).map_err(|e| WireError::json("body", e.to_string()))?;
        if inv.node.is_empty() {
            return Err(WireError::json("node", "the node name is empty"));
        }
        if inv.pods.len() > MAX_INVENTORY_PODS {
            return Err(WireError::json(
                "pods",
                format!(
                    "{} pods is over the limit of {MAX_INVENTORY_PODS}",
                    inv.pods.len()
                ),
            ));
        }
        for (i, p) in inv.pods.iter().enumerate() {
            if p.namespace.is_empty() || p.pod.is_empty() || p.uid.is_empty() {
                return Err(WireError::json(
                    format!("pod {i}"),
                    "namespace, pod and uid must not be empty",
                ));
            }
        }
        Ok(inv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let inv = Inventory {
            node: "n1".into(),
            pods: vec![InventoryPod {
                namespace: "shop".into(),
                pod: "web-1".into(),
                uid: "u1".into(),
                containers: vec![InventoryContainer {
                    name: "app".into(),
                    restart: 2,
                }],
            }],
        };
        assert_eq!(Inventory::from_json(&inv.to_json()).unwrap(), inv);
        for bad in [
            &b"{"[..],
            br#"{"node":"","pods":[]}"#,
            br#"{"node":"n","pods":[{"namespace":"","pod":"p","uid":"u"}]}"#,
            br#"{"node":"n","pods":[],"extra":1}"#,
        ] {
            assert!(Inventory::from_json(bad).is_err());
        }
    }
}
