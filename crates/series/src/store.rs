//! The store: series in memory (open chunks, references to flushed ones), a WAL for what
//! is not flushed, chunk files per day, retention by whole files.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::codec::{self, get_u64, put_i64, put_varint, ChunkEncoder};
use crate::format::{self, CHUNK_MAGIC, DAY_NANOS, WAL_MAGIC};
use crate::labels::{self, Labels};
use crate::log::{self, LogWriter};
use crate::{Sample, SeriesError, SeriesKey};

/// How the store behaves.
#[derive(Debug, Clone)]
pub struct SeriesConfig {
    /// Its directory (created when missing).
    pub dir: PathBuf,
    /// Samples older than this are not returned, and files holding only such samples
    /// are deleted.
    pub retention: Duration,
    /// Every open chunk is flushed, and the WAL started anew, this often.
    pub cut_interval: Duration,
    /// An open chunk with this many samples is flushed at once.
    pub max_chunk_samples: u32,
    /// At most this many series; samples of new series past it are refused.
    pub max_series: usize,
    /// Whether appends are fsynced before they return (off only in benchmarks).
    pub fsync: bool,
}

impl SeriesConfig {
    /// Defaults for `dir`: 7 days, a cut every hour, 240-sample chunks, 200,000 series.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            retention: Duration::from_secs(7 * 86_400),
            cut_interval: Duration::from_secs(3_600),
            max_chunk_samples: 240,
            max_series: 200_000,
            fsync: true,
        }
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Samples stored.
    pub stored: u64,
    /// Samples not newer than their series' last one (a retry): not stored again.
    pub duplicates: u64,
    /// Samples of new series past `max_series`.
    pub refused: u64,
}

/// Figures for `/metrics` and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeriesStats {
    /// Series held.
    pub series: u64,
    /// Bytes of open chunks.
    pub open_bytes: u64,
    /// Flushed chunks referenced.
    pub chunks: u64,
    /// Bytes of chunk and WAL files.
    pub disk_bytes: u64,
    /// An estimate of the memory held (names, open chunks, chunk references, map nodes).
    pub memory_bytes: u64,
}

/// A flushed chunk.
#[derive(Debug, Clone, Copy)]
struct ChunkRef {
    day: i64,
    offset: u64,
    len: u32,
    t_min: i64,
    t_max: i64,
}

#[derive(Debug, Default)]
struct Series {
    chunks: Vec<ChunkRef>,
    open: ChunkEncoder,
    /// The newest sample's time (flushed or open).
    last_t: Option<i64>,
    /// The series' labels, as last set.
    labels: Option<Arc<Labels>>,
}

#[derive(Debug)]
struct ChunkFile {
    max_t: i64,
    bytes: u64,
}

#[derive(Debug)]
struct Inner {
    series: BTreeMap<SeriesKey, Series>,
    wal: LogWriter,
    wal_seq: u64,
    /// WAL files older than the current one (deleted at the next cut).
    old_wals: Vec<PathBuf>,
    writer: Option<(i64, LogWriter)>,
    files: BTreeMap<i64, ChunkFile>,
    readers: HashMap<i64, File>,
    last_cut: i64,
    /// `labels.log`, appended to on every change.
    labels_log: LogWriter,
}

/// The series store; every method takes `&self` (one lock inside).
#[derive(Debug)]
pub struct SeriesStore {
    config: SeriesConfig,
    inner: Mutex<Inner>,
}

/// What recovery found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Chunk files read.
    pub chunk_files: usize,
    /// WAL samples replayed into open chunks.
    pub wal_samples: u64,
    /// Files whose torn tail was cut off.
    pub torn: Vec<PathBuf>,
    /// Series whose labels were read back.
    pub labelled: usize,
}

impl SeriesStore {
    /// Opens (or creates) the store in `config.dir`: reads every chunk file's records,
    /// replays the WAL files, applies retention as of `now` (Unix ns).
    ///
    /// # Errors
    ///
    /// I/O errors, a record that passed its checksum but does not decode, a bad config.
    pub fn open(config: SeriesConfig, now: i64) -> Result<(Self, Recovery), SeriesError> {
        if config.max_chunk_samples == 0 || config.max_series == 0 {
            return Err(SeriesError::Config(
                "max_chunk_samples and max_series must be > 0".into(),
            ));
        }
        if config.cut_interval.is_zero() || config.retention.is_zero() {
            return Err(SeriesError::Config(
                "retention and cut_interval must be > 0".into(),
            ));
        }
        let dir = &config.dir;
        std::fs::create_dir_all(dir).map_err(SeriesError::io("create", dir))?;
        let mut wals = Vec::new();
        let mut days = Vec::new();
        for e in std::fs::read_dir(dir).map_err(SeriesError::io("list", dir))? {
            let e = e.map_err(SeriesError::io("list", dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(n) = format::parse_wal_name(&name) {
                wals.push(n);
            } else if let Some(d) = format::parse_chunk_name(&name) {
                days.push(d);
            }
        }
        wals.sort_unstable();
        days.sort_unstable();
        let mut rec = Recovery::default();
        let mut series: BTreeMap<SeriesKey, Series> = BTreeMap::new();
        let mut files = BTreeMap::new();
        let mut last_day = None;
        for &day in &days {
            let path = dir.join(format::chunk_name(day));
            let read = log::read_all(&path, CHUNK_MAGIC)?;
            let mut max_t = i64::MIN;
            for (offset, payload) in &read.records {
                let (key, r) = decode_chunk_head(payload, day, *offset)
                    .map_err(|reason| corrupt(&path, *offset, reason))?;
                max_t = max_t.max(r.t_max);
                let s = series.entry(key).or_default();
                s.last_t = Some(s.last_t.map_or(r.t_max, |t| t.max(r.t_max)));
                s.chunks.push(r);
            }
            if read.torn {
                rec.torn.push(path.clone());
                // Cut the torn tail now, so that a later append starts cleanly.
                drop(LogWriter::open(&path, CHUNK_MAGIC, Some(read.valid_len))?);
            }
            files.insert(
                day,
                ChunkFile {
                    max_t,
                    bytes: read.valid_len,
                },
            );
            rec.chunk_files += 1;
            last_day = Some((day, read.valid_len));
        }
        let mut old_wals = Vec::new();
        for &n in &wals {
            let path = dir.join(format::wal_name(n));
            let read = log::read_all(&path, WAL_MAGIC)?;
            for (offset, payload) in &read.records {
                let samples =
                    decode_wal(payload).map_err(|reason| corrupt(&path, *offset, reason))?;
                for (key, s) in samples {
                    let entry = series.entry(key).or_default();
                    if entry.last_t.is_none_or(|t| s.t > t) {
                        entry.open.push(s);
                        entry.last_t = Some(s.t);
                        rec.wal_samples += 1;
                    }
                }
            }
            if read.torn {
                rec.torn.push(path.clone());
            }
            if read.records.is_empty() {
                std::fs::remove_file(&path).map_err(SeriesError::io("delete", &path))?;
            } else {
                old_wals.push(path);
            }
        }
        let recovered = labels::open(dir)?;
        if recovered.torn {
            rec.torn.push(dir.join(format::LABELS_FILE));
        }
        for (key, l) in recovered.labels {
            // Labels of a series that retention removed are dropped at the next cut.
            if let Some(s) = series.get_mut(&key) {
                s.labels = Some(Arc::new(l));
                rec.labelled += 1;
            }
        }
        let wal_seq = wals.last().map_or(1, |n| n + 1);
        let wal = LogWriter::open(&dir.join(format::wal_name(wal_seq)), WAL_MAGIC, None)?;
        let writer = match last_day {
            Some((day, len)) if day == now.div_euclid(DAY_NANOS) => Some((
                day,
                LogWriter::open(&dir.join(format::chunk_name(day)), CHUNK_MAGIC, Some(len))?,
            )),
            _ => None,
        };
        let store = Self {
            inner: Mutex::new(Inner {
                series,
                wal,
                wal_seq,
                old_wals,
                writer,
                files,
                readers: HashMap::new(),
                last_cut: now,
                labels_log: recovered.writer,
            }),
            config,
        };
        store.apply_retention(now)?;
        Ok((store, rec))
    }

    /// The configuration.
    pub fn config(&self) -> &SeriesConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every mutation is
        // completed before the next step can fail): go on with it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends samples, in order per series (a push's collections oldest first). A sample
    /// not newer than its series' last one is a duplicate and skipped. Returns once the
    /// stored samples are durable (WAL record fsynced).
    ///
    /// # Errors
    ///
    /// I/O errors of the WAL or of a chunk flush; nothing is stored then.
    pub fn append(&self, samples: &[(SeriesKey, Sample)]) -> Result<AppendOutcome, SeriesError> {
        let mut inner = self.lock();
        let mut out = AppendOutcome::default();
        let mut accepted: Vec<(&SeriesKey, Sample)> = Vec::with_capacity(samples.len());
        let mut pending: HashMap<&SeriesKey, i64> = HashMap::new();
        let mut new_series = 0usize;
        for (key, s) in samples {
            let last = pending
                .get(key)
                .copied()
                .or_else(|| inner.series.get(key).and_then(|x| x.last_t));
            if last.is_some_and(|t| s.t <= t) {
                out.duplicates += 1;
                continue;
            }
            if !inner.series.contains_key(key) && !pending.contains_key(key) {
                if inner.series.len() + new_series >= self.config.max_series {
                    out.refused += 1;
                    continue;
                }
                new_series += 1;
            }
            pending.insert(key, s.t);
            accepted.push((key, *s));
        }
        if accepted.is_empty() {
            return Ok(out);
        }
        let mut payload = Vec::with_capacity(accepted.len() * 48);
        put_varint(&mut payload, accepted.len() as u128);
        for (key, s) in &accepted {
            key.encode(&mut payload);
            put_i64(&mut payload, s.t);
            put_varint(&mut payload, u128::from(s.cpu_ns));
            put_varint(&mut payload, u128::from(s.memory));
        }
        inner.wal.append(&payload, self.config.fsync)?;
        out.stored = accepted.len() as u64;
        let max = self.config.max_chunk_samples;
        let now = s_now(samples);
        for (key, s) in accepted {
            let series = inner.series.entry(key.clone()).or_default();
            series.open.push(s);
            series.last_t = Some(s.t);
            if series.open.len() >= max {
                // The WAL holds these samples: a failed flush loses nothing.
                flush_one(&mut inner, &self.config, key, now)?;
            }
        }
        Ok(out)
    }

    /// Sets the labels of series that exist (an empty map clears them); durable when it
    /// returns. Only changes are written; labels of unknown series (never appended, or
    /// refused) are ignored. Returns how many series' labels changed.
    ///
    /// # Errors
    ///
    /// I/O errors of `labels.log`; nothing is changed then.
    pub fn set_labels(&self, changes: &[(SeriesKey, Labels)]) -> Result<usize, SeriesError> {
        let mut inner = self.lock();
        let mut latest: BTreeMap<&SeriesKey, &Labels> = BTreeMap::new();
        for (k, l) in changes {
            latest.insert(k, l);
        }
        let changed: Vec<(&SeriesKey, &Labels)> = latest
            .into_iter()
            .filter(|(k, l)| {
                inner.series.get(*k).is_some_and(|s| match &s.labels {
                    Some(old) => old.as_ref() != *l,
                    None => !l.is_empty(),
                })
            })
            .collect();
        if changed.is_empty() {
            return Ok(0);
        }
        inner
            .labels_log
            .append(&labels::encode(&changed), self.config.fsync)?;
        for (k, l) in &changed {
            if let Some(s) = inner.series.get_mut(*k) {
                s.labels = (!l.is_empty()).then(|| Arc::new((*l).clone()));
            }
        }
        Ok(changed.len())
    }

    /// The labels of `key`, as last set (none for a series without labels).
    pub fn labels(&self, key: &SeriesKey) -> Option<Arc<Labels>> {
        self.lock().series.get(key).and_then(|s| s.labels.clone())
    }

    /// Flushes every open chunk and starts a new WAL, if `cut_interval` passed since the
    /// last cut (or `force`); then applies retention as of `now`.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn maintain(&self, now: i64, force: bool) -> Result<(), SeriesError> {
        {
            let mut inner = self.lock();
            let due =
                now.saturating_sub(inner.last_cut) >= self.config.cut_interval.as_nanos() as i64;
            if due || force {
                self.cut(&mut inner, now)?;
            }
        }
        self.apply_retention(now)
    }

    fn cut(&self, inner: &mut Inner, now: i64) -> Result<(), SeriesError> {
        let keys: Vec<SeriesKey> = inner
            .series
            .iter()
            .filter(|(_, s)| !s.open.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            flush_one(inner, &self.config, &key, now)?;
        }
        // Chunks were appended without fsync: one fsync for all of them.
        if let Some((day, _)) = inner.writer {
            let path = self.config.dir.join(format::chunk_name(day));
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(SeriesError::io("fsync", &path))?;
        }
        inner.wal_seq += 1;
        let path = self.config.dir.join(format::wal_name(inner.wal_seq));
        let old = std::mem::replace(&mut inner.wal, LogWriter::open(&path, WAL_MAGIC, None)?);
        drop(old);
        let prev = self.config.dir.join(format::wal_name(inner.wal_seq - 1));
        inner.old_wals.push(prev);
        for p in inner.old_wals.drain(..) {
            let _ = std::fs::remove_file(&p);
        }
        log::sync_dir(&self.config.dir)?;
        // The labels file keeps only the live labels (changes since are appended to it).
        let live: Vec<(&SeriesKey, &Arc<Labels>)> = inner
            .series
            .iter()
            .filter_map(|(k, s)| Some((k, s.labels.as_ref()?)))
            .collect();
        let rewritten = labels::rewrite(&self.config.dir, &live)?;
        inner.labels_log = rewritten;
        inner.last_cut = now;
        Ok(())
    }

    /// Deletes chunk files whose newest sample is older than the retention, and forgets
    /// series left without samples.
    fn apply_retention(&self, now: i64) -> Result<(), SeriesError> {
        let cutoff = self.cutoff(now);
        let mut inner = self.lock();
        let old: Vec<i64> = inner
            .files
            .iter()
            .filter(|(_, f)| f.max_t < cutoff)
            .map(|(d, _)| *d)
            .collect();
        if old.is_empty() {
            return Ok(());
        }
        for day in &old {
            inner.files.remove(day);
            inner.readers.remove(day);
            if inner.writer.as_ref().is_some_and(|(d, _)| d == day) {
                inner.writer = None;
            }
            let path = self.config.dir.join(format::chunk_name(*day));
            std::fs::remove_file(&path).map_err(SeriesError::io("delete", &path))?;
        }
        log::sync_dir(&self.config.dir)?;
        inner.series.retain(|_, s| {
            s.chunks.retain(|c| !old.contains(&c.day));
            !s.chunks.is_empty() || !s.open.is_empty()
        });
        Ok(())
    }

    fn cutoff(&self, now: i64) -> i64 {
        now.saturating_sub(self.config.retention.as_nanos() as i64)
    }

    /// The series `filter` selects, in key order.
    pub fn series(&self, filter: impl Fn(&SeriesKey) -> bool) -> Vec<SeriesKey> {
        self.lock()
            .series
            .keys()
            .filter(|k| filter(k))
            .cloned()
            .collect()
    }

    /// The samples of `key` with `start <= t <= end` that are within retention as of
    /// `now`, oldest first.
    ///
    /// # Errors
    ///
    /// I/O errors reading a chunk; a chunk that does not decode.
    pub fn samples(
        &self,
        key: &SeriesKey,
        start: i64,
        end: i64,
        now: i64,
    ) -> Result<Vec<Sample>, SeriesError> {
        let start = start.max(self.cutoff(now));
        let mut inner = self.lock();
        let Some(series) = inner.series.get(key) else {
            return Ok(Vec::new());
        };
        let refs: Vec<ChunkRef> = series
            .chunks
            .iter()
            .filter(|c| c.t_max >= start && c.t_min <= end)
            .copied()
            .collect();
        let open = (!series.open.is_empty() && series.open.t_min() <= end)
            .then(|| codec::decode(series.open.bytes(), series.open.len()));
        let mut out = Vec::new();
        for r in refs {
            out.extend(read_chunk(&mut inner, &self.config.dir, &r)?);
        }
        if let Some(open) = open {
            out.extend(open.map_err(|reason| corrupt(&self.config.dir, 0, reason))?);
        }
        out.retain(|s| s.t >= start && s.t <= end);
        Ok(out)
    }

    /// The last `n` samples of `key` at or before `at` (oldest first), within retention.
    ///
    /// # Errors
    ///
    /// As [`SeriesStore::samples`].
    pub fn last(
        &self,
        key: &SeriesKey,
        at: i64,
        n: usize,
        now: i64,
    ) -> Result<Vec<Sample>, SeriesError> {
        let cutoff = self.cutoff(now);
        let mut inner = self.lock();
        let Some(series) = inner.series.get(key) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        if !series.open.is_empty() && series.open.t_min() <= at {
            let open = codec::decode(series.open.bytes(), series.open.len())
                .map_err(|reason| corrupt(&self.config.dir, 0, reason))?;
            out = open.into_iter().filter(|s| s.t <= at).collect();
        }
        let refs: Vec<ChunkRef> = series
            .chunks
            .iter()
            .rev()
            .filter(|c| c.t_min <= at && c.t_max >= cutoff)
            .copied()
            .collect();
        for r in refs {
            if out.len() >= n {
                break;
            }
            let mut older: Vec<Sample> = read_chunk(&mut inner, &self.config.dir, &r)?
                .into_iter()
                .filter(|s| s.t <= at)
                .collect();
            older.extend(out);
            out = older;
        }
        out.retain(|s| s.t >= cutoff);
        let skip = out.len().saturating_sub(n);
        Ok(out.split_off(skip))
    }

    /// Figures about the store.
    pub fn stats(&self) -> SeriesStats {
        let inner = self.lock();
        let mut st = SeriesStats {
            series: inner.series.len() as u64,
            ..SeriesStats::default()
        };
        for (k, s) in &inner.series {
            st.open_bytes += s.open.heap_bytes() as u64;
            st.chunks += s.chunks.len() as u64;
            st.memory_bytes += (k.heap_bytes()
                + s.open.heap_bytes()
                + s.chunks.capacity() * std::mem::size_of::<ChunkRef>()
                + s.labels.as_ref().map_or(0, |l| label_bytes(l))
                + std::mem::size_of::<(SeriesKey, Series)>()
                + 16) as u64;
        }
        st.disk_bytes = inner.files.values().map(|f| f.bytes).sum::<u64>() + inner.wal.len();
        st
    }

    /// Flushes every open chunk (at shutdown), so the next start replays little.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn close(&self, now: i64) -> Result<(), SeriesError> {
        let mut inner = self.lock();
        self.cut(&mut inner, now)
    }
}

/// Heap bytes of a label map: the strings and about 32 bytes of tree per entry.
fn label_bytes(l: &Labels) -> usize {
    l.iter()
        .map(|(k, v)| k.capacity() + v.capacity() + 32)
        .sum::<usize>()
        + 16
}

/// The newest sample time of a batch, standing for "now" when a full chunk is flushed
/// (the chunk file's day).
fn s_now(samples: &[(SeriesKey, Sample)]) -> i64 {
    samples.iter().map(|(_, s)| s.t).max().unwrap_or(0)
}

fn corrupt(path: &Path, offset: u64, reason: String) -> SeriesError {
    SeriesError::Corruption {
        path: path.to_path_buf(),
        offset,
        reason,
    }
}

/// Writes `key`'s open chunk to the chunk file of `now`'s day (not fsynced: the WAL
/// still holds its samples until the next cut, which fsyncs).
fn flush_one(
    inner: &mut Inner,
    config: &SeriesConfig,
    key: &SeriesKey,
    now: i64,
) -> Result<(), SeriesError> {
    let day = now.div_euclid(DAY_NANOS);
    if inner.writer.as_ref().is_none_or(|(d, _)| *d != day) {
        let path = config.dir.join(format::chunk_name(day));
        let valid = inner.files.get(&day).map(|f| f.bytes);
        inner.writer = Some((day, LogWriter::open(&path, CHUNK_MAGIC, valid)?));
        inner.files.entry(day).or_insert(ChunkFile {
            max_t: i64::MIN,
            bytes: format::HEADER_LEN,
        });
    }
    let Some(series) = inner.series.get_mut(key) else {
        return Ok(());
    };
    let open = std::mem::take(&mut series.open);
    let Some(last) = open.last() else {
        return Ok(());
    };
    let mut payload = Vec::with_capacity(open.bytes().len() + 64);
    key.encode(&mut payload);
    payload.extend_from_slice(&open.t_min().to_le_bytes());
    payload.extend_from_slice(&last.t.to_le_bytes());
    payload.extend_from_slice(&open.len().to_le_bytes());
    payload.extend_from_slice(open.bytes());
    let Some((_, writer)) = inner.writer.as_mut() else {
        return Ok(());
    };
    let at = match writer.append(&payload, false) {
        Ok(at) => at,
        Err(e) => {
            // Keep the samples open; the WAL has them.
            series.open = open;
            return Err(e);
        }
    };
    let len = writer.len();
    series.chunks.push(ChunkRef {
        day,
        offset: at,
        len: payload.len() as u32,
        t_min: open.t_min(),
        t_max: last.t,
    });
    if let Some(f) = inner.files.get_mut(&day) {
        f.max_t = f.max_t.max(last.t);
        f.bytes = len;
    }
    Ok(())
}

fn read_chunk(inner: &mut Inner, dir: &Path, r: &ChunkRef) -> Result<Vec<Sample>, SeriesError> {
    let path = dir.join(format::chunk_name(r.day));
    let file = match inner.readers.entry(r.day) {
        std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::hash_map::Entry::Vacant(e) => {
            e.insert(File::open(&path).map_err(SeriesError::io("open", &path))?)
        }
    };
    let mut payload = vec![0u8; r.len as usize];
    file.read_exact_at(&mut payload, r.offset)
        .map_err(SeriesError::io("read", &path))?;
    let mut pos = 0;
    let decoded = SeriesKey::decode(&payload, &mut pos).and_then(|_| {
        let (n, rest) = chunk_fields(&payload, pos)?;
        codec::decode(rest, n)
    });
    decoded.map_err(|reason| corrupt(&path, r.offset, reason))
}

/// The sample count and the chunk bytes after a chunk record's key at `pos`.
fn chunk_fields(payload: &[u8], pos: usize) -> Result<(u32, &[u8]), String> {
    let fixed = pos + 20;
    if payload.len() < fixed {
        return Err("chunk record too short".into());
    }
    let n = u32::from_le_bytes([
        payload[pos + 16],
        payload[pos + 17],
        payload[pos + 18],
        payload[pos + 19],
    ]);
    Ok((n, &payload[fixed..]))
}

fn decode_chunk_head(
    payload: &[u8],
    day: i64,
    offset: u64,
) -> Result<(SeriesKey, ChunkRef), String> {
    let mut pos = 0;
    let key = SeriesKey::decode(payload, &mut pos)?;
    if payload.len() < pos + 20 {
        return Err("chunk record too short".into());
    }
    let i64_at = |p: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&payload[p..p + 8]);
        i64::from_le_bytes(b)
    };
    let (t_min, t_max) = (i64_at(pos), i64_at(pos + 8));
    Ok((
        key,
        ChunkRef {
            day,
            offset,
            len: payload.len() as u32,
            t_min,
            t_max,
        },
    ))
}

fn decode_wal(payload: &[u8]) -> Result<Vec<(SeriesKey, Sample)>, String> {
    let mut pos = 0;
    let n = get_u64(payload, &mut pos)?;
    let mut out = Vec::with_capacity(n.min(1 << 20) as usize);
    for _ in 0..n {
        let key = SeriesKey::decode(payload, &mut pos)?;
        let t = codec::get_i64(payload, &mut pos)?;
        let cpu_ns = get_u64(payload, &mut pos)?;
        let memory = get_u64(payload, &mut pos)?;
        out.push((key, Sample { t, cpu_ns, memory }));
    }
    Ok(out)
}
