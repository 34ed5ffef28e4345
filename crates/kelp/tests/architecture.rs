//! ARCHITECTURE.md stays true: every workspace crate is in its table, and no crate depends
//! on a Kelp crate or an HTTP framework that the table does not allow.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root exists")
}

/// Rows of the first markdown table under `heading`: (first cell, other cells).
fn table_rows(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let start = doc
        .find(heading)
        .unwrap_or_else(|| panic!("ARCHITECTURE.md has no {heading:?} section"));
    doc[start..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // header and separator
        .map(|l| {
            l.trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect()
}

/// Crate names written as `kelp-x` in a cell, in order.
fn crate_names(cell: &str) -> BTreeSet<String> {
    cell.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("kelp"))
        .map(str::to_owned)
        .collect()
}

struct Package {
    deps: BTreeSet<String>,
}

fn workspace_packages() -> BTreeMap<String, Package> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    meta["packages"]
        .as_array()
        .expect("packages array")
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .expect("dependencies array")
                .iter()
                .map(|d| d["name"].as_str().expect("dep name").to_owned())
                .collect();
            (
                p["name"].as_str().expect("name").to_owned(),
                Package { deps },
            )
        })
        .collect()
}

#[test]
fn dependency_edges_follow_architecture_md() {
    let doc = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md exists");
    // | `kelp-x` | owns | depends on |
    let allowed: BTreeMap<String, BTreeSet<String>> = table_rows(&doc, "## Crates and their edges")
        .into_iter()
        .map(|row| {
            let name = crate_names(&row[0]).into_iter().next().expect("crate name");
            (name, crate_names(row.last().expect("depends-on cell")))
        })
        .collect();
    // | `kelp-x` | external crates it must not use |
    let banned: BTreeMap<String, BTreeSet<String>> = table_rows(&doc, "## Forbidden external")
        .into_iter()
        .map(|row| {
            let name = crate_names(&row[0]).into_iter().next().expect("crate name");
            let words = row[1]
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect();
            (name, words)
        })
        .collect();
    assert!(!allowed.is_empty() && !banned.is_empty());

    let packages = workspace_packages();
    let mut problems = Vec::new();
    for (name, pkg) in &packages {
        let Some(ok) = allowed.get(name) else {
            problems.push(format!("{name} is not in ARCHITECTURE.md's crate table"));
            continue;
        };
        for dep in &pkg.deps {
            if packages.contains_key(dep) && !ok.contains(dep) {
                problems.push(format!(
                    "{name} depends on {dep}, which ARCHITECTURE.md forbids"
                ));
            }
            if banned.get(name).is_some_and(|b| b.contains(dep)) {
                problems.push(format!("{name} uses {dep}, which ARCHITECTURE.md forbids"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
