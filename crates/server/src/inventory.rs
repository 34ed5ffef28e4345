//! The agents' pod inventories (`kelp_wire::inventory`), kept per tenant and node: the
//! latest report of a node replaces the previous one. `GET /kelp/api/v1/pods` reads them
//! to tell whether a pod still exists on its node.
//!
//! Persisted in `<data_dir>/inventory/`, one file per tenant and node (named by the hex of
//! `<tenant>/<node>`, so no name from a request becomes a path), so a restarted server
//! still knows them: `{"tenant": "…", "node": "…", "received": <unix ns>, "pods": [...]}`,
//! written (temp file, fsync, rename, directory fsync) whenever the node's pod set
//! changes. A report that changes nothing only updates the time in memory.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use kelp_model::{TenantId, Timestamp};
use kelp_wire::inventory::{Inventory, InventoryPod};
use serde::{Deserialize, Serialize};

/// The directory inside the data directory.
pub const INVENTORY_DIR: &str = "inventory";

/// One node's latest report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInventory {
    /// When it was received (Unix ns).
    pub received: i64,
    /// The pods present then, sorted.
    pub pods: Vec<InventoryPod>,
}

type Map = BTreeMap<String, BTreeMap<String, NodeInventory>>;

/// One file: a tenant's node's latest report.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeFile {
    tenant: String,
    node: String,
    #[serde(flatten)]
    inventory: NodeInventory,
}

/// Every tenant's nodes' latest inventories.
#[derive(Debug)]
pub struct Inventories {
    dir: PathBuf,
    map: Mutex<Map>,
}

impl Inventories {
    /// Reads `<data_dir>/inventory/`; a missing directory is an empty map, an unreadable
    /// file is skipped with a warning (its agent reports again within 30 s).
    pub fn load(data_dir: &Path) -> Self {
        let dir = data_dir.join(INVENTORY_DIR);
        let mut map = Map::new();
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let parsed = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<NodeFile>(&b).map_err(|e| e.to_string()));
            match parsed {
                Ok(f) => {
                    map.entry(f.tenant).or_default().insert(f.node, f.inventory);
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "pod inventory unreadable; skipped")
                }
            }
        }
        Self {
            dir,
            map: Mutex::new(map),
        }
    }

    /// Stores `inv` as `tenant`'s node's latest report; writes the file when the node's
    /// pods changed. Blocking (file I/O).
    pub fn report(&self, tenant: &TenantId, mut inv: Inventory) -> std::io::Result<()> {
        inv.pods.sort();
        inv.pods.dedup();
        let file = NodeFile {
            tenant: tenant.as_str().to_owned(),
            node: inv.node,
            inventory: NodeInventory {
                received: Timestamp::now().as_unix_nanos(),
                pods: inv.pods,
            },
        };
        let changed = {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            let nodes = map.entry(file.tenant.clone()).or_default();
            let changed = nodes
                .get(&file.node)
                .is_none_or(|n| n.pods != file.inventory.pods);
            nodes.insert(file.node.clone(), file.inventory.clone());
            changed
        };
        if !changed {
            return Ok(());
        }
        let name = format!("{}.json", hex(&format!("{}/{}", file.tenant, file.node)));
        let body = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
        write_atomic(&self.dir, &name, &body)
    }

    /// `tenant`'s nodes and their latest reports.
    pub fn nodes(&self, tenant: &TenantId) -> BTreeMap<String, NodeInventory> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(tenant.as_str()).cloned().unwrap_or_default()
    }
}

/// Lowercase hex of `s`'s bytes.
fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Writes `body` to `dir/name` through a temp file (unique to this write), fsync, rename
/// and directory fsync.
fn write_atomic(dir: &Path, name: &str, body: &[u8]) -> std::io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    std::fs::create_dir_all(dir)?;
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!("{name}.{}.{n}.tmp", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(body)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))?;
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
        let files: Vec<_> = std::fs::read_dir(dir.path().join(INVENTORY_DIR))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "one file per node, no temp file left");
        std::fs::write(&files[0], b"{broken").unwrap();
        assert!(Inventories::load(dir.path()).nodes(&t).is_empty());
        // Names from requests never become paths.
        inv.report(
            &t,
            Inventory {
                node: "../../escape".into(),
                pods: vec![],
            },
        )
        .unwrap();
        assert!(!dir.path().join("escape").exists());
        assert!(Inventories::load(dir.path())
            .nodes(&t)
            .contains_key("../../escape"));
    }
}
