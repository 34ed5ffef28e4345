//! The filesystem seam: everything the store writes goes through [`Fs`], so tests can put
//! a fault-injecting implementation ([`FaultFs`]) under a real store.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

/// A file open for writing.
pub trait WriteFile: Send {
    /// Writes all of `buf` or fails; on failure a prefix may have been written.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Makes everything written so far durable (`fdatasync`).
    fn sync(&mut self) -> io::Result<()>;
}

/// The filesystem operations the store uses.
pub trait Fs: Send + Sync + fmt::Debug {
    /// Creates a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Creates (or truncates) a file for writing.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WriteFile>>;
    /// Opens a file for reading (reads bypass the seam: faults are about writes).
    fn open_read(&self, path: &Path) -> io::Result<File>;
    /// Reads a whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Renames atomically.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Removes a directory and everything under it.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// The names of the entries of a directory (empty when it does not exist).
    fn list(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Makes a directory's entries (creations, renames, removals) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// The size of a file in bytes.
    fn len(&self, path: &Path) -> io::Result<u64>;
}

/// The real filesystem.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

struct RealFile(File);

impl WriteFile for RealFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl Fs for RealFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Box::new(RealFile(f)))
    }
    fn open_read(&self, path: &Path) -> io::Result<File> {
        File::open(path)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir_all(path)
    }
    fn list(&self, path: &Path) -> io::Result<Vec<String>> {
        let rd = match std::fs::read_dir(path) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for e in rd {
            if let Ok(name) = e?.file_name().into_string() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        File::open(path)?.sync_all()
    }
    fn len(&self, path: &Path) -> io::Result<u64> {
        Ok(std::fs::metadata(path)?.len())
    }
}

/// Faults to inject, shared between a [`FaultFs`] and the test that drives it.
#[derive(Debug)]
pub struct Faults {
    /// Bytes that may still be written before writes fail with "no space left on device"
    /// (a write that crosses the limit writes the part that fits: a short write).
    /// Negative means unlimited.
    pub write_budget: AtomicI64,
    /// When set, every fsync fails with an I/O error.
    pub fail_sync: AtomicBool,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            write_budget: AtomicI64::new(-1),
            fail_sync: AtomicBool::new(false),
        }
    }
}

impl Faults {
    /// Lets `bytes` more bytes be written, then the disk is full.
    pub fn disk_full_after(&self, bytes: i64) {
        self.write_budget.store(bytes, Ordering::SeqCst);
    }
    /// Removes every fault.
    pub fn heal(&self) {
        self.write_budget.store(-1, Ordering::SeqCst);
        self.fail_sync.store(false, Ordering::SeqCst);
    }
}

/// The real filesystem with injectable write faults: short writes, disk full and fsync
/// errors. Reads, renames and removals pass through.
#[derive(Debug, Clone, Default)]
pub struct FaultFs {
    /// The faults in force; change them at any time.
    pub faults: Arc<Faults>,
}

struct FaultFile {
    inner: RealFile,
    faults: Arc<Faults>,
}

impl WriteFile for FaultFile {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let budget = self.faults.write_budget.load(Ordering::SeqCst);
        if budget >= 0 && (buf.len() as i64) > budget {
            let fits = budget as usize;
            self.inner.write_all(&buf[..fits])?;
            self.faults.write_budget.store(0, Ordering::SeqCst);
            return Err(io::Error::from_raw_os_error(28)); // ENOSPC
        }
        if budget >= 0 {
            self.faults
                .write_budget
                .fetch_sub(buf.len() as i64, Ordering::SeqCst);
        }
        self.inner.write_all(buf)
    }
    fn sync(&mut self) -> io::Result<()> {
        if self.faults.fail_sync.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(5)); // EIO
        }
        self.inner.sync()
    }
}

impl Fs for FaultFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        RealFs.create_dir_all(path)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WriteFile>> {
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Box::new(FaultFile {
            inner: RealFile(f),
            faults: self.faults.clone(),
        }))
    }
    fn open_read(&self, path: &Path) -> io::Result<File> {
        RealFs.open_read(path)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        RealFs.read(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        RealFs.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        RealFs.remove_file(path)
    }
    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        RealFs.remove_dir_all(path)
    }
    fn list(&self, path: &Path) -> io::Result<Vec<String>> {
        RealFs.list(path)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        if self.faults.fail_sync.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(5));
        }
        RealFs.sync_dir(path)
    }
    fn len(&self, path: &Path) -> io::Result<u64> {
        RealFs.len(path)
    }
}

/// Writes `bytes` to `path` crash-safely: a temp file, fsync, rename, fsync of the directory.
pub(crate) fn write_atomic(fs: &dyn Fs, path: &Path, bytes: &[u8]) -> crate::Result<()> {
    use crate::StoreError;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(crate::format::TMP_SUFFIX);
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = fs
        .create(&tmp)
        .map_err(|e| StoreError::io("create", &tmp, e))?;
    f.write_all(bytes)
        .map_err(|e| StoreError::io("write", &tmp, e))?;
    f.sync().map_err(|e| StoreError::io("fsync", &tmp, e))?;
    drop(f);
    fs.rename(&tmp, path)
        .map_err(|e| StoreError::io("rename", &tmp, e))?;
    sync_parent(fs, path)
}

/// Fsyncs the directory holding `path`.
pub(crate) fn sync_parent(fs: &dyn Fs, path: &Path) -> crate::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs.sync_dir(dir)
        .map_err(|e| crate::StoreError::io("fsync dir", dir, e))
}
