//! Writing real journal files for tests and benchmarks (not a stable API): entries in the
//! journal export format (<https://systemd.io/JOURNAL_EXPORT_FORMATS/>), turned into a
//! `.journal` file by Debian's `systemd-journal-remote` (package `systemd-journal-remote`,
//! installed by `.ci/deps`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One entry to write.
#[derive(Debug, Clone)]
pub struct ExportEntry {
    /// `_SYSTEMD_UNIT`.
    pub unit: String,
    /// `PRIORITY`, when set.
    pub priority: Option<u8>,
    /// `MESSAGE` (any bytes), when set.
    pub message: Option<Vec<u8>>,
    /// `__REALTIME_TIMESTAMP`, µs since the epoch.
    pub realtime_usec: u64,
}

impl ExportEntry {
    /// An entry of `unit` at `realtime_usec`, priority 6 (`info`), with `text` as `MESSAGE`.
    pub fn msg(unit: &str, realtime_usec: u64, text: &str) -> Self {
        Self {
            unit: unit.to_owned(),
            priority: Some(6),
            message: Some(text.as_bytes().to_vec()),
            realtime_usec,
        }
    }
}

/// The boot id every written entry carries.
pub const BOOT_ID: &str = "0123456789abcdef0123456789abcdef";

/// The export format of `entries`: `_BOOT_ID`, a monotonic time, `_PID`, and `MESSAGE` in
/// the binary-safe form.
pub fn export(entries: &[ExportEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        out.extend_from_slice(
            format!(
                "__REALTIME_TIMESTAMP={}\n__MONOTONIC_TIMESTAMP={}\n_BOOT_ID={BOOT_ID}\n\
                 _SYSTEMD_UNIT={}\n_PID=4{i}\n",
                e.realtime_usec,
                1000 + i,
                e.unit
            )
            .as_bytes(),
        );
        if let Some(p) = e.priority {
            out.extend_from_slice(format!("PRIORITY={p}\n").as_bytes());
        }
        if let Some(m) = &e.message {
            out.extend_from_slice(b"MESSAGE\n");
            out.extend_from_slice(&(m.len() as u64).to_le_bytes());
            out.extend_from_slice(m);
            out.push(b'\n');
        }
        out.push(b'\n');
    }
    out
}

/// Where `systemd-journal-remote` is (it is not on `PATH`).
pub fn journal_remote() -> Option<PathBuf> {
    [
        "/lib/systemd/systemd-journal-remote",
        "/usr/lib/systemd/systemd-journal-remote",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// Where `.ci/deps` unpacks bookworm-backports' `systemd-journal-remote` and
/// `libsystemd-shared` (systemd 254; downloaded with apt, not installed): bookworm's
/// systemd 252 compresses with ZSTD only, 254 takes `SYSTEMD_JOURNAL_COMPRESS`.
pub const BACKPORTS_ROOT: &str = "/opt/kelp-test-deps/systemd-backports";

/// How large DATA objects (over 512 bytes) of a written file are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// What `systemd-journal-remote` of the system does (ZSTD on Debian 12).
    Default,
    /// XZ, by systemd 254 from [`BACKPORTS_ROOT`].
    Xz,
    /// LZ4 (systemd 254).
    Lz4,
    /// ZSTD (systemd 254).
    Zstd,
    /// Not compressed (systemd 254).
    None,
}

impl Compression {
    /// The header's incompatible flag of the algorithm (`HEADER_INCOMPATIBLE_COMPRESSED_*`:
    /// XZ 1, LZ4 2, ZSTD 8; 4 is KEYED_HASH, 16 COMPACT).
    pub fn header_flag(self) -> u32 {
        match self {
            Compression::Xz => 1,
            Compression::Lz4 => 2,
            Compression::Zstd | Compression::Default => 8,
            Compression::None => 0,
        }
    }
}

/// Writes `entries` to the journal file `path` (its name must end in `.journal`);
/// `compact: false` writes the older, non-compact layout. The error says what failed.
pub fn write_journal(path: &Path, entries: &[ExportEntry], compact: bool) -> Result<(), String> {
    write_journal_compressed(path, entries, compact, Compression::Default)
}

/// [`write_journal`] with the DATA objects compressed by `compression`.
pub fn write_journal_compressed(
    path: &Path,
    entries: &[ExportEntry],
    compact: bool,
    compression: Compression,
) -> Result<(), String> {
    let mut command = if compression == Compression::Default {
        Command::new(journal_remote().ok_or(
            "systemd-journal-remote is needed: apt-get install systemd-journal-remote (.ci/deps)",
        )?)
    } else {
        let root = Path::new(BACKPORTS_ROOT);
        let tool = root.join("lib/systemd/systemd-journal-remote");
        if !tool.exists() {
            return Err(format!(
                "{} is needed to write {compression:?} journal files: bash .ci/deps unpacks \
                 bookworm-backports' systemd-journal-remote there",
                tool.display()
            ));
        }
        let mut c = Command::new(tool);
        let algorithm = match compression {
            Compression::Xz => "XZ",
            Compression::Lz4 => "LZ4",
            Compression::Zstd => "ZSTD",
            _ => "0",
        };
        c.env("SYSTEMD_JOURNAL_COMPRESS", algorithm).env(
            "LD_LIBRARY_PATH",
            root.join(format!(
                "usr/lib/{}-linux-gnu/systemd",
                std::env::consts::ARCH
            )),
        );
        c
    };
    let mut child = command
        .arg(format!("--output={}", path.display()))
        .arg("-")
        .env("SYSTEMD_JOURNAL_COMPACT", if compact { "1" } else { "0" })
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("systemd-journal-remote: {e}"))?;
    let written = child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(&export(entries));
    let out = child
        .wait_with_output()
        .map_err(|e| format!("systemd-journal-remote: {e}"))?;
    written.map_err(|e| format!("systemd-journal-remote's stdin: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "systemd-journal-remote: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}
