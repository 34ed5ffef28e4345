//! Checkpoints: where each container log resumes, written atomically.
//!
//! `<state-dir>/checkpoints.json`, format version 1 (see `docs/agent.md`):
//! `{"version":1,"files":{"<ns>_<pod>_<uid>/<ctr>/<n>.log":{"dev":..,"ino":..,"head":"<hex>","offset":..}}}`,
//! plus, when the systemd journal is read, `"journal":{"cursor":"SJ1:…","realtime_usec":..}`.
//! Written to `checkpoints.json.tmp`, fsynced, renamed, and the directory fsynced.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::AgentError;

/// The checkpoint file's name in the state directory.
pub const CHECKPOINT_FILE: &str = "checkpoints.json";
/// The format version written; other versions are refused.
pub const CHECKPOINT_VERSION: u32 = 1;
/// How many first bytes of a file identify it along with its inode.
pub const HEAD_BYTES: usize = 64;

/// A resume point in one file: reading from `offset` of the file identified by device,
/// inode and first bytes reproduces every line not yet acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mark {
    /// `st_dev` of the file when it was read (of the `.gz` when it was read compressed).
    pub dev: u64,
    /// `st_ino` likewise.
    pub ino: u64,
    /// The file's first bytes (up to [`HEAD_BYTES`], fewer if it was shorter), hex.
    #[serde(with = "hex_bytes")]
    pub head: Vec<u8>,
    /// The uncompressed offset to resume at.
    pub offset: u64,
}

/// All checkpoints, by the container log's live path relative to the pods directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoints {
    /// The format version, [`CHECKPOINT_VERSION`].
    pub version: u32,
    /// Resume points by live path (`<ns>_<pod>_<uid>/<ctr>/<n>.log`).
    pub files: BTreeMap<String, Mark>,
    /// The last acknowledged systemd journal entry, when the journal is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<JournalMark>,
}

/// Where the journal resumes: strictly after this entry (see `journal.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalMark {
    /// The entry's cursor as `sdjournal` prints it (`SJ1:<hex of file id, entry offset,
    /// seqnum, realtime>`): it orders entries by realtime, then seqnum, file id and offset,
    /// so it still applies after the file that held the entry was deleted.
    pub cursor: String,
    /// The entry's `__REALTIME_TIMESTAMP` (µs), where reading seeks to.
    pub realtime_usec: u64,
}

impl Checkpoints {
    /// Reads the checkpoints in `dir`; none yet is an empty set.
    pub fn load(dir: &Path) -> Result<Self, AgentError> {
        let path = dir.join(CHECKPOINT_FILE);
        let text = match std::fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self {
                    version: CHECKPOINT_VERSION,
                    files: BTreeMap::new(),
                    journal: None,
                })
            }
            Err(source) => return Err(AgentError::Io { path, source }),
        };
        let cps: Self = serde_json::from_slice(&text).map_err(|e| AgentError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if cps.version != CHECKPOINT_VERSION {
            return Err(AgentError::Corrupt {
                path,
                reason: format!("unknown version {}", cps.version),
            });
        }
        Ok(cps)
    }

    /// Replaces the checkpoint file in `dir` atomically and durably.
    pub fn save(&self, dir: &Path) -> Result<(), AgentError> {
        let path = dir.join(CHECKPOINT_FILE);
        let tmp = dir.join(format!("{CHECKPOINT_FILE}.tmp"));
        let io = |p: &PathBuf| {
            let p = p.clone();
            move |source| AgentError::Io { path: p, source }
        };
        // Serializing plain maps of strings and integers cannot fail.
        let body = serde_json::to_vec(self).unwrap_or_default();
        let mut f = File::create(&tmp).map_err(io(&tmp))?;
        f.write_all(&body).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&dir.to_path_buf()))
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        hex::decode(s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_versions() {
        let dir = tempfile::tempdir().unwrap();
        let mut cps = Checkpoints::load(dir.path()).unwrap();
        assert!(cps.files.is_empty());
        cps.files.insert(
            "ns_p_u/c/0.log".into(),
            Mark {
                dev: 1,
                ino: 2,
                head: b"2024".to_vec(),
                offset: 9,
            },
        );
        cps.save(dir.path()).unwrap();
        assert_eq!(Checkpoints::load(dir.path()).unwrap(), cps);
        let text = std::fs::read_to_string(dir.path().join(CHECKPOINT_FILE)).unwrap();
        assert!(text.contains(r#""head":"32303234""#), "{text}");
        assert!(
            !text.contains("journal"),
            "no journal key until one is read: {text}"
        );
        cps.journal = Some(JournalMark {
            cursor: "SJ1:04ab".into(),
            realtime_usec: 7,
        });
        cps.save(dir.path()).unwrap();
        assert_eq!(Checkpoints::load(dir.path()).unwrap(), cps);
        std::fs::write(
            dir.path().join(CHECKPOINT_FILE),
            r#"{"version":2,"files":{}}"#,
        )
        .unwrap();
        assert!(Checkpoints::load(dir.path()).is_err());
    }
}
