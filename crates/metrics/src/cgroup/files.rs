//! Readers for the cgroup and `/proc` files the kubelet's stats come from (spec §5.2).

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

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
    generation: u64,
}

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
        self.generation += 1;
    }

    /// Files held open.
    pub(crate) fn kept_len(&self) -> usize {
        self.kept.as_ref().map_or(0, HashMap::len)
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
        let mut out = [None; N];
        for line in text.lines() {
            let Some((key, value)) = line.split_once(sep) else {
                continue;
            };
            let Some(i) = keys.iter().position(|k| *k == key) else {
                continue;
            };
            let value = value.trim_start();
            let digits = value.split(' ').next().unwrap_or("");
            let v: u64 = digits.parse().map_err(|_| {
                MetricsError::parse(
                    path,
                    format!(
                        "{key}: expected an unsigned integer, found {:?}",
                        short(value)
                    ),
                )
            })?;
            out[i] = Some(v);
        }
        let mut values = [0; N];
        for (i, v) in out.into_iter().enumerate() {
            values[i] = v.ok_or(MetricsError::MissingKey {
                path: path.into(),
                key: keys[i],
            })?;
        }
        Ok(values)
    }
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
    let [usage_usec] = reader.keyed(&dir.join("cpu.stat"), ["usage_usec"], ' ')?;
    let current = reader.single(&dir.join("memory.current"))?;
    let [inactive] = reader.keyed(&dir.join("memory.stat"), ["inactive_file"], ' ')?;
    Ok(Usage {
        cpu_ns: usage_usec.saturating_mul(1000),
        memory_working_set: working_set(current, inactive),
    })
}
