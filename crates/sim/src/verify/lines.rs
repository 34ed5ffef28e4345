//! Rebuilding logical lines from an instance's CRI files.

use std::io::Read;
use std::path::Path;

use kelp_k8s::Stream;
use kelp_model::Timestamp;
use sha2::{Digest, Sha256};

use super::{corrupt, InstanceFiles};
use crate::SimError;

/// A logical line rebuilt from CRI records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalLine {
    /// Its stream.
    pub stream: Stream,
    /// The timestamp of its first record.
    pub time: Timestamp,
    /// Its bytes, without the newline.
    pub content: Vec<u8>,
    /// Content length of each record it was made of.
    pub parts: Vec<usize>,
    /// False when the instance's files end before its `F` record.
    pub terminated: bool,
}

impl LogicalLine {
    /// SHA-256 of the content, lowercase hex, as in the ledger.
    pub fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.content))
    }
}

/// The bytes of a log file, decompressed if its name ends in `.gz`.
pub fn read_file(path: &Path) -> Result<Vec<u8>, SimError> {
    let raw = std::fs::read(path).map_err(SimError::io("read", path))?;
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut out)
            .map_err(|e| corrupt(path, format!("bad gzip: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

/// Rebuilds an instance's logical lines from its rotated files (oldest first) and its live
/// file, joining `P` records per stream, across file boundaries. Every record must be a
/// valid CRI record whose timestamp is written as containerd writes it (trimmed
/// RFC3339Nano, UTC). Lines are in order of their last record.
pub fn read_lines(inst: &InstanceFiles) -> Result<Vec<LogicalLine>, SimError> {
    let mut files: Vec<&Path> = inst.rotated.iter().map(|r| r.path.as_path()).collect();
    files.extend(inst.live.as_deref());
    let mut out = Vec::new();
    let mut pending: [Option<LogicalLine>; 2] = [None, None];
    for path in files {
        let data = read_file(path)?;
        let body = match data.strip_suffix(b"\n") {
            Some(body) => body,
            None if data.is_empty() => continue,
            None => return Err(corrupt(path, "last record has no newline")),
        };
        for (no, rec) in body.split(|b| *b == b'\n').enumerate() {
            let bad = |why: &str| corrupt(path, format!("record {}: {why}", no + 1));
            let mut f = rec.splitn(4, |b| *b == b' ');
            let (ts, stream, tag) = (
                f.next().unwrap_or_default(),
                f.next().unwrap_or_default(),
                f.next().unwrap_or_default(),
            );
            let content = f.next().ok_or_else(|| bad("fewer than three spaces"))?;
            let time = Timestamp::parse_rfc3339(ts).map_err(|e| bad(&e.to_string()))?;
            if time.to_rfc3339_nano().as_bytes() != ts {
                return Err(bad("timestamp is not trimmed RFC3339Nano UTC"));
            }
            let stream = Stream::from_bytes(stream).ok_or_else(|| bad("unknown stream"))?;
            let partial = match tag {
                b"P" => true,
                b"F" => false,
                _ => return Err(bad("tag is neither P nor F")),
            };
            let slot = &mut pending[usize::from(stream == Stream::Stderr)];
            let line = slot.get_or_insert_with(|| LogicalLine {
                stream,
                time,
                content: vec![],
                parts: vec![],
                terminated: false,
            });
            line.content.extend_from_slice(content);
            line.parts.push(content.len());
            if !partial {
                if let Some(mut line) = slot.take() {
                    line.terminated = true;
                    out.push(line);
                }
            }
        }
    }
    out.extend(pending.into_iter().flatten());
    Ok(out)
}
