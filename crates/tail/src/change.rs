//! What changed around a followed path, decided without I/O.
//!
//! A [`Follower`](crate::Follower) reads its open file to the end, then looks: it `fstat`s
//! the open descriptor and `stat`s the path, and [`detect`] turns those two facts into a
//! [`Change`]. The follower carries the change out. Keeping the decision a pure function
//! lets it be tested by table, and lets another source of facts (inotify) drive it later.

use std::fs::Metadata;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::time::{Duration, Instant};

/// A file's identity on this machine: device and inode numbers, as `stat` reports them.
/// A rename keeps it; a new file at the same path gets another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileId {
    /// The device (`st_dev`).
    pub dev: u64,
    /// The inode (`st_ino`).
    pub ino: u64,
}

impl FileId {
    /// The identity of the file `meta` describes.
    pub fn of(meta: &Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// What a path names now, as `stat` (following symlinks) sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathStat {
    /// Nothing: the path, or a directory on it, does not exist.
    Missing,
    /// A regular file.
    File {
        /// Its identity.
        id: FileId,
        /// Its size in bytes.
        len: u64,
    },
    /// Something else, named as [`TailError::NotAFile`](crate::TailError::NotAFile) names it.
    NotAFile {
        /// `directory`, `fifo`, `socket`, `block device`, `character device` or
        /// `special file`.
        kind: &'static str,
    },
}

impl PathStat {
    /// `stat`s `path`. A path that does not exist is [`PathStat::Missing`], not an error.
    pub fn of(path: &Path) -> io::Result<Self> {
        match std::fs::metadata(path) {
            Ok(meta) => Ok(Self::from_metadata(&meta)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Self::Missing),
            Err(e) => Err(e),
        }
    }

    /// What `meta` describes.
    pub fn from_metadata(meta: &Metadata) -> Self {
        let t = meta.file_type();
        let kind = if t.is_file() {
            return Self::File {
                id: FileId::of(meta),
                len: meta.len(),
            };
        } else if t.is_dir() {
            "directory"
        } else if t.is_fifo() {
            "fifo"
        } else if t.is_socket() {
            "socket"
        } else if t.is_block_device() {
            "block device"
        } else if t.is_char_device() {
            "character device"
        } else {
            "special file"
        };
        Self::NotAFile { kind }
    }
}

/// The file a follower has open, as it knows it after reading to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tracked {
    /// Its identity.
    pub id: FileId,
    /// The read position: the next byte to read.
    pub offset: u64,
    /// Its size now, from `fstat` on the open descriptor.
    pub len: u64,
}

/// What to do after a look, as [`detect`] decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Change {
    /// The open file has bytes past the read position: read them. This comes first
    /// whatever the path names now, so a renamed or deleted file is drained before
    /// anything else happens.
    Grew,
    /// Nothing to do: the path still names the open file, which is read to its end.
    Idle,
    /// The path still names the open file but it is now shorter than the read position:
    /// it was truncated in place (logrotate's `copytruncate`, conmon's `log_size_max`).
    /// Read it again from offset 0.
    Truncated,
    /// The path no longer names the open file, which is read to its end: it was renamed
    /// (rotated) or deleted, and the path may name a new file or nothing. Keep reading the
    /// open file until [`release_rotated`] says it is done, then let it go and follow
    /// whatever the path names then (from offset 0), or wait for it to appear.
    Rotated,
}

/// Decides what to do with the open file, from what is known of it and what the path names
/// now. (With no file open there is nothing to decide: open the path if it is a regular
/// file, wait while it is missing, fail if it is something else.)
pub fn detect(open: Tracked, path: PathStat) -> Change {
    if open.len > open.offset {
        return Change::Grew;
    }
    match path {
        PathStat::File { id, .. } if id == open.id => {
            if open.len < open.offset {
                Change::Truncated
            } else {
                Change::Idle
            }
        }
        _ => Change::Rotated,
    }
}

/// Whether a rotated-away file can be let go: it has given no new byte for `wait`, counted
/// from the later of `rotated_at` (when the follower first saw [`Change::Rotated`]) and
/// `last_data` (when it last read a byte from it).
pub fn release_rotated(
    rotated_at: Instant,
    last_data: Instant,
    now: Instant,
    wait: Duration,
) -> bool {
    now.saturating_duration_since(rotated_at.max(last_data)) >= wait
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: FileId = FileId { dev: 1, ino: 10 };
    const B: FileId = FileId { dev: 1, ino: 11 };
    const A_OTHER_DEV: FileId = FileId { dev: 2, ino: 10 };

    fn open(offset: u64, len: u64) -> Tracked {
        Tracked { id: A, offset, len }
    }

    fn file(id: FileId, len: u64) -> PathStat {
        PathStat::File { id, len }
    }

    #[test]
    fn table() {
        let dir = PathStat::NotAFile { kind: "directory" };
        let table: &[(Tracked, PathStat, Change, &str)] = &[
            (open(5, 5), file(A, 5), Change::Idle, "read to the end"),
            (open(5, 8), file(A, 8), Change::Grew, "appended"),
            (open(5, 2), file(A, 2), Change::Truncated, "copytruncate"),
            (
                open(5, 0),
                file(A, 0),
                Change::Truncated,
                "truncated to zero",
            ),
            (open(5, 5), file(B, 0), Change::Rotated, "renamed, new file"),
            (
                open(5, 5),
                file(B, 7),
                Change::Rotated,
                "renamed, new file with data",
            ),
            (
                open(5, 5),
                PathStat::Missing,
                Change::Rotated,
                "renamed or deleted",
            ),
            (open(5, 5), dir, Change::Rotated, "replaced by a directory"),
            (
                open(5, 5),
                file(A_OTHER_DEV, 5),
                Change::Rotated,
                "same inode, other device",
            ),
            (
                open(5, 9),
                file(B, 0),
                Change::Grew,
                "renamed, old fd written: drain",
            ),
            (
                open(5, 9),
                PathStat::Missing,
                Change::Grew,
                "deleted but written: drain",
            ),
            (
                open(5, 2),
                file(B, 0),
                Change::Rotated,
                "renamed then truncated: move on",
            ),
        ];
        for (tracked, path, want, why) in table {
            assert_eq!(detect(*tracked, *path), *want, "{why}");
        }
    }

    #[test]
    fn rotated_files_are_let_go_after_a_quiet_wait() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let wait = s(1);
        // Idle for an hour before the rotation: the wait still counts from the rotation.
        assert!(!release_rotated(t0 + s(3600), t0, t0 + s(3600), wait));
        assert!(release_rotated(t0 + s(3600), t0, t0 + s(3601), wait));
        // Data after the rotation restarts the wait.
        assert!(!release_rotated(t0, t0 + s(5), t0 + s(5), wait));
        assert!(release_rotated(t0, t0 + s(5), t0 + s(6), wait));
        // A zero wait lets go at once.
        assert!(release_rotated(t0, t0, t0, Duration::ZERO));
    }

    #[test]
    fn stats_real_paths() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        assert_eq!(PathStat::of(&f).unwrap(), PathStat::Missing);
        assert_eq!(
            PathStat::of(&dir.path().join("no/such")).unwrap(),
            PathStat::Missing
        );
        std::fs::write(&f, b"abc").unwrap();
        assert!(matches!(
            PathStat::of(&f).unwrap(),
            PathStat::File { len: 3, .. }
        ));
        assert_eq!(
            PathStat::of(dir.path()).unwrap(),
            PathStat::NotAFile { kind: "directory" }
        );
    }
}
