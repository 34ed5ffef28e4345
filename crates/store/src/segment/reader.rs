//! Reading a segment file: the trailer and meta section at open, blocks and blooms on
//! demand with positioned reads.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use kelp_model::{Labels, StreamId};

use super::block::{get_meta, BlockMeta};
use crate::bucket::Remote;
use crate::codec::{check_header, check_versions_agree, parse_trailer, Cursor};
use crate::format::{HEADER_LEN, SEGMENT_MAGIC, TRAILER_LEN};
use crate::fs::Fs;
use crate::{Result, StoreError};

/// Where a segment's bytes are read from.
#[derive(Debug)]
enum Src {
    /// A local file.
    File(File),
    /// An object in the bucket, read through the page cache.
    Remote {
        /// The store's bucket and cache.
        remote: Arc<Remote>,
        /// The object's key.
        key: String,
    },
}

/// An open segment.
#[derive(Debug)]
pub(crate) struct Segment {
    pub id: u64,
    pub path: PathBuf,
    pub bytes: u64,
    src: Src,
    /// Blocks sorted by stream, then time.
    pub blocks: Vec<BlockMeta>,
    /// The streams with blocks here, sorted by id.
    pub streams: Vec<(StreamId, Labels)>,
    blooms: Vec<OnceLock<Vec<u64>>>,
}

impl Segment {
    /// Opens and checks the segment at `path`.
    pub(crate) fn open(fs: &dyn Fs, path: &Path, id: u64) -> Result<Self> {
        let file = fs
            .open_read(path)
            .map_err(|e| StoreError::io("open", path, e))?;
        let len = file
            .metadata()
            .map_err(|e| StoreError::io("stat", path, e))?
            .len();
        Self::from_src(Src::File(file), path.to_owned(), len, id)
    }

    /// Opens and checks the segment stored as object `key` of `len` bytes (as the manifest
    /// says), reading through the cache.
    pub(crate) fn open_remote(remote: &Arc<Remote>, key: &str, len: u64, id: u64) -> Result<Self> {
        let path = PathBuf::from(format!(
            "{}/{key}",
            remote.bucket.describe().trim_end_matches('/')
        ));
        let src = Src::Remote {
            remote: remote.clone(),
            key: key.to_owned(),
        };
        Self::from_src(src, path, len, id)
    }

    fn from_src(src: Src, path: PathBuf, len: u64, id: u64) -> Result<Self> {
        let path = path.as_path();
        let file = &src;
        if len < (HEADER_LEN + TRAILER_LEN) as u64 {
            return Err(StoreError::corrupt(
                path,
                0,
                "segment shorter than header and trailer",
            ));
        }
        let mut header = [0u8; HEADER_LEN];
        read_at(file, len, path, &mut header, 0)?;
        let mut trailer = [0u8; TRAILER_LEN];
        read_at(file, len, path, &mut trailer, len - TRAILER_LEN as u64)?;
        check_versions_agree(path, &header, &trailer)?;
        check_header(path, &header, &SEGMENT_MAGIC)?;
        let (off, mlen, crc) = parse_trailer(path, &trailer, len, &SEGMENT_MAGIC)?;
        let mut meta = vec![0u8; mlen as usize];
        read_at(file, len, path, &mut meta, off)?;
        if crc32c::crc32c(&meta) != crc {
            return Err(StoreError::corrupt(
                path,
                off,
                "segment meta checksum mismatch",
            ));
        }
        let mut c = Cursor::new(&meta);
        let bad = |c: &Cursor<'_>, w| c.corrupt(path, off, w);
        let n = c.uvarint().map_err(|w| bad(&c, w))?;
        let mut streams = Vec::new();
        for _ in 0..n {
            let id = c.u64().map_err(|w| bad(&c, w))?;
            let labels = c.labels().map_err(|w| bad(&c, w))?;
            streams.push((StreamId(id), labels));
        }
        let n = c.uvarint().map_err(|w| bad(&c, w))?;
        let mut blocks = Vec::new();
        for _ in 0..n {
            let m = get_meta(&mut c).map_err(|w| bad(&c, w))?;
            let end = m.data_off.saturating_add(u64::from(m.data_len));
            let bend = m.bloom_off.saturating_add(u64::from(m.bloom_words) * 8);
            if end > off || bend > off {
                return Err(bad(&c, "block outside the data section"));
            }
            blocks.push(m);
        }
        let blooms = blocks.iter().map(|_| OnceLock::new()).collect();
        Ok(Self {
            id,
            path: path.to_owned(),
            bytes: len,
            src,
            blocks,
            streams,
            blooms,
        })
    }

    /// Indices of the blocks of `stream`.
    pub(crate) fn blocks_of(&self, stream: StreamId) -> std::ops::Range<usize> {
        let a = self.blocks.partition_point(|b| b.stream < stream);
        let b = self.blocks.partition_point(|b| b.stream <= stream);
        a..b
    }

    /// The labels of `stream`, if it has blocks here.
    pub(crate) fn labels(&self, stream: StreamId) -> Option<&Labels> {
        self.streams
            .binary_search_by_key(&stream, |s| s.0)
            .ok()
            .map(|i| &self.streams[i].1)
    }

    /// Reads and checks block `i`'s data.
    pub(crate) fn read_block(&self, i: usize) -> Result<Vec<u8>> {
        let m = &self.blocks[i];
        let mut buf = vec![0u8; m.data_len as usize];
        read_at(&self.src, self.bytes, &self.path, &mut buf, m.data_off)?;
        if crc32c::crc32c(&buf) != m.data_crc {
            return Err(StoreError::corrupt(
                &self.path,
                m.data_off,
                "block checksum mismatch",
            ));
        }
        Ok(buf)
    }

    /// Block `i`'s bloom filter (read once, then kept).
    pub(crate) fn bloom(&self, i: usize) -> Result<&[u64]> {
        if let Some(b) = self.blooms[i].get() {
            return Ok(b);
        }
        let m = &self.blocks[i];
        let mut buf = vec![0u8; m.bloom_words as usize * 8];
        read_at(&self.src, self.bytes, &self.path, &mut buf, m.bloom_off)?;
        if crc32c::crc32c(&buf) != m.bloom_crc {
            return Err(StoreError::corrupt(
                &self.path,
                m.bloom_off,
                "bloom checksum mismatch",
            ));
        }
        let words = buf
            .chunks_exact(8)
            .map(|c| {
                let mut a = [0u8; 8];
                a.copy_from_slice(c);
                u64::from_le_bytes(a)
            })
            .collect();
        Ok(self.blooms[i].get_or_init(|| words))
    }

    /// Decodes block `i` whole.
    pub(crate) fn decode(&self, i: usize) -> Result<super::block::Decoded> {
        let data = self.read_block(i)?;
        super::block::decode(&data, &self.blocks[i])
            .map_err(|w| StoreError::corrupt(&self.path, self.blocks[i].data_off, w))
    }

    /// Decodes the entries of block `i` in `[start, end)` whose line passes `test` (see
    /// [`super::block::decode_matching`]).
    pub(crate) fn decode_matching(
        &self,
        i: usize,
        start: i64,
        end: i64,
        template_literal: Option<&memchr::memmem::Finder<'_>>,
        test: impl FnMut(&[u8]) -> bool,
    ) -> Result<super::block::Decoded> {
        let data = self.read_block(i)?;
        super::block::decode_matching(&data, &self.blocks[i], start, end, template_literal, test)
            .map_err(|w| StoreError::corrupt(&self.path, self.blocks[i].data_off, w))
    }

    /// The first (`forward`) or last `n` entries of block `i` in `[start, end)`, the
    /// lines before them skipped without being rebuilt (see
    /// [`super::block::decode_window`]).
    pub(crate) fn decode_window(
        &self,
        i: usize,
        range: (i64, i64),
        forward: bool,
        n: usize,
    ) -> Result<super::block::Decoded> {
        let data = self.read_block(i)?;
        super::block::decode_window(
            &data,
            &self.blocks[i],
            range,
            Some((forward, n)),
            None,
            |_| true,
        )
        .map_err(|w| StoreError::corrupt(&self.path, self.blocks[i].data_off, w))
    }

    /// Counts block `i`'s entries per bucket from its timestamp column alone (see
    /// [`super::block::count_ts`]).
    pub(crate) fn count_ts(
        &self,
        i: usize,
        range: (i64, i64, i64),
        out: &mut Vec<(usize, u64)>,
    ) -> Result<()> {
        let m = &self.blocks[i];
        let buf = self.read_ts_frame(i)?;
        let bad = |w| StoreError::corrupt(&self.path, m.data_off, w);
        let (col, _) = super::column::get_frame(&buf).map_err(bad)?;
        super::block::count_ts(&col, m, range, out).map_err(bad)
    }

    /// Reads block `i`'s timestamp frame (still compressed).
    fn read_ts_frame(&self, i: usize) -> Result<Vec<u8>> {
        let m = &self.blocks[i];
        let mut buf = vec![0u8; 8];
        read_at(&self.src, self.bytes, &self.path, &mut buf, m.data_off)?;
        let len = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
        if 8 + len > m.data_len as usize {
            return Err(StoreError::corrupt(
                &self.path,
                m.data_off,
                "timestamp frame past the block",
            ));
        }
        buf.resize(8 + len, 0);
        read_at(
            &self.src,
            self.bytes,
            &self.path,
            &mut buf[8..],
            m.data_off + 8,
        )?;
        Ok(buf)
    }
}

fn read_at(src: &Src, len: u64, path: &Path, buf: &mut [u8], off: u64) -> Result<()> {
    match src {
        Src::File(file) => file
            .read_exact_at(buf, off)
            .map_err(|e| StoreError::io("read", path, e)),
        Src::Remote { remote, key } => remote
            .cache
            .read_at(&*remote.bucket, key, len, buf, off)
            .map_err(|e| remote.err("read", key, e)),
    }
}
