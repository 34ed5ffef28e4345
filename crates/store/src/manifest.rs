//! The manifest: the one state file saying which segments and indexes make up the store and
//! which WAL files they cover. Every change writes a new manifest atomically (temp file,
//! fsync, rename, fsync of the directory); files it does not name are leftovers of an
//! interrupted change and are deleted at open. Layout byte by byte: `docs/format/manifest.md`.

use std::collections::BTreeMap;
use std::path::Path;

use kelp_model::TenantId;

use crate::codec::{
    put_bytes, put_header, put_ivarint, put_trailer, put_uvarint, read_checked, Cursor,
};
use crate::format::{HEADER_LEN, MANIFEST_FILE, MANIFEST_MAGIC};
use crate::fs::{write_atomic, Fs};
use crate::{Result, StoreError};

/// One segment as the manifest lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegEntry {
    pub id: u64,
    pub bytes: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub entries: u64,
}

/// One day partition of one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PartEntry {
    /// The label index file id.
    pub index_id: u64,
    pub index_bytes: u64,
    pub segments: Vec<SegEntry>,
}

/// Partition key: tenant and day number.
pub(crate) type PartKey = (TenantId, i32);

/// The store's state on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// Incremented by every change.
    pub generation: u64,
    /// The next file id to hand out.
    pub next_id: u64,
    /// WAL files numbered up to this are entirely in segments.
    pub wal_covered: u64,
    pub partitions: BTreeMap<PartKey, PartEntry>,
}

impl Manifest {
    /// Bytes of all segments and indexes.
    pub(crate) fn disk_bytes(&self) -> u64 {
        self.partitions
            .values()
            .map(|p| p.index_bytes + p.segments.iter().map(|s| s.bytes).sum::<u64>())
            .sum()
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_header(&mut out, &MANIFEST_MAGIC);
        let meta_off = out.len() as u64;
        put_uvarint(&mut out, self.generation);
        put_uvarint(&mut out, self.next_id);
        put_uvarint(&mut out, self.wal_covered);
        put_uvarint(&mut out, self.partitions.len() as u64);
        for ((tenant, day), p) in &self.partitions {
            put_bytes(&mut out, tenant.as_str().as_bytes());
            put_ivarint(&mut out, i64::from(*day));
            put_uvarint(&mut out, p.index_id);
            put_uvarint(&mut out, p.index_bytes);
            put_uvarint(&mut out, p.segments.len() as u64);
            for s in &p.segments {
                put_uvarint(&mut out, s.id);
                put_uvarint(&mut out, s.bytes);
                put_ivarint(&mut out, s.min_ts);
                put_ivarint(&mut out, s.max_ts);
                put_uvarint(&mut out, s.entries);
            }
        }
        put_trailer(&mut out, meta_off, &MANIFEST_MAGIC);
        out
    }

    pub(crate) fn decode(path: &Path, buf: &[u8]) -> Result<Self> {
        let range = read_checked(path, buf, &MANIFEST_MAGIC)?;
        let mut c = Cursor::new(&buf[range]);
        let mut parse = || -> std::result::Result<Manifest, &'static str> {
            let mut m = Manifest {
                generation: c.uvarint()?,
                next_id: c.uvarint()?,
                wal_covered: c.uvarint()?,
                partitions: BTreeMap::new(),
            };
            for _ in 0..c.uvarint()? {
                let tenant = TenantId::parse(c.str()?).map_err(|_| "invalid tenant")?;
                let day = i32::try_from(c.ivarint()?).map_err(|_| "day out of range")?;
                let mut p = PartEntry {
                    index_id: c.uvarint()?,
                    index_bytes: c.uvarint()?,
                    segments: Vec::new(),
                };
                for _ in 0..c.uvarint()? {
                    p.segments.push(SegEntry {
                        id: c.uvarint()?,
                        bytes: c.uvarint()?,
                        min_ts: c.ivarint()?,
                        max_ts: c.ivarint()?,
                        entries: c.uvarint()?,
                    });
                }
                m.partitions.insert((tenant, day), p);
            }
            Ok(m)
        };
        parse().map_err(|w| StoreError::corrupt(path, HEADER_LEN as u64, w))
    }

    /// Loads the manifest under `root` (an empty one when there is none yet).
    pub(crate) fn load(fs: &dyn Fs, root: &Path) -> Result<Self> {
        let path = root.join(MANIFEST_FILE);
        match fs.read(&path) {
            Ok(buf) => Self::decode(&path, &buf),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(StoreError::io("read", &path, e)),
        }
    }

    /// Writes the manifest under `root` atomically.
    pub(crate) fn save(&self, fs: &dyn Fs, root: &Path) -> Result<()> {
        write_atomic(fs, &root.join(MANIFEST_FILE), &self.encode())
    }
}
