//! Record files (layout in [`crate::format`]): append with checksums, read back to the
//! first torn record.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::format::{FORMAT_VERSION, HEADER_LEN, MAX_RECORD_BYTES, RECORD_HEADER_LEN};
use crate::SeriesError;

/// An open record file, appended to.
#[derive(Debug)]
pub(crate) struct LogWriter {
    file: File,
    path: PathBuf,
    len: u64,
}

impl LogWriter {
    /// Creates `path` with a header, or opens it for appending at `valid_len` (the end
    /// of its last good record; anything after is cut off).
    pub(crate) fn open(
        path: &Path,
        magic: [u8; 8],
        valid_len: Option<u64>,
    ) -> Result<Self, SeriesError> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(path)
            .map_err(SeriesError::io("open", path))?;
        let len = match valid_len {
            Some(len) => {
                file.set_len(len)
                    .map_err(SeriesError::io("truncate", path))?;
                len
            }
            None => {
                let mut h = Vec::with_capacity(HEADER_LEN as usize);
                h.extend_from_slice(&magic);
                h.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
                h.extend_from_slice(&0u32.to_le_bytes());
                file.set_len(0).map_err(SeriesError::io("truncate", path))?;
                file.write_all(&h).map_err(SeriesError::io("write", path))?;
                file.sync_all().map_err(SeriesError::io("fsync", path))?;
                if let Some(dir) = path.parent() {
                    sync_dir(dir)?;
                }
                HEADER_LEN
            }
        };
        file.seek(SeekFrom::Start(len))
            .map_err(SeriesError::io("seek", path))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            len,
        })
    }

    /// Appends one record and returns the offset of its payload.
    pub(crate) fn append(&mut self, payload: &[u8], fsync: bool) -> Result<u64, SeriesError> {
        let mut rec = Vec::with_capacity(RECORD_HEADER_LEN + payload.len());
        rec.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        rec.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
        rec.extend_from_slice(payload);
        if let Err(e) = self.file.write_all(&rec) {
            // Leave no partial record behind: the next append starts at a record boundary.
            let _ = self.file.set_len(self.len);
            let _ = self.file.seek(SeekFrom::Start(self.len));
            return Err(SeriesError::io("write", &self.path)(e));
        }
        if fsync {
            self.file
                .sync_data()
                .map_err(SeriesError::io("fsync", &self.path))?;
        }
        let at = self.len + RECORD_HEADER_LEN as u64;
        self.len += rec.len() as u64;
        Ok(at)
    }

    /// Bytes in the file.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}

/// What reading a record file found.
#[derive(Debug, Default)]
pub(crate) struct ReadLog {
    /// (payload offset, payload) of every good record.
    pub(crate) records: Vec<(u64, Vec<u8>)>,
    /// The end of the last good record.
    pub(crate) valid_len: u64,
    /// Whether bytes after it were cut (a torn write).
    pub(crate) torn: bool,
}

/// Reads every good record of `path`.
pub(crate) fn read_all(path: &Path, magic: [u8; 8]) -> Result<ReadLog, SeriesError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(SeriesError::io("read", path))?;
    let corrupt = |reason: String| SeriesError::Corruption {
        path: path.to_path_buf(),
        offset: 0,
        reason,
    };
    if bytes.len() < HEADER_LEN as usize {
        // A crash before the header reached the disk: an empty file.
        return Ok(ReadLog {
            valid_len: 0,
            torn: true,
            ..ReadLog::default()
        });
    }
    if bytes[..8] != magic {
        return Err(corrupt("not a file of this kind (bad magic)".into()));
    }
    let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if version != FORMAT_VERSION {
        return Err(corrupt(format!(
            "format version {version} is not supported"
        )));
    }
    let mut out = ReadLog::default();
    let mut pos = HEADER_LEN as usize;
    while pos + RECORD_HEADER_LEN <= bytes.len() {
        let len = u32::from_le_bytes([bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3]])
            as usize;
        let crc = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]);
        let start = pos + RECORD_HEADER_LEN;
        if len > MAX_RECORD_BYTES || start + len > bytes.len() {
            break;
        }
        let payload = &bytes[start..start + len];
        if crc32c::crc32c(payload) != crc {
            break;
        }
        out.records.push((start as u64, payload.to_vec()));
        pos = start + len;
    }
    out.valid_len = pos as u64;
    out.torn = pos != bytes.len();
    Ok(out)
}

/// Fsyncs a directory (after a create, rename or delete in it).
pub(crate) fn sync_dir(dir: &Path) -> Result<(), SeriesError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(SeriesError::io("fsync", dir))
}
