//! Every file name, magic number and limit of the series store, and the byte layout of
//! its files (little-endian throughout).
//!
//! ```text
//! <dir>/wal-<n:020>.log       samples accepted since the last cut (one record per push)
//! <dir>/chunks-<day:08>.kch   compressed chunks flushed on UTC day <day> (days since 1970)
//! <dir>/labels.log            series labels (a pod's Kubernetes labels), the last change wins
//! ```
//!
//! All three are *record files*: a 16-byte header, then records, appended and fsynced:
//!
//! ```text
//! header:  magic [8] ("KELPRWAL", "KELPRCHK" or "KELPRLBL") | version u32 | reserved u32 (0)
//! record:  len u32 | crc32c(payload) u32 | payload [len]
//! ```
//!
//! A record whose length runs past the end or whose checksum does not match ends the file
//! (a torn write at a crash): recovery truncates it there.
//!
//! Payloads (`varint` is unsigned LEB128, `zigzag` maps i64 to u64 as protobuf does,
//! a *string* is `varint len | bytes`):
//!
//! ```text
//! key:          kind u8 (0 node, 1 pod, 2 container) | tenant | node | namespace | pod | container (strings)
//! WAL record:   varint count | count × (key | zigzag t | varint cpu_ns | varint memory)
//! chunk record: key | t_min i64 | t_max i64 | n u32 | chunk bytes (to the end of the payload)
//! label record: varint count | count × (key | varint n | n × (name | value strings))
//! ```
//!
//! A label record with `n = 0` clears the series' labels. `labels.log` is rewritten with
//! one record of the live labels at every cut (`labels.log.tmp`, fsync, rename); a store
//! without the file (written before labels existed) opens with no labels.
//!
//! Chunk bytes ([`crate::codec`]): the first sample as `zigzag t | varint cpu | varint mem`,
//! then per sample three *scaled deltas*: the timestamp's delta of delta (unit 1 ms), the
//! CPU counter's delta of delta (unit 1 µs) and the working set's delta (unit 4 KiB page);
//! the first deltas of a chunk count from 0. A scaled
//! delta `d` with unit `u` is `varint((zigzag(d / u) << 1) | 0)` when `u` divides `d`, else
//! `varint((zigzag(d) << 1) | 1)`, as a 128-bit varint: exact for every value, one to three
//! bytes for usual ones.

/// Version of both file kinds.
pub const FORMAT_VERSION: u32 = 1;
/// Magic of WAL files.
pub const WAL_MAGIC: [u8; 8] = *b"KELPRWAL";
/// Magic of chunk files.
pub const CHUNK_MAGIC: [u8; 8] = *b"KELPRCHK";
/// Magic of the labels file.
pub const LABELS_MAGIC: [u8; 8] = *b"KELPRLBL";
/// The labels file's name.
pub const LABELS_FILE: &str = "labels.log";
/// Header length of record files.
pub const HEADER_LEN: u64 = 16;
/// Record header: length and checksum.
pub const RECORD_HEADER_LEN: usize = 8;
/// The largest record a reader accepts.
pub const MAX_RECORD_BYTES: usize = 64 << 20;
/// Extension of WAL files.
pub const WAL_EXT: &str = "log";
/// Extension of chunk files.
pub const CHUNK_EXT: &str = "kch";
/// Nanoseconds per UTC day.
pub const DAY_NANOS: i64 = 86_400_000_000_000;
/// Timestamp unit of the chunk codec's deltas.
pub const T_UNIT: i64 = 1_000_000;
/// CPU unit of the chunk codec's deltas.
pub const CPU_UNIT: i64 = 1_000;
/// Memory unit of the chunk codec's deltas.
pub const MEM_UNIT: i64 = 4_096;

/// A WAL file's name.
pub fn wal_name(n: u64) -> String {
    format!("wal-{n:020}.{WAL_EXT}")
}

/// A chunk file's name.
pub fn chunk_name(day: i64) -> String {
    format!("chunks-{day:08}.{CHUNK_EXT}")
}

/// The number of a WAL file's name.
pub fn parse_wal_name(name: &str) -> Option<u64> {
    name.strip_prefix("wal-")?
        .strip_suffix(&format!(".{WAL_EXT}"))?
        .parse()
        .ok()
}

/// The day of a chunk file's name.
pub fn parse_chunk_name(name: &str) -> Option<i64> {
    name.strip_prefix("chunks-")?
        .strip_suffix(&format!(".{CHUNK_EXT}"))?
        .parse()
        .ok()
}
