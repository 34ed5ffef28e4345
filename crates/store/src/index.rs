//! A partition's label index: label name → value → streams, and per-stream metadata.
//! Derived from the partition's segments and rewritten whenever they change.
//! Layout byte by byte: `docs/format/index.md`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use kelp_model::{Labels, StreamId};

use crate::codec::{
    put_bytes, put_header, put_pairs, put_trailer, put_uvarint, read_checked, Cursor,
};
use crate::format::{HEADER_LEN, INDEX_MAGIC};
use crate::segment::Segment;
use crate::{Result, StoreError};

/// What the index knows of one stream in a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamMeta {
    pub labels: Labels,
    pub min_ts: i64,
    pub max_ts: i64,
    pub entries: u64,
    pub raw_bytes: u64,
    pub blocks: u64,
}

/// A partition's label index.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct LabelIndex {
    pub streams: BTreeMap<StreamId, StreamMeta>,
    pub postings: BTreeMap<String, BTreeMap<String, Vec<StreamId>>>,
}

impl LabelIndex {
    /// Builds the index of `segments`.
    pub(crate) fn build(segments: &[Arc<Segment>]) -> Self {
        let mut idx = LabelIndex::default();
        for seg in segments {
            for b in &seg.blocks {
                let Some(labels) = seg.labels(b.stream) else {
                    continue;
                };
                let m = idx.streams.entry(b.stream).or_insert_with(|| StreamMeta {
                    labels: labels.clone(),
                    min_ts: i64::MAX,
                    max_ts: i64::MIN,
                    entries: 0,
                    raw_bytes: 0,
                    blocks: 0,
                });
                m.min_ts = m.min_ts.min(b.min_ts);
                m.max_ts = m.max_ts.max(b.max_ts);
                m.entries += u64::from(b.entries);
                m.raw_bytes += u64::from(b.raw_bytes);
                m.blocks += 1;
            }
        }
        idx.rebuild_postings();
        idx
    }

    fn rebuild_postings(&mut self) {
        self.postings.clear();
        for (id, m) in &self.streams {
            for p in m.labels.iter() {
                self.postings
                    .entry(p.name.clone())
                    .or_default()
                    .entry(p.value.clone())
                    .or_default()
                    .push(*id);
            }
        }
    }

    /// The streams with label `name` equal to `value`, sorted.
    pub(crate) fn postings(&self, name: &str, value: &str) -> &[StreamId] {
        self.postings
            .get(name)
            .and_then(|v| v.get(value))
            .map_or(&[], Vec::as_slice)
    }

    /// The file bytes.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        put_header(&mut out, &INDEX_MAGIC);
        let meta_off = out.len() as u64;
        put_uvarint(&mut out, self.streams.len() as u64);
        for (id, m) in &self.streams {
            out.extend_from_slice(&id.0.to_le_bytes());
            put_pairs(&mut out, m.labels.iter());
            out.extend_from_slice(&m.min_ts.to_le_bytes());
            out.extend_from_slice(&m.max_ts.to_le_bytes());
            put_uvarint(&mut out, m.entries);
            put_uvarint(&mut out, m.raw_bytes);
            put_uvarint(&mut out, m.blocks);
        }
        put_uvarint(&mut out, self.postings.len() as u64);
        for (name, values) in &self.postings {
            put_bytes(&mut out, name.as_bytes());
            put_uvarint(&mut out, values.len() as u64);
            for (value, ids) in values {
                put_bytes(&mut out, value.as_bytes());
                put_uvarint(&mut out, ids.len() as u64);
                for id in ids {
                    out.extend_from_slice(&id.0.to_le_bytes());
                }
            }
        }
        put_trailer(&mut out, meta_off, &INDEX_MAGIC);
        out
    }

    /// Parses and checks index file bytes.
    pub(crate) fn decode(path: &Path, buf: &[u8]) -> Result<Self> {
        let range = read_checked(path, buf, &INDEX_MAGIC)?;
        let mut c = Cursor::new(&buf[range]);
        let base = HEADER_LEN as u64;
        let bad = |c: &Cursor<'_>, w| -> StoreError { c.corrupt(path, base, w) };
        let mut idx = LabelIndex::default();
        let n = c.uvarint().map_err(|w| bad(&c, w))?;
        for _ in 0..n {
            let mut f = || -> std::result::Result<(StreamId, StreamMeta), &'static str> {
                let id = StreamId(c.u64()?);
                let labels = c.labels()?;
                let min_ts = c.i64()?;
                let max_ts = c.i64()?;
                let entries = c.uvarint()?;
                let raw_bytes = c.uvarint()?;
                let blocks = c.uvarint()?;
                Ok((
                    id,
                    StreamMeta {
                        labels,
                        min_ts,
                        max_ts,
                        entries,
                        raw_bytes,
                        blocks,
                    },
                ))
            };
            let (id, m) = f().map_err(|w| bad(&c, w))?;
            idx.streams.insert(id, m);
        }
        let names = c.uvarint().map_err(|w| bad(&c, w))?;
        for _ in 0..names {
            let name = c.str().map_err(|w| bad(&c, w))?.to_owned();
            let values = c.uvarint().map_err(|w| bad(&c, w))?;
            let entry = idx.postings.entry(name).or_default();
            for _ in 0..values {
                let value = c.str().map_err(|w| bad(&c, w))?.to_owned();
                let k = c.uvarint().map_err(|w| bad(&c, w))?;
                let mut ids = Vec::new();
                for _ in 0..k {
                    ids.push(StreamId(c.u64().map_err(|w| bad(&c, w))?));
                }
                entry.insert(value, ids);
            }
        }
        Ok(idx)
    }
}
