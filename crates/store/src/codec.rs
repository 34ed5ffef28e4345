//! Byte-level helpers shared by every codec: LEB128 varints, a bounds-checked reader and the
//! common file header and trailer.

use std::path::Path;

use kelp_model::{LabelPair, Labels};

use crate::format::{FORMAT_VERSION, HEADER_LEN, TRAILER_LEN};
use crate::{Result, StoreError};

/// Appends `v` as an unsigned LEB128 varint.
pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends `v` zigzag-encoded as a varint.
pub(crate) fn put_ivarint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends a varint length and the bytes.
pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Appends label pairs: a varint count, then name and value as length-prefixed bytes.
pub(crate) fn put_pairs<'a>(
    out: &mut Vec<u8>,
    pairs: impl ExactSizeIterator<Item = &'a LabelPair>,
) {
    put_uvarint(out, pairs.len() as u64);
    for p in pairs {
        put_bytes(out, p.name.as_bytes());
        put_bytes(out, p.value.as_bytes());
    }
}

/// A bounds-checked reader over a byte slice. Errors carry no context; callers add the
/// path and offset with [`Cursor::corrupt`].
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// A decoding failure: what was expected.
pub(crate) type Short = &'static str;

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }
    pub(crate) fn uvarint(&mut self) -> Result<u64, Short> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("varint too long")
    }
    pub(crate) fn ivarint(&mut self) -> Result<i64, Short> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }
    pub(crate) fn len(&mut self) -> Result<usize, Short> {
        let n = self.uvarint()?;
        if n > (self.buf.len() - self.pos) as u64 {
            return Err("length past end");
        }
        Ok(n as usize)
    }
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Short> {
        let end = self.pos.checked_add(n).ok_or("length overflow")?;
        let s = self.buf.get(self.pos..end).ok_or("truncated")?;
        self.pos = end;
        Ok(s)
    }
    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], Short> {
        let n = self.len()?;
        self.take(n)
    }
    pub(crate) fn str(&mut self) -> Result<&'a str, Short> {
        std::str::from_utf8(self.bytes()?).map_err(|_| "invalid utf-8")
    }
    pub(crate) fn u8(&mut self) -> Result<u8, Short> {
        Ok(self.take(1)?[0])
    }
    pub(crate) fn u32(&mut self) -> Result<u32, Short> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, Short> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    pub(crate) fn i64(&mut self) -> Result<i64, Short> {
        Ok(self.u64()? as i64)
    }
    /// Label pairs as [`put_pairs`] writes them.
    pub(crate) fn pairs(&mut self) -> Result<Vec<LabelPair>, Short> {
        let n = self.len()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.str()?.to_owned();
            let value = self.str()?.to_owned();
            out.push(LabelPair { name, value });
        }
        Ok(out)
    }
    /// A label set as [`put_pairs`] writes it, validated again.
    pub(crate) fn labels(&mut self) -> Result<Labels, Short> {
        let pairs = self.pairs()?;
        Labels::from_pairs(pairs.into_iter().map(|p| (p.name, p.value)))
            .map_err(|_| "invalid labels")
    }
    /// A corruption error at the cursor's position, `base` being the slice's file offset.
    pub(crate) fn corrupt(&self, path: &Path, base: u64, why: Short) -> StoreError {
        StoreError::corrupt(path, base + self.pos as u64, why)
    }
}

/// Appends the common file header: magic, version, a reserved zero word.
pub(crate) fn put_header(out: &mut Vec<u8>, magic: &[u8; 8]) {
    out.extend_from_slice(magic);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
}

/// Checks the common file header.
pub(crate) fn check_header(path: &Path, buf: &[u8], magic: &[u8; 8]) -> Result<()> {
    if buf.len() < HEADER_LEN || &buf[..8] != magic {
        return Err(StoreError::corrupt(path, 0, "bad magic in header"));
    }
    let version = u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]);
    if version != FORMAT_VERSION {
        return Err(StoreError::UnsupportedVersion {
            path: path.to_owned(),
            version,
            supported: FORMAT_VERSION,
        });
    }
    Ok(())
}

/// Appends the common trailer for a meta section at `meta_off..` (the meta section is
/// everything from `meta_off` to the trailer).
pub(crate) fn put_trailer(out: &mut Vec<u8>, meta_off: u64, magic: &[u8; 8]) {
    put_trailer_at(out, meta_off as usize, meta_off, magic);
}

/// Appends a trailer for the meta section `out[meta_start..]`, which starts at `meta_off`
/// in the file (`out` being the file's tail).
pub(crate) fn put_trailer_at(out: &mut Vec<u8>, meta_start: usize, meta_off: u64, magic: &[u8; 8]) {
    let meta = &out[meta_start..];
    let crc = crc32c::crc32c(meta);
    let len = meta.len() as u64;
    out.extend_from_slice(&meta_off.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(magic);
}

/// Parses a trailer (the last [`TRAILER_LEN`] bytes of a file of `file_len` bytes) and
/// returns the meta section's offset and length.
pub(crate) fn parse_trailer(
    path: &Path,
    trailer: &[u8],
    file_len: u64,
    magic: &[u8; 8],
) -> Result<(u64, u64, u32)> {
    let at = file_len.saturating_sub(TRAILER_LEN as u64);
    if trailer.len() != TRAILER_LEN || &trailer[24..32] != magic {
        return Err(StoreError::corrupt(path, at, "bad magic in trailer"));
    }
    let mut c = Cursor::new(trailer);
    let short = |w| StoreError::corrupt(path, at, w);
    let off = c.u64().map_err(short)?;
    let len = c.u64().map_err(short)?;
    let crc = c.u32().map_err(short)?;
    let version = c.u32().map_err(short)?;
    if version != FORMAT_VERSION {
        return Err(StoreError::UnsupportedVersion {
            path: path.to_owned(),
            version,
            supported: FORMAT_VERSION,
        });
    }
    if off < HEADER_LEN as u64 || off.checked_add(len) != Some(at) {
        return Err(StoreError::corrupt(
            path,
            at,
            "trailer meta bounds do not match the file",
        ));
    }
    Ok((off, len, crc))
}

/// A format version in only one of header and trailer is a flipped bit, not a newer
/// format (which writes its version in both): corruption, so one bad byte cannot stop the
/// whole store from opening (issue #9's bit-flip test).
pub(crate) fn check_versions_agree(path: &Path, header: &[u8], trailer: &[u8]) -> Result<()> {
    let (Some(h), Some(t)) = (header.get(8..12), trailer.get(20..24)) else {
        return Ok(());
    };
    if h != t {
        return Err(StoreError::corrupt(
            path,
            8,
            "header and trailer disagree on the format version",
        ));
    }
    Ok(())
}

/// Reads a small whole file (index, manifest) checking header, trailer and checksum;
/// returns the bytes and the meta section's range.
pub(crate) fn read_checked(
    path: &Path,
    buf: &[u8],
    magic: &[u8; 8],
) -> Result<std::ops::Range<usize>> {
    if buf.len() >= HEADER_LEN + TRAILER_LEN {
        check_versions_agree(path, buf, &buf[buf.len() - TRAILER_LEN..])?;
    }
    check_header(path, buf, magic)?;
    if buf.len() < HEADER_LEN + TRAILER_LEN {
        return Err(StoreError::corrupt(path, 0, "file too short"));
    }
    let (off, len, crc) = parse_trailer(
        path,
        &buf[buf.len() - TRAILER_LEN..],
        buf.len() as u64,
        magic,
    )?;
    let range = off as usize..(off + len) as usize;
    if crc32c::crc32c(&buf[range.clone()]) != crc {
        return Err(StoreError::corrupt(path, off, "checksum mismatch"));
    }
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        let mut out = Vec::new();
        let vals = [0u64, 1, 127, 128, 300, u64::MAX];
        for v in vals {
            put_uvarint(&mut out, v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            put_ivarint(&mut out, v);
        }
        let mut c = Cursor::new(&out);
        for v in vals {
            assert_eq!(c.uvarint().unwrap(), v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX] {
            assert_eq!(c.ivarint().unwrap(), v);
        }
        assert!(c.is_empty());
        assert!(Cursor::new(&[0x80]).uvarint().is_err());
    }
}
