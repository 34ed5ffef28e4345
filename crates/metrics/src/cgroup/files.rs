//! Readers for the cgroup and `/proc` files the kubelet's stats come from (spec §5.2).

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use xxhash_rust::xxh3::Xxh3DefaultBuilder;

use crate::error::MetricsError;

/// Reads small kernel files into one reused buffer, so a collection allocates little and
/// spends three syscalls per file (open, one read, close; no `fstat` to size a buffer).
///
/// With [`Reader::keep_open`], files stay open between collections and are read again
/// with one `pread` at offset 0 (one syscall per file): right for cgroupfs and `/proc`,
/// whose files regenerate their content on every read and are never replaced, wrong
/// for files that are replaced by rename (a kept descriptor would read the old inode).
#[derive(Debug, Default)]
pub(crate) struct Reader {
    buf: Vec<u8>,
    /// Open files by path, with the generation that last read them.
    kept: Option<HashMap<PathBuf, (File, u64)>>,
    /// The three files of each cgroup v2 directory [`read_v2`] read, by the directory's
    /// path bytes (one lookup per cgroup, hashed as bytes rather than by components).
    kept_dirs: HashMap<Box<[u8]>, KeptDir, Xxh3DefaultBuilder>,
    generation: u64,
}

/// A cgroup's open `cpu.stat`, `memory.current` and `memory.stat`.
#[derive(Debug)]
struct KeptDir {
    files: [Option<File>; 3],
    generation: u64,
}

/// The files [`read_v2`] reads, in [`KeptDir::files`] order.
const V2_FILES: [&str; 3] = ["cpu.stat", "memory.current", "memory.stat"];

impl Reader {
    /// A reader that keeps files open (see the type's documentation).
    pub(crate) fn keep_open() -> Self {
        Self {
            kept: Some(HashMap::new()),
            ..Self::default()
        }
    }

    /// Starts a collection: files not read since the previous call are closed (their
    /// cgroups are gone).
    pub(crate) fn next_generation(&mut self) {
        let current = self.generation;
        if let Some(kept) = &mut self.kept {
            kept.retain(|_, (_, g)| *g == current);
        }
        self.kept_dirs.retain(|_, d| d.generation == current);
        self.generation += 1;
    }

    /// Files held open.
    pub(crate) fn kept_len(&self) -> usize {
        self.kept.as_ref().map_or(0, HashMap::len)
            + self
                .kept_dirs
                .values()
                .map(|d| d.files.iter().flatten().count())
                .sum::<usize>()
    }

    /// The whole content of `path`, which must be UTF-8 (kernel files are ASCII).
    pub(crate) fn read(&mut self, path: &Path) -> Result<&str, MetricsError> {
        if self.buf.is_empty() {
            self.buf.resize(16 * 1024, 0);
        }
        let generation = self.generation;
        let len = match self.kept.as_mut().and_then(|k| k.get_mut(path)) {
            Some((f, g)) => {
                *g = generation;
                match fill(&mut self.buf, |b, at| f.read_at(b, at as u64)) {
                    Ok(len) => len,
                    // A removed cgroup's files answer ENODEV: open again (and fail
                    // with the path's own error if it is gone).
                    Err(_) => {
                        if let Some(k) = self.kept.as_mut() {
                            k.remove(path);
                        }
                        self.open_and_read(path)?
                    }
                }
            }
            None => self.open_and_read(path)?,
        };
        std::str::from_utf8(&self.buf[..len]).map_err(|_| MetricsError::parse(path, "not UTF-8"))
    }

    /// File `i` of [`V2_FILES`] in the cgroup `dir`, read into the buffer: with a kept
    /// descriptor when keeping files (one `pread`), else opened and closed.
    fn read_v2_file(&mut self, dir: &Path, i: usize) -> Result<&str, MetricsError> {
        if self.kept.is_none() {
            return self.read(&dir.join(V2_FILES[i]));
        }
        if self.buf.is_empty() {
            self.buf.resize(16 * 1024, 0);
        }
        let generation = self.generation;
        let key = dir.as_os_str().as_bytes();
        let entry = match self.kept_dirs.get_mut(key) {
            Some(e) => e,
            None => self.kept_dirs.entry(key.into()).or_insert(KeptDir {
                files: [None, None, None],
                generation,
            }),
        };
        entry.generation = generation;
        let read = match &entry.files[i] {
            Some(f) => fill(&mut self.buf, |b, at| f.read_at(b, at as u64)).ok(),
            None => None,
        };
        let len = match read {
            Some(len) => len,
            // Not open yet, or a removed cgroup's descriptor (ENODEV): open again, and
            // fail with the path's own error if it is gone.
            None => {
                entry.files[i] = None;
                let path = dir.join(V2_FILES[i]);
                let mut f = File::open(&path).map_err(|e| MetricsError::io(&path, e))?;
                let len = fill(&mut self.buf, |b, _| f.read(b))
                    .map_err(|e| MetricsError::io(&path, e))?;
                entry.files[i] = Some(f);
                len
            }
        };
        std::str::from_utf8(&self.buf[..len])
            .map_err(|_| MetricsError::parse(dir.join(V2_FILES[i]), "not UTF-8"))
    }

    fn open_and_read(&mut self, path: &Path) -> Result<usize, MetricsError> {
        let mut f = File::open(path).map_err(|e| MetricsError::io(path, e))?;
        let len = fill(&mut self.buf, |b, _| f.read(b)).map_err(|e| MetricsError::io(path, e))?;
        if let Some(kept) = &mut self.kept {
            kept.insert(path.to_path_buf(), (f, self.generation));
        }
        Ok(len)
    }

    /// A file holding one unsigned integer (`memory.current`, `cpuacct.usage`).
    pub(crate) fn single(&mut self, path: &Path) -> Result<u64, MetricsError> {
        let text = self.read(path)?.trim();
        text.parse().map_err(|_| {
            MetricsError::parse(
                path,
                format!("expected an unsigned integer, found {:?}", short(text)),
            )
        })
    }

    /// The values of `keys` in a flat-keyed file (`<key> <value>` per line: `cpu.stat`,
    /// `memory.stat`; `<key>: <value> kB` in `/proc/meminfo` with `sep = ':'`).
    pub(crate) fn keyed<const N: usize>(
        &mut self,
        path: &Path,
        keys: [&'static str; N],
        sep: char,
    ) -> Result<[u64; N], MetricsError> {
        let text = self.read(path)?;
        parse_keyed(text, keys, sep as u8).map_err(|e| e.at(path))
    }
}

/// What [`parse_keyed`] could not find or read; the caller adds the path.
#[derive(Debug)]
enum KeyedError {
    Missing(&'static str),
    Bad(&'static str, String),
}

impl KeyedError {
    fn at(self, path: &Path) -> MetricsError {
        match self {
            KeyedError::Missing(key) => MetricsError::MissingKey {
                path: path.into(),
                key,
            },
            KeyedError::Bad(key, value) => MetricsError::parse(
                path,
                format!("{key}: expected an unsigned integer, found {value:?}"),
            ),
        }
    }
}

/// The values of `keys` in `text`, one `<key><sep><spaces><digits>[ unit]` per line,
/// stopping at the line that completes them: a byte scan without allocation (the
/// collector parses 300 such files per collection).
fn parse_keyed<const N: usize>(
    text: &str,
    keys: [&'static str; N],
    sep: u8,
) -> Result<[u64; N], KeyedError> {
    let mut out = [0u64; N];
    let mut found = 0usize;
    let mut have = [false; N];
    for line in text.as_bytes().split(|&b| b == b'\n') {
        let Some(at) = line.iter().position(|&b| b == sep) else {
            continue;
        };
        let key = &line[..at];
        let Some(i) = keys.iter().position(|k| k.as_bytes() == key) else {
            continue;
        };
        let value = &line[at + 1..];
        let value = &value[value.iter().take_while(|&&b| b == b' ').count()..];
        let digits = &value[..value.iter().position(|&b| b == b' ').unwrap_or(value.len())];
        let v = parse_u64(digits).ok_or_else(|| {
            let shown = String::from_utf8_lossy(value);
            KeyedError::Bad(keys[i], short(&shown))
        })?;
        out[i] = v;
        if !have[i] {
            have[i] = true;
            found += 1;
            if found == N {
                return Ok(out);
            }
        }
    }
    let missing = have.iter().position(|h| !h).unwrap_or(0);
    Err(KeyedError::Missing(keys[missing]))
}

/// ASCII digits as a u64 (none, another byte or an overflow: `None`).
fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// Reads into `buf` (grown as needed) with `read(slice, offset)` until a short read: regular
/// files, kernfs and seq_file files (all of cgroupfs and /proc) fill the buffer while they
/// have data, so a short read is the end. This saves the read that would return 0.
fn fill(
    buf: &mut Vec<u8>,
    mut read: impl FnMut(&mut [u8], usize) -> std::io::Result<usize>,
) -> std::io::Result<usize> {
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
        match read(&mut buf[len..], len) {
            Ok(0) => return Ok(len),
            Ok(n) if len + n < buf.len() => return Ok(len + n),
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Cumulative CPU and memory working set of one cgroup (or the node), as the kubelet
/// reports them: `*_cpu_usage_seconds_total` in nanoseconds and `*_memory_working_set_bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Cumulative CPU time in nanoseconds.
    pub cpu_ns: u64,
    /// Memory working set in bytes: `max(0, usage − inactive_file)`.
    pub memory_working_set: u64,
}

/// The working set rule (spec §5.2): `max(0, usage − inactive_file)`.
pub fn working_set(usage: u64, inactive_file: u64) -> u64 {
    usage.saturating_sub(inactive_file)
}

/// cgroup v2: `cpu.stat` `usage_usec` × 1000, and `memory.current` minus `memory.stat`
/// `inactive_file`.
pub(crate) fn read_v2(reader: &mut Reader, dir: &Path) -> Result<Usage, MetricsError> {
    let path = |i: usize| dir.join(V2_FILES[i]);
    let text = reader.read_v2_file(dir, 0)?;
    let [usage_usec] = parse_keyed(text, ["usage_usec"], b' ').map_err(|e| e.at(&path(0)))?;
    let text = reader.read_v2_file(dir, 1)?.trim();
    let current = parse_u64(text.as_bytes()).ok_or_else(|| {
        MetricsError::parse(
            path(1),
            format!("expected an unsigned integer, found {:?}", short(text)),
        )
    })?;
    let text = reader.read_v2_file(dir, 2)?;
    let [inactive] = parse_keyed(text, ["inactive_file"], b' ').map_err(|e| e.at(&path(2)))?;
    Ok(Usage {
        cpu_ns: usage_usec.saturating_mul(1000),
        memory_working_set: working_set(current, inactive),
    })
}
