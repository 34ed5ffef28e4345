//! The agents' pod inventories (`kelp_wire::inventory`), kept per tenant and node: the
//! latest report of a node replaces the previous one. `GET /kelp/api/v1/pods` reads them
//! to tell whether a pod still exists on its node.
//!
//! Persisted in `<data_dir>/inventory.json` so a restarted server still knows them: a JSON
//! object `{"<tenant>": {"<node>": {"received": <unix ns>, "pods": [...]}}}`, rewritten
//! (temp file, fsync, rename, directory fsync) whenever a node's pod set changes. A report
//! that changes nothing only updates the time in memory.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use kelp_model::{TenantId, Timestamp};
use kelp_wire::inventory::{Inventory, InventoryPod};
use serde::{Deserialize, Serialize};

/// The file name inside the data directory.
pub const INVENTORY_FILE: &str = "inventory.json";

/// One node's latest report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInventory {
    /// When it was received (Unix ns).
    pub received: i64,
    /// The pods present then, sorted.
    pub pods: Vec<InventoryPod>,
}

type Map = BTreeMap<String, BTreeMap<String, NodeInventory>>;

/// Every tenant's nodes' latest inventories.
#[derive(Debug)]
pub struct Inventories {
    path: PathBuf,
    map: Mutex<Map>,
}

impl Inventories {
    /// Reads `<data_dir>/inventory.json`; a missing or unreadable file is an empty map
    /// (agents report again within seconds), logged when it is corrupt.
    pub fn load(data_dir: &Path) -> Self {
        let path = data_dir.join(INVENTORY_FILE);
        let map = match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "pod inventory unreadable; starting empty");
                Map::new()
            }),
            Err(_) => Map::new(),
        };
        Self {
            path,
            map: Mutex::new(map),
        }
    }

    /// Stores `inv` as `tenant`'s node's latest report; writes the file when the node's
    /// pods changed. Blocking (file I/O).
    pub fn report(&self, tenant: &TenantId, mut inv: Inventory) -> std::io::Result<()> {
        inv.pods.sort();
        inv.pods.dedup();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let nodes = map.entry(tenant.as_str().to_owned()).or_default();
        let now = Timestamp::now().as_unix_nanos();
        let changed = nodes.get(&inv.node).is_none_or(|n| n.pods != inv.pods);
        nodes.insert(
            inv.node,
            NodeInventory {
                received: now,
                pods: inv.pods,
            },
        );
        if !changed {
            return Ok(());
        }
        let body = serde_json::to_vec(&*map).map_err(std::io::Error::other)?;
        write_atomic(&self.path, &body)
    }

    /// `tenant`'s nodes and their latest reports.
    pub fn nodes(&self, tenant: &TenantId) -> BTreeMap<String, NodeInventory> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(tenant.as_str()).cloned().unwrap_or_default()
    }
}

/// Writes `body` to `path` through a temp file, fsync, rename and directory fsync.
fn write_atomic(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(body)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kelp_wire::inventory::InventoryContainer;

    #[test]
    fn reports_replace_and_survive_a_reload() {
        let dir = tempfile::tempdir().unwrap();
        let t = TenantId::parse("t1").unwrap();
        let pod = |name: &str| InventoryPod {
            namespace: "ns".into(),
            pod: name.into(),
            uid: format!("{name}-uid"),
            containers: vec![InventoryContainer {
                name: "c".into(),
                restart: 1,
            }],
        };
        let inv = Inventories::load(dir.path());
        inv.report(
            &t,
            Inventory {
                node: "n1".into(),
                pods: vec![pod("b"), pod("a")],
            },
        )
        .unwrap();
        inv.report(
            &t,
            Inventory {
                node: "n1".into(),
                pods: vec![pod("a")],
            },
        )
        .unwrap();
        let again = Inventories::load(dir.path());
        let nodes = again.nodes(&t);
        assert_eq!(nodes["n1"].pods, [pod("a")]);
        assert!(again.nodes(&TenantId::parse("t2").unwrap()).is_empty());
        std::fs::write(dir.path().join(INVENTORY_FILE), b"{broken").unwrap();
        assert!(Inventories::load(dir.path()).nodes(&t).is_empty());
    }
}
