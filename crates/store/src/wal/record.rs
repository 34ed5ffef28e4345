//! WAL record framing and the batch payload codec.
//!
//! A record is `len: u32 LE | crc32c(payload): u32 LE | payload`; the payload of a batch is
//! `kind = 1 | tenant | stream count | streams...` (see `docs/format/wal.md`).

use std::path::Path;

use bytes::Bytes;
use kelp_model::{Entry, Labels, TenantId, Timestamp};

use crate::codec::{put_bytes, put_ivarint, put_pairs, put_uvarint, Cursor, Short};
use crate::format::{WAL_RECORD_BATCH, WAL_RECORD_HEADER_LEN};
use crate::StreamEntries;

/// One decoded batch record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WalBatch {
    pub tenant: TenantId,
    pub streams: Vec<StreamEntries>,
}

/// Encodes a batch as a whole record (header and payload) appended to `out`.
pub(crate) fn encode_batch(out: &mut Vec<u8>, tenant: &TenantId, streams: &[StreamEntries]) {
    let start = out.len();
    out.extend_from_slice(&[0u8; WAL_RECORD_HEADER_LEN]);
    out.push(WAL_RECORD_BATCH);
    put_bytes(out, tenant.as_str().as_bytes());
    put_uvarint(out, streams.len() as u64);
    for s in streams {
        put_pairs(out, s.labels.iter());
        put_uvarint(out, s.entries.len() as u64);
        for e in &s.entries {
            put_ivarint(out, e.timestamp.as_unix_nanos());
            put_bytes(out, &e.line);
            put_pairs(out, e.metadata.iter());
        }
    }
    let payload = &out[start + WAL_RECORD_HEADER_LEN..];
    let len = payload.len() as u32;
    let crc = crc32c::crc32c(payload);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Decodes a batch payload (checksum already verified).
pub(crate) fn decode_batch(payload: &[u8]) -> Result<WalBatch, Short> {
    let mut c = Cursor::new(payload);
    if c.u8()? != WAL_RECORD_BATCH {
        return Err("unknown record kind");
    }
    let tenant = TenantId::parse(c.str()?).map_err(|_| "invalid tenant")?;
    let n = c.len()?;
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let labels: Labels = c.labels()?;
        let m = c.len()?;
        let mut entries = Vec::with_capacity(m);
        for _ in 0..m {
            let ts = Timestamp::from_unix_nanos(c.ivarint()?);
            let line = Bytes::copy_from_slice(c.bytes()?);
            let metadata = c.pairs()?;
            entries.push(Entry {
                timestamp: ts,
                line,
                metadata,
            });
        }
        streams.push(StreamEntries { labels, entries });
    }
    if !c.is_empty() {
        return Err("trailing bytes in record");
    }
    Ok(WalBatch { tenant, streams })
}

/// One step of reading records from a WAL file body.
pub(crate) enum Next<'a> {
    /// A record with a valid checksum: its payload and the offset after it.
    Record(&'a [u8], usize),
    /// Clean end of the file.
    End,
    /// A torn or corrupt record at this offset: the reason.
    Bad(&'static str),
}

/// Reads the record starting at `off` in `buf`.
pub(crate) fn next_record(buf: &[u8], off: usize, max: usize) -> Next<'_> {
    let rest = &buf[off..];
    if rest.is_empty() {
        return Next::End;
    }
    if rest.len() < WAL_RECORD_HEADER_LEN {
        return Next::Bad("torn record header");
    }
    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
    if len == 0 && crc == 0 {
        return Next::Bad("zeroed record header");
    }
    if len > max {
        return Next::Bad("record length over the limit");
    }
    let Some(payload) = rest.get(WAL_RECORD_HEADER_LEN..WAL_RECORD_HEADER_LEN + len) else {
        return Next::Bad("torn record payload");
    };
    if crc32c::crc32c(payload) != crc {
        return Next::Bad("record checksum mismatch");
    }
    Next::Record(payload, off + WAL_RECORD_HEADER_LEN + len)
}

/// For error messages: the path of WAL file `n` under `dir`.
pub(crate) fn wal_path(dir: &Path, n: u64) -> std::path::PathBuf {
    dir.join(crate::format::wal_file(n))
}
