//! The ledger: one JSON object per logical line written, in write order, so a test can
//! check that a log agent delivered every line exactly once.
//!
//! ```text
//! {"namespace":"shop","pod":"cart-6b8f9c7d5x-k2x9q","pod_uid":"0f3e9c1a-2b4d-4e5f-8a6b-7c8d9e0f1a2b","container":"app","container_id":"<64 hex>","restart":0,"stream":"stdout","time":"2024-06-01T12:00:00.5Z","len":123,"sha256":"<64 hex>"}
//! ```
//!
//! `time` is the CRI timestamp of the line's first record; `len` and `sha256` are those of
//! the line's bytes as containerd stores them (without the `\n`, a trailing `\r` stripped).
//! A line left unterminated by a container exit also has `"unterminated":true`. Names
//! are DNS labels and ids hex, so no field needs JSON escaping.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use kelp_k8s::Stream;
use kelp_model::Timestamp;
use sha2::{Digest, Sha256};

use crate::SimError;

/// One line of the ledger, as [`crate::verify::read_ledger`] reads it back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The pod's UID.
    pub pod_uid: String,
    /// The container's name.
    pub container: String,
    /// The 64-hex id of the container instance.
    pub container_id: String,
    /// The instance's restart count (its file is `<restart>.log`).
    pub restart: u32,
    /// `stdout` or `stderr`.
    pub stream: String,
    /// RFC 3339 (trimmed nanoseconds, UTC) timestamp of the line's first CRI record.
    pub time: String,
    /// Length of the line in bytes.
    pub len: u64,
    /// SHA-256 of the line's bytes, lowercase hex.
    pub sha256: String,
    /// The line ended with the container instance, without a newline (`P` record last).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unterminated: bool,
}

/// Who wrote a line: the fixed fields of a container instance.
#[derive(Debug, Clone)]
pub(crate) struct Writer<'a> {
    pub(crate) namespace: &'a str,
    pub(crate) pod: &'a str,
    pub(crate) pod_uid: &'a str,
    pub(crate) container: &'a str,
    pub(crate) container_id: &'a str,
    pub(crate) restart: u32,
}

/// Appends ledger lines through a large buffer.
pub(crate) struct Ledger {
    out: BufWriter<File>,
    path: PathBuf,
    line: Vec<u8>,
}

impl Ledger {
    /// Creates (truncates) the ledger file.
    pub(crate) fn create(path: &Path) -> Result<Self, SimError> {
        let file = File::create(path).map_err(SimError::io("create", path))?;
        Ok(Ledger {
            out: BufWriter::with_capacity(1 << 20, file),
            path: path.to_path_buf(),
            line: Vec::with_capacity(512),
        })
    }

    /// Records one logical line.
    pub(crate) fn record(
        &mut self,
        who: &Writer<'_>,
        stream: Stream,
        time: Timestamp,
        content: &[u8],
        unterminated: bool,
    ) -> Result<(), SimError> {
        let mut hex = [0u8; 64];
        // A 32-byte digest always fits 64 hex digits.
        let _ = hex::encode_to_slice(Sha256::digest(content), &mut hex);
        let l = &mut self.line;
        l.clear();
        for (key, value) in [
            ("{\"namespace\":\"", who.namespace),
            ("\",\"pod\":\"", who.pod),
            ("\",\"pod_uid\":\"", who.pod_uid),
            ("\",\"container\":\"", who.container),
            ("\",\"container_id\":\"", who.container_id),
        ] {
            l.extend_from_slice(key.as_bytes());
            l.extend_from_slice(value.as_bytes());
        }
        l.extend_from_slice(b"\",\"restart\":");
        l.extend_from_slice(who.restart.to_string().as_bytes());
        l.extend_from_slice(b",\"stream\":\"");
        l.extend_from_slice(stream.as_str().as_bytes());
        l.extend_from_slice(b"\",\"time\":\"");
        time.write_rfc3339_nano(l);
        l.extend_from_slice(b"\",\"len\":");
        l.extend_from_slice(content.len().to_string().as_bytes());
        l.extend_from_slice(b",\"sha256\":\"");
        l.extend_from_slice(&hex);
        l.extend_from_slice(if unterminated {
            b"\",\"unterminated\":true}\n" as &[u8]
        } else {
            b"\"}\n"
        });
        self.out
            .write_all(l)
            .map_err(SimError::io("write", &self.path))
    }

    /// Writes out the buffer.
    pub(crate) fn flush(&mut self) -> Result<(), SimError> {
        self.out.flush().map_err(SimError::io("write", &self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_lines_read_back_as_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.jsonl");
        let mut ledger = Ledger::create(&path).unwrap();
        let who = Writer {
            namespace: "shop",
            pod: "cart-x",
            pod_uid: "u-1",
            container: "app",
            container_id: "ab",
            restart: 3,
        };
        ledger
            .record(
                &who,
                Stream::Stderr,
                Timestamp::from_unix_nanos(1_717_243_200_500_000_000),
                b"hello",
                false,
            )
            .unwrap();
        ledger
            .record(
                &who,
                Stream::Stdout,
                Timestamp::from_unix_secs(1_717_243_201),
                b"",
                true,
            )
            .unwrap();
        ledger.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let entries: Vec<LedgerEntry> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            entries[0],
            LedgerEntry {
                namespace: "shop".into(),
                pod: "cart-x".into(),
                pod_uid: "u-1".into(),
                container: "app".into(),
                container_id: "ab".into(),
                restart: 3,
                stream: "stderr".into(),
                time: "2024-06-01T12:00:00.5Z".into(),
                len: 5,
                sha256: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824".into(),
                unterminated: false,
            }
        );
        assert!(
            entries[1].unterminated
                && entries[1].len == 0
                && entries[1].time == "2024-06-01T12:00:01Z"
        );
        assert_eq!(
            serde_json::to_string(&entries[0]).unwrap(),
            text.lines().next().unwrap()
        );
    }
}
