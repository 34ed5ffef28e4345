//! One open file of a chain: a plain file or a `.gz` read through the gzip stream, its
//! identity (device + inode + first bytes) and read position.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use flate2::read::MultiGzDecoder;
use kelp_tail::change::FileId;

use crate::checkpoint::{Mark, HEAD_BYTES};

/// Opening order of every source, process-wide: "the oldest held file" across chains.
pub(super) static OPENED: AtomicU64 = AtomicU64::new(0);

pub(super) enum Reader {
    Plain(File),
    Gz(Box<MultiGzDecoder<File>>),
}

/// One open file of the chain.
pub(super) struct Source {
    pub(super) reader: Reader,
    pub(super) id: FileId,
    pub(super) head: Vec<u8>,
    /// Uncompressed bytes read so far: the offset of the next byte.
    pub(super) offset: u64,
    pub(super) last_data: Instant,
    pub(super) name: PathBuf,
    /// When it was opened, in [`OPENED`] order.
    pub(super) seq: u64,
}

impl Source {
    pub(super) fn open(path: &Path, now: Instant) -> io::Result<Self> {
        let gz = path.extension().is_some_and(|e| e == "gz");
        let file = File::open(path)?;
        let id = FileId::of(&file.metadata()?);
        let mut head = vec![0; HEAD_BYTES];
        let n = if gz {
            read_full(&mut MultiGzDecoder::new(File::open(path)?), &mut head)?
        } else {
            read_full_at(&file, &mut head)?
        };
        head.truncate(n);
        let reader = if gz {
            Reader::Gz(Box::new(MultiGzDecoder::new(file)))
        } else {
            Reader::Plain(file)
        };
        Ok(Self {
            reader,
            id,
            head,
            offset: 0,
            last_data: now,
            name: path.to_owned(),
            seq: OPENED.fetch_add(1, Ordering::Relaxed),
        })
    }

    pub(super) fn is_gz(&self) -> bool {
        matches!(self.reader, Reader::Gz(_))
    }

    pub(super) fn file(&self) -> &File {
        match &self.reader {
            Reader::Plain(f) => f,
            Reader::Gz(d) => d.get_ref(),
        }
    }

    /// Completes the head of a plain file opened while it held fewer than
    /// [`HEAD_BYTES`] bytes, through the descriptor.
    pub(super) fn refresh_head(&mut self) {
        if let Reader::Plain(f) = &self.reader {
            if self.head.len() < HEAD_BYTES {
                let mut head = vec![0; HEAD_BYTES];
                if let Ok(n) = read_full_at(f, &mut head) {
                    head.truncate(n);
                    self.head = head;
                }
            }
        }
    }

    pub(super) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.reader {
            Reader::Plain(f) => f.read_at(buf, self.offset)?,
            Reader::Gz(d) => d.read(buf)?,
        };
        if (self.offset as usize) < HEAD_BYTES && self.head.len() == self.offset as usize {
            let take = n.min(HEAD_BYTES - self.head.len());
            self.head.extend_from_slice(&buf[..take]);
        }
        self.offset += n as u64;
        Ok(n)
    }

    /// Moves to `offset` (uncompressed): a plain file seeks, a gzip stream is read and
    /// discarded up to it.
    pub(super) fn skip_to(&mut self, offset: u64) -> io::Result<()> {
        match &mut self.reader {
            Reader::Plain(_) => self.offset = offset,
            Reader::Gz(d) => {
                let skipped = io::copy(&mut d.as_mut().take(offset), &mut io::sink())?;
                self.offset = skipped;
            }
        }
        Ok(())
    }

    /// Whether this file is the one `mark` names.
    pub(super) fn matches(&self, mark: &Mark) -> bool {
        let same_inode = self.id.dev == mark.dev && self.id.ino == mark.ino;
        if mark.head.is_empty() {
            return same_inode && !self.is_gz();
        }
        self.head.starts_with(&mark.head) && (same_inode || self.is_gz())
    }

    pub(super) fn mark(&self, offset: u64) -> Mark {
        Mark {
            dev: self.id.dev,
            ino: self.id.ino,
            head: self.head.clone(),
            offset,
        }
    }
}

pub(super) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

pub(super) fn read_full_at(f: &File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The first [`HEAD_BYTES`] bytes of a file (decompressed for a `.gz`).
pub(super) fn read_head(path: &Path) -> io::Result<Vec<u8>> {
    let mut head = vec![0; HEAD_BYTES];
    let n = if path.extension().is_some_and(|e| e == "gz") {
        read_full(&mut MultiGzDecoder::new(File::open(path)?), &mut head)?
    } else {
        read_full_at(&File::open(path)?, &mut head)?
    };
    head.truncate(n);
    Ok(head)
}
