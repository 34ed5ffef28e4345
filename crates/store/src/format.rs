//! Every file name, magic number, limit and version of the on-disk format, in one place.
//!
//! The byte-by-byte description lives in `docs/format/` at the repository root. Changing
//! anything here that changes bytes on disk is a format change: bump [`FORMAT_VERSION`] and
//! check in files written by the new version under `tests/data/`.

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Magic of write-ahead-log files (first 8 bytes).
pub const WAL_MAGIC: [u8; 8] = *b"KELPWAL\0";
/// Magic of segment files (in the header and the trailer).
pub const SEGMENT_MAGIC: [u8; 8] = *b"KELPSEG\0";
/// Magic of partition label-index files.
pub const INDEX_MAGIC: [u8; 8] = *b"KELPIDX\0";
/// Magic of the manifest.
pub const MANIFEST_MAGIC: [u8; 8] = *b"KELPMAN\0";

/// Length of every file header: magic (8), version (u32 LE), reserved (u32 LE, zero).
pub const HEADER_LEN: usize = 16;
/// Length of every trailer: meta offset (u64), meta length (u64), meta crc32c (u32),
/// version (u32), magic (8).
pub const TRAILER_LEN: usize = 32;
/// Length of a WAL record header: payload length (u32 LE) and crc32c of the payload (u32 LE).
pub const WAL_RECORD_HEADER_LEN: usize = 8;
/// The largest WAL record payload; a longer length field is treated as corruption.
pub const WAL_MAX_RECORD_BYTES: usize = 256 << 20;
/// WAL record kind: one appended batch.
pub const WAL_RECORD_BATCH: u8 = 1;

/// Directory of the write-ahead log, under the store root.
pub const WAL_DIR: &str = "wal";
/// Extension of WAL files; the stem is the file number, 20 decimal digits.
pub const WAL_EXT: &str = "wal";
/// Directory of tenants, under the store root: `tenants/<tenant>/<YYYY-MM-DD>/`.
pub const TENANTS_DIR: &str = "tenants";
/// The manifest, under the store root.
pub const MANIFEST_FILE: &str = "MANIFEST";
/// Suffix of a state file being written, before its atomic rename.
pub const TMP_SUFFIX: &str = ".tmp";
/// Extension of segment files; the stem is `seg-` and the file id in 16 hex digits.
pub const SEGMENT_EXT: &str = "kseg";
/// Extension of label-index files; the stem is `index-` and the file id in 16 hex digits.
pub const INDEX_EXT: &str = "kidx";

/// Nanoseconds in a day partition (days are UTC).
pub const DAY_NANOS: i64 = 86_400_000_000_000;

/// Block frames, in their order inside a block.
pub const BLOCK_FRAMES: usize = 5;
/// Lines between two digit checkpoints in a block's optional sixth frame: the nibble
/// offset of lines 0, `DIGIT_CHECKPOINT`, 2 × `DIGIT_CHECKPOINT`, ... as u32 LE, so a
/// reader rebuilding one line steps over at most this many templates to find its digits.
/// Blocks without the frame (written before it existed) are read by stepping over every
/// template before the line.
pub const DIGIT_CHECKPOINT: usize = 64;
/// Marker byte in a line template: followed by a run length (1..=255: that many digits
/// come from the digits column) or 0 (a literal marker byte).
pub const TEMPLATE_MARKER: u8 = 0x01;
/// Length of one block-index entry in a segment.
pub const BLOCK_META_LEN: usize = 64;

/// Tokenizer version: bumps whenever tokenization changes (it is part of the format).
pub const TOKENIZER_VERSION: u32 = 1;
/// Length of the n-grams put in blooms.
pub const GRAM_LEN: usize = 4;
/// Bloom bits per distinct gram.
pub const BLOOM_BITS_PER_KEY: usize = 8;
/// Bloom probes per gram.
pub const BLOOM_HASHES: u32 = 4;
/// Seed of the gram hash (XXH3-64 of the 4 gram bytes, this seed).
pub const BLOOM_SEED: u64 = 0x6b65_6c70_626c_6f6d;

/// File name of segment `id`.
pub fn segment_file(id: u64) -> String {
    format!("seg-{id:016x}.{SEGMENT_EXT}")
}

/// File name of label index `id`.
pub fn index_file(id: u64) -> String {
    format!("index-{id:016x}.{INDEX_EXT}")
}

/// File name of WAL file number `n`.
pub fn wal_file(n: u64) -> String {
    format!("{n:020}.{WAL_EXT}")
}

/// The WAL file number in `name`, if it is a WAL file name.
pub fn parse_wal_file(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(WAL_EXT)?.strip_suffix('.')?;
    (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
        .then(|| stem.parse().ok())
        .flatten()
}

/// The day number (days since 1970-01-01 UTC) of a timestamp in nanoseconds.
pub fn day_of(ts: i64) -> i32 {
    // i64::MIN / DAY_NANOS fits an i32 (about ±106,751 days).
    ts.div_euclid(DAY_NANOS) as i32
}

/// The partition directory name of `day`: `YYYY-MM-DD`.
pub fn day_dir(day: i32) -> String {
    let t = kelp_model::Timestamp::from_unix_nanos(i64::from(day) * DAY_NANOS);
    let s = t.to_rfc3339_secs();
    s.get(..10).unwrap_or(&s).to_owned()
}

/// Top folder of a bucket's objects (under the configured prefix):
/// `replicas/<replica>/MANIFEST` and `replicas/<replica>/tenants/<tenant>/<YYYY-MM-DD>/`
/// with the same segment and index file names as on local disk.
pub const BUCKET_REPLICAS_DIR: &str = "replicas";
