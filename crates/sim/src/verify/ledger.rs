//! Reading the ledger and comparing it with the lines in a tree.

use std::path::Path;

use super::corrupt;
use crate::{LedgerEntry, SimError};

/// Reads a ledger file.
pub fn read_ledger(path: &Path) -> Result<Vec<LedgerEntry>, SimError> {
    let text = std::fs::read_to_string(path).map_err(SimError::io("read", path))?;
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| corrupt(path, format!("line {}: {e}", i + 1)))
        })
        .collect()
}

/// How the lines in a tree compare with a ledger, instance by instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerComparison {
    /// Logical lines rebuilt from the tree's files.
    pub lines_in_files: usize,
    /// Entries in the ledger.
    pub lines_in_ledger: usize,
    /// Ledger lines of instances still in the tree but no longer in their files: the
    /// oldest lines of an instance, whose rotated files the kubelet deleted.
    pub lost_to_rotation: usize,
    /// Ledger lines of instances no longer in the tree (garbage-collected or pod deleted).
    pub lost_with_instance: usize,
    /// Lines in the files that the ledger does not account for, or not in its order: must
    /// be empty.
    pub problems: Vec<String>,
}

/// Compares the tree's lines with the ledger. For each instance in the tree, its rebuilt
/// lines must be the ledger's lines for that instance (same stream, first-record time,
/// bytes and termination), except that a prefix may be missing, lost to rotation; the
/// first line left may then be the tail of a line whose first records were deleted.
pub fn compare_with_ledger(
    tree: &super::Tree,
    ledger: &[LedgerEntry],
) -> Result<LedgerComparison, SimError> {
    use std::collections::BTreeMap;
    let mut by_instance: BTreeMap<(&str, &str, u32), Vec<&LedgerEntry>> = BTreeMap::new();
    for e in ledger {
        by_instance
            .entry((&e.pod_uid, &e.container, e.restart))
            .or_default()
            .push(e);
    }
    let mut cmp = LedgerComparison {
        lines_in_ledger: ledger.len(),
        ..Default::default()
    };
    for pod in &tree.pods {
        for c in &pod.containers {
            for inst in &c.instances {
                let lines = super::read_lines(inst)?;
                cmp.lines_in_files += lines.len();
                let expected = by_instance
                    .remove(&(pod.uid.as_str(), c.name.as_str(), inst.restart))
                    .unwrap_or_default();
                let name = format!("{}/{}/{}.log", pod.path.display(), c.name, inst.restart);
                if lines.len() > expected.len() {
                    cmp.problems.push(format!(
                        "{name}: {} lines, the ledger has {}",
                        lines.len(),
                        expected.len()
                    ));
                    continue;
                }
                let lost = expected.len() - lines.len();
                cmp.lost_to_rotation += lost;
                for (i, (got, want)) in lines.iter().zip(&expected[lost..]).enumerate() {
                    let same = got.stream.as_str() == want.stream
                        && got.time.to_rfc3339_nano() == want.time
                        && got.sha256() == want.sha256
                        && got.terminated != want.unterminated;
                    let tail_of_lost = i == 0 && lost > 0 && (got.content.len() as u64) < want.len;
                    if !same && !tail_of_lost {
                        cmp.problems
                            .push(format!("{name}: line {} differs from the ledger's", i + 1));
                        break;
                    }
                }
            }
        }
    }
    cmp.lost_with_instance = by_instance.values().map(Vec::len).sum();
    Ok(cmp)
}
