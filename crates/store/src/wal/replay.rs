//! Replaying the WAL on start: every valid record in file order; a torn or corrupt tail is
//! dropped and reported.

use std::path::{Path, PathBuf};

use super::record::{decode_batch, next_record, Next, WalBatch};
use crate::codec::check_header;
use crate::format::{parse_wal_file, HEADER_LEN, WAL_MAGIC, WAL_MAX_RECORD_BYTES};
use crate::fs::Fs;
use crate::{Result, StoreError};

/// A part of a WAL file that replay could not use: everything from `offset` to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DroppedTail {
    /// The WAL file.
    pub path: PathBuf,
    /// Where the first bad record starts.
    pub offset: u64,
    /// How many bytes were dropped.
    pub bytes: u64,
    /// Why (`"torn record payload"`, `"record checksum mismatch"`, ...).
    pub reason: String,
}

/// What a replay found.
#[derive(Debug, Default)]
pub(crate) struct Replayed {
    /// The highest WAL file number seen (0 when none).
    pub last_number: u64,
    /// WAL files read.
    pub files: usize,
    /// Records applied.
    pub records: u64,
    /// Dropped tails.
    pub dropped: Vec<DroppedTail>,
}

/// Replays the WAL files in `dir` numbered above `covered` (older ones are already in
/// segments and are deleted), calling `apply` for each valid record in order.
pub(crate) fn replay(
    fs: &dyn Fs,
    dir: &Path,
    covered: u64,
    mut apply: impl FnMut(WalBatch),
) -> Result<Replayed> {
    let mut out = Replayed::default();
    let names = fs.list(dir).map_err(|e| StoreError::io("list", dir, e))?;
    let mut numbers: Vec<u64> = names.iter().filter_map(|n| parse_wal_file(n)).collect();
    numbers.sort_unstable();
    for n in numbers {
        out.last_number = out.last_number.max(n);
        let path = super::record::wal_path(dir, n);
        if n <= covered {
            fs.remove_file(&path)
                .map_err(|e| StoreError::io("remove", &path, e))?;
            continue;
        }
        out.files += 1;
        let buf = fs
            .read(&path)
            .map_err(|e| StoreError::io("read", &path, e))?;
        if let Err(e) = check_header(&path, &buf, &WAL_MAGIC) {
            if matches!(e, StoreError::UnsupportedVersion { .. }) {
                return Err(e);
            }
            out.dropped.push(DroppedTail {
                path,
                offset: 0,
                bytes: buf.len() as u64,
                reason: "torn or missing file header".into(),
            });
            continue;
        }
        let mut off = HEADER_LEN;
        loop {
            match next_record(&buf, off, WAL_MAX_RECORD_BYTES) {
                Next::End => break,
                Next::Record(payload, next) => match decode_batch(payload) {
                    Ok(batch) => {
                        apply(batch);
                        out.records += 1;
                        off = next;
                    }
                    Err(why) => {
                        out.dropped.push(tail(&path, &buf, off, why));
                        break;
                    }
                },
                Next::Bad(why) => {
                    out.dropped.push(tail(&path, &buf, off, why));
                    break;
                }
            }
        }
    }
    Ok(out)
}

fn tail(path: &Path, buf: &[u8], off: usize, why: &str) -> DroppedTail {
    DroppedTail {
        path: path.to_owned(),
        offset: off as u64,
        bytes: (buf.len() - off) as u64,
        reason: why.to_owned(),
    }
}
