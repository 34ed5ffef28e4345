//! The kubelet's log rotation steps on the filesystem (spec §3.2, `container_log_manager.go`),
//! for one live file `L`:
//!
//! 1. delete leftovers of failed rotations among `L.*`: `*.tmp` files, and uncompressed
//!    files whose `.gz` twin exists;
//! 2. delete the oldest rotated files until at most `max_files - 2` remain;
//! 3. gzip every remaining uncompressed rotated file `X`: write `X.tmp`, rename it to
//!    `X.gz`, delete `X`;
//! 4. rename `L` to `L.<YYYYMMDD-HHMMSS>` (done by [`crate::kubelet`], which then reopens).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use kelp_model::Timestamp;

use crate::SimError;

/// What steps 1–3 did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Prepared {
    /// Rotated files deleted to keep `max_files` (leftovers not counted).
    pub(crate) deleted: u64,
    /// Files compressed.
    pub(crate) gzipped: u64,
}

/// The rotation suffix for time `t`: Go layout `20060102-150405`, in UTC (the kubelet uses
/// its local time zone; a simulated node runs in UTC).
pub(crate) fn stamp(t: Timestamp) -> String {
    let s = t.to_rfc3339_secs(); // 2024-06-01T12:00:00Z
    format!(
        "{}{}{}-{}{}{}",
        &s[0..4],
        &s[5..7],
        &s[8..10],
        &s[11..13],
        &s[14..16],
        &s[17..19]
    )
}

/// `L.<suffix>` next to `L`.
pub(crate) fn sibling(live: &Path, suffix: &str) -> PathBuf {
    let mut name = live.file_name().unwrap_or_default().to_os_string();
    name.push(".");
    name.push(suffix);
    live.with_file_name(name)
}

/// Names of the files `L.*` (the kubelet's glob), sorted: oldest rotation first.
pub(crate) fn rotated_names(live: &Path) -> Result<Vec<String>, SimError> {
    let dir = live.parent().unwrap_or(Path::new("."));
    let prefix = format!(
        "{}.",
        live.file_name().unwrap_or_default().to_string_lossy()
    );
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(SimError::io("read directory", dir))? {
        let entry = entry.map_err(SimError::io("read directory", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Steps 1–3 for live file `live`.
pub(crate) fn prepare(live: &Path, max_files: u32) -> Result<Prepared, SimError> {
    let dir = live.parent().unwrap_or(Path::new("."));
    let names = rotated_names(live)?;
    let mut kept = Vec::new();
    for name in &names {
        let leftover = name.ends_with(".tmp")
            || (!name.ends_with(".gz") && names.contains(&format!("{name}.gz")));
        if leftover {
            remove(&dir.join(name))?;
        } else {
            kept.push(name);
        }
    }
    let mut done = Prepared::default();
    let keep = max_files.saturating_sub(2) as usize;
    let excess = kept.len().saturating_sub(keep);
    for name in kept.drain(..excess) {
        remove(&dir.join(name))?;
        done.deleted += 1;
    }
    for name in kept {
        if !name.ends_with(".gz") {
            gzip(&dir.join(name))?;
            done.gzipped += 1;
        }
    }
    Ok(done)
}

/// Compresses `x` into `x.gz` through `x.tmp` (same mode, default level as Go's
/// `gzip.NewWriter`), then deletes `x`.
pub(crate) fn gzip(x: &Path) -> Result<(), SimError> {
    let tmp = sibling(x, "tmp");
    let gz = sibling(x, "gz");
    let mut input = File::open(x).map_err(SimError::io("open", x))?;
    let mode = input
        .metadata()
        .map_err(SimError::io("stat", x))?
        .permissions()
        .mode();
    let out = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(SimError::io("create", &tmp))?;
    let mut enc = GzEncoder::new(
        BufWriter::with_capacity(256 * 1024, out),
        Compression::default(),
    );
    std::io::copy(&mut input, &mut enc).map_err(SimError::io("gzip", x))?;
    enc.finish()
        .and_then(|mut w| w.flush())
        .map_err(SimError::io("write", &tmp))?;
    std::fs::rename(&tmp, &gz).map_err(SimError::io("rename", &tmp))?;
    remove(x)
}

/// Deletes a file.
pub(crate) fn remove(path: &Path) -> Result<(), SimError> {
    std::fs::remove_file(path).map_err(SimError::io("delete", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn stamp_is_go_layout_in_utc() {
        let t = Timestamp::parse_rfc3339(b"2024-06-01T12:15:30.9Z").unwrap();
        assert_eq!(stamp(t), "20240601-121530");
    }

    #[test]
    fn prepare_cleans_leftovers_trims_to_max_files_and_gzips_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let live = d.join("0.log");
        for (name, body) in [
            ("0.log", "live\n"),
            ("0.log.20240601-120000.gz", "old"),
            ("0.log.20240601-120100.gz", "old"),
            ("0.log.20240601-120200", "half-compressed\n"),
            ("0.log.20240601-120200.gz", "x"),
            ("0.log.20240601-120300.tmp", "x"),
            ("0.log.20240601-120400", "newest\n"),
            ("1.log", "other instance\n"),
            ("10.log.20240601-120000", "other instance\n"),
        ] {
            std::fs::write(d.join(name), body).unwrap();
        }
        std::fs::set_permissions(
            d.join("0.log.20240601-120400"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        // max_files 4: at most 2 rotated files stay before the rename.
        let done = prepare(&live, 4).unwrap();
        assert_eq!(
            done,
            Prepared {
                deleted: 2,
                gzipped: 1
            }
        );
        assert_eq!(
            names(d),
            [
                "0.log",
                "0.log.20240601-120200.gz",
                "0.log.20240601-120400.gz",
                "1.log",
                "10.log.20240601-120000"
            ]
        );
        let gz = d.join("0.log.20240601-120400.gz");
        let mut text = String::new();
        flate2::read::GzDecoder::new(File::open(&gz).unwrap())
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "newest\n");
        assert_eq!(
            std::fs::metadata(&gz).unwrap().permissions().mode() & 0o777,
            0o640
        );
    }

    #[test]
    fn two_files_keep_no_rotated_file_before_the_rename() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("3.log");
        std::fs::write(&live, "x").unwrap();
        std::fs::write(sibling(&live, "20240601-120000"), "y").unwrap();
        assert_eq!(
            prepare(&live, 2).unwrap(),
            Prepared {
                deleted: 1,
                gzipped: 0
            }
        );
        assert_eq!(names(dir.path()), ["3.log"]);
    }
}
