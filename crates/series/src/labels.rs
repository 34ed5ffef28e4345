//! Series labels (a pod's Kubernetes labels, a node's): the last value set per series,
//! durable in `labels.log` (layout in [`crate::format`]). Labels change rarely, so each
//! change is one record appended and fsynced; the file is rewritten with only the live
//! labels at every cut (temp file, fsync, rename, directory fsync).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::codec::{get_u64, put_varint};
use crate::format::{self, LABELS_MAGIC};
use crate::log::{self, LogWriter};
use crate::{SeriesError, SeriesKey};

/// A series' labels, name → value, as Kubernetes has them (any valid label name,
/// `app.kubernetes.io/name` included).
pub type Labels = BTreeMap<String, String>;

/// One record's payload: `varint count | count × (key | varint n | n × (name | value))`;
/// `n = 0` clears the series' labels.
pub(crate) fn encode(changes: &[(&SeriesKey, &Labels)]) -> Vec<u8> {
    let mut buf = Vec::new();
    put_varint(&mut buf, changes.len() as u128);
    for (key, labels) in changes {
        key.encode(&mut buf);
        put_varint(&mut buf, labels.len() as u128);
        for (k, v) in labels.iter() {
            for s in [k, v] {
                put_varint(&mut buf, s.len() as u128);
                buf.extend_from_slice(s.as_bytes());
            }
        }
    }
    buf
}

/// The inverse of [`encode`].
pub(crate) fn decode(payload: &[u8]) -> Result<Vec<(SeriesKey, Labels)>, String> {
    let mut pos = 0;
    let n = get_u64(payload, &mut pos)?;
    let mut out = Vec::with_capacity(n.min(1 << 16) as usize);
    for _ in 0..n {
        let key = SeriesKey::decode(payload, &mut pos)?;
        let pairs = get_u64(payload, &mut pos)?;
        let mut labels = Labels::new();
        for _ in 0..pairs {
            let k = string(payload, &mut pos)?;
            let v = string(payload, &mut pos)?;
            labels.insert(k, v);
        }
        out.push((key, labels));
    }
    if pos != payload.len() {
        return Err(format!(
            "{} bytes after the last label record",
            payload.len() - pos
        ));
    }
    Ok(out)
}

fn string(bytes: &[u8], pos: &mut usize) -> Result<String, String> {
    let len = get_u64(bytes, pos)? as usize;
    let end = pos
        .checked_add(len)
        .filter(|e| *e <= bytes.len())
        .ok_or_else(|| format!("label of {len} bytes runs past the end"))?;
    let s = std::str::from_utf8(&bytes[*pos..end])
        .map_err(|e| format!("label is not UTF-8: {e}"))?
        .to_owned();
    *pos = end;
    Ok(s)
}

/// What recovery read from `labels.log`: the last labels of every series, the writer
/// opened after the last good record, and whether a torn tail was cut.
pub(crate) struct Recovered {
    pub(crate) labels: Vec<(SeriesKey, Labels)>,
    pub(crate) writer: LogWriter,
    pub(crate) torn: bool,
}

/// Opens (or creates) `<dir>/labels.log` and reads it.
pub(crate) fn open(dir: &Path) -> Result<Recovered, SeriesError> {
    let path = dir.join(format::LABELS_FILE);
    if !path.exists() {
        return Ok(Recovered {
            labels: Vec::new(),
            writer: LogWriter::open(&path, LABELS_MAGIC, None)?,
            torn: false,
        });
    }
    let read = log::read_all(&path, LABELS_MAGIC)?;
    let mut last: BTreeMap<SeriesKey, Labels> = BTreeMap::new();
    for (offset, payload) in &read.records {
        let changes = decode(payload).map_err(|reason| SeriesError::Corruption {
            path: path.clone(),
            offset: *offset,
            reason,
        })?;
        for (k, l) in changes {
            last.insert(k, l);
        }
    }
    // A file whose header never reached the disk is started again.
    let valid = (read.valid_len >= format::HEADER_LEN).then_some(read.valid_len);
    Ok(Recovered {
        labels: last.into_iter().filter(|(_, l)| !l.is_empty()).collect(),
        writer: LogWriter::open(&path, LABELS_MAGIC, valid)?,
        torn: read.torn,
    })
}

/// Writes `live` as the whole new `labels.log` (temp file, fsync, rename, directory
/// fsync) and returns its writer.
pub(crate) fn rewrite(
    dir: &Path,
    live: &[(&SeriesKey, &Arc<Labels>)],
) -> Result<LogWriter, SeriesError> {
    let tmp = dir.join(format!("{}.tmp", format::LABELS_FILE));
    let path = dir.join(format::LABELS_FILE);
    {
        let mut w = LogWriter::open(&tmp, LABELS_MAGIC, None)?;
        if !live.is_empty() {
            let changes: Vec<(&SeriesKey, &Labels)> =
                live.iter().map(|(k, l)| (*k, l.as_ref())).collect();
            w.append(&encode(&changes), true)?;
        }
    }
    std::fs::rename(&tmp, &path).map_err(SeriesError::io("rename", &tmp))?;
    log::sync_dir(dir)?;
    let len = std::fs::metadata(&path)
        .map_err(SeriesError::io("stat", &path))?
        .len();
    LogWriter::open(&path, LABELS_MAGIC, Some(len))
}
