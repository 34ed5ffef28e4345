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

/// Writes `entries` to the journal file `path` (its name must end in `.journal`);
/// `compact: false` writes the older, non-compact layout. The error says what failed.
pub fn write_journal(path: &Path, entries: &[ExportEntry], compact: bool) -> Result<(), String> {
    let tool = journal_remote().ok_or(
        "systemd-journal-remote is needed: apt-get install systemd-journal-remote (.ci/deps)",
    )?;
    let mut child = Command::new(tool)
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
