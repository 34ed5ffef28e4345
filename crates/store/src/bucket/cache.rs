//! The local page cache of bucket objects: reads of segments and indexes are served from
//! fixed-size pages on local disk, missing pages are fetched with one ranged request per
//! read (several ranges), and the least recently used pages are evicted to stay under the
//! size bound. The cache is disposable: it is emptied at open, a page that cannot be read
//! or written is simply fetched again, and block and meta checksums catch any damage.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::{Bucket, CacheStats};
use crate::fs::Fs;

/// Bytes of one cache page (the last page of an object is shorter).
pub const PAGE_BYTES: u64 = 1 << 20;

/// Suffix of page files: `<key>.p<page number>`.
const PAGE_SUFFIX: &str = ".p";

#[derive(Debug, Default)]
struct Lru {
    /// Page file name (relative) → (bytes, last use).
    pages: HashMap<String, (u64, u64)>,
    /// Last use → page file name.
    order: BTreeMap<u64, String>,
    bytes: u64,
    tick: u64,
}

impl Lru {
    fn touch(&mut self, name: &str) -> bool {
        self.tick += 1;
        let tick = self.tick;
        match self.pages.get_mut(name) {
            Some(e) => {
                self.order.remove(&e.1);
                e.1 = tick;
                self.order.insert(tick, name.to_owned());
                true
            }
            None => false,
        }
    }
    fn forget(&mut self, name: &str) {
        if let Some((len, tick)) = self.pages.remove(name) {
            self.order.remove(&tick);
            self.bytes -= len;
        }
    }
}

/// Pages of bucket objects on local disk, bounded in bytes.
#[derive(Debug)]
pub(crate) struct PageCache {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    max_bytes: u64,
    lru: Mutex<Lru>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    pub(crate) uploads: AtomicU64,
    pub(crate) deletes: AtomicU64,
}

fn page_name(key: &str, page: u64) -> String {
    format!("{key}{PAGE_SUFFIX}{page}")
}

impl PageCache {
    /// Opens the cache at `dir`, emptying it.
    pub(crate) fn open(fs: Arc<dyn Fs>, dir: &Path, max_bytes: u64) -> io::Result<Self> {
        match fs.remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        fs.create_dir_all(dir)?;
        Ok(Self {
            fs,
            dir: dir.to_owned(),
            max_bytes,
            lru: Mutex::new(Lru::default()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            uploads: AtomicU64::new(0),
            deletes: AtomicU64::new(0),
        })
    }

    fn lru(&self) -> std::sync::MutexGuard<'_, Lru> {
        // Every update leaves the maps consistent between statements.
        self.lru.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// What the cache holds and has done.
    pub(crate) fn stats(&self) -> CacheStats {
        let lru = self.lru();
        CacheStats {
            bytes: lru.bytes,
            max_bytes: self.max_bytes,
            pages: lru.pages.len() as u64,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            uploads: self.uploads.load(Ordering::Relaxed),
            deletes: self.deletes.load(Ordering::Relaxed),
        }
    }

    /// Fills `buf` with the bytes of object `key` (of `len` bytes) at `off`: cached pages
    /// from local disk, the others with one ranged request, then cached.
    pub(crate) fn read_at(
        &self,
        bucket: &dyn Bucket,
        key: &str,
        len: u64,
        buf: &mut [u8],
        off: u64,
    ) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        let end = off
            .checked_add(buf.len() as u64)
            .filter(|e| *e <= len)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "read of {} bytes at {off} past the object's {len}",
                        buf.len()
                    ),
                )
            })?;
        let (first, last) = (off / PAGE_BYTES, (end - 1) / PAGE_BYTES);
        let mut missing = Vec::new();
        for page in first..=last {
            let (a, b) = span(page, off, end);
            let dst = &mut buf[(a - off) as usize..(b - off) as usize];
            if self.read_cached(key, page, a - page * PAGE_BYTES, dst) {
                self.hits.fetch_add(1, Ordering::Relaxed);
            } else {
                missing.push(page);
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let ranges: Vec<_> = missing
            .iter()
            .map(|p| p * PAGE_BYTES..((p + 1) * PAGE_BYTES).min(len))
            .collect();
        let got = bucket.get_ranges(key, &ranges)?;
        self.misses
            .fetch_add(missing.len() as u64, Ordering::Relaxed);
        for ((page, range), data) in missing.iter().zip(&ranges).zip(&got) {
            if data.len() as u64 != range.end - range.start {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "ranged read {range:?} answered {} bytes (the object is shorter than the manifest says)",
                        data.len()
                    ),
                ));
            }
            let (a, b) = span(*page, off, end);
            let from = (a - range.start) as usize;
            buf[(a - off) as usize..(b - off) as usize]
                .copy_from_slice(&data[from..from + (b - a) as usize]);
            // A page that cannot be written is fetched again next time.
            let _ = self.insert(key, *page, data);
        }
        Ok(())
    }

    /// Copies `dst.len()` bytes at `at` of a cached page into `dst`; false when the page is
    /// not (or no longer) cached.
    fn read_cached(&self, key: &str, page: u64, at: u64, dst: &mut [u8]) -> bool {
        let name = page_name(key, page);
        if !self.lru().touch(&name) {
            return false;
        }
        let read = self
            .fs
            .open_read(&self.dir.join(&name))
            .and_then(|f| f.read_exact_at(dst, at));
        if read.is_err() {
            // Evicted meanwhile, or damaged: forget it and fetch again.
            self.lru().forget(&name);
            return false;
        }
        true
    }

    /// Stores a page, then evicts the least recently used pages over the bound.
    fn insert(&self, key: &str, page: u64, data: &[u8]) -> io::Result<()> {
        let name = page_name(key, page);
        let path = self.dir.join(&name);
        if let Some(parent) = path.parent() {
            self.fs.create_dir_all(parent)?;
        }
        let mut tmp = path.clone().into_os_string();
        tmp.push(crate::format::TMP_SUFFIX);
        let tmp = PathBuf::from(tmp);
        let mut f = self.fs.create(&tmp)?;
        f.write_all(data)?;
        drop(f);
        self.fs.rename(&tmp, &path)?;
        let evict = {
            let mut lru = self.lru();
            lru.forget(&name);
            lru.tick += 1;
            let tick = lru.tick;
            lru.pages.insert(name.clone(), (data.len() as u64, tick));
            lru.order.insert(tick, name);
            lru.bytes += data.len() as u64;
            let mut evict = Vec::new();
            while lru.bytes > self.max_bytes {
                let Some((_, oldest)) = lru.order.pop_first() else {
                    break;
                };
                if let Some((len, _)) = lru.pages.remove(&oldest) {
                    lru.bytes -= len;
                }
                evict.push(oldest);
            }
            evict
        };
        for name in evict {
            self.evictions.fetch_add(1, Ordering::Relaxed);
            let _ = self.fs.remove_file(&self.dir.join(name));
        }
        Ok(())
    }

    /// Caches the pages of a local file that was just uploaded as `key`.
    pub(crate) fn insert_file(&self, key: &str, path: &Path) -> io::Result<()> {
        let f = self.fs.open_read(path)?;
        let len = f.metadata()?.len();
        let mut buf = vec![0u8; PAGE_BYTES.min(len) as usize];
        let mut page = 0;
        while page * PAGE_BYTES < len {
            let n = (len - page * PAGE_BYTES).min(PAGE_BYTES) as usize;
            f.read_exact_at(&mut buf[..n], page * PAGE_BYTES)?;
            self.insert(key, page, &buf[..n])?;
            page += 1;
        }
        Ok(())
    }

    /// Forgets and deletes every page of `key` (its object was deleted).
    pub(crate) fn remove(&self, key: &str) {
        let prefix = format!("{key}{PAGE_SUFFIX}");
        let names: Vec<String> = {
            let mut lru = self.lru();
            let names: Vec<String> = lru
                .pages
                .keys()
                .filter(|n| n.starts_with(&prefix))
                .cloned()
                .collect();
            for n in &names {
                lru.forget(n);
            }
            names
        };
        for n in names {
            let _ = self.fs.remove_file(&self.dir.join(n));
        }
    }
}

/// The part of `[off, end)` inside `page`.
fn span(page: u64, off: u64, end: u64) -> (u64, u64) {
    (off.max(page * PAGE_BYTES), end.min((page + 1) * PAGE_BYTES))
}
