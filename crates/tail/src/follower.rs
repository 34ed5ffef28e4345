//! Following one path through appends, rotation, truncation and deletion.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::change::{detect, release_rotated, Change, FileId, PathStat, Tracked};
use crate::config::{FollowConfig, Settings, StartAt};
use crate::error::TailError;
use crate::lines::{Line, LineBuf};

/// How many reads and looks one [`Follower::next_line_at`] call may make before it returns
/// `None`, so a file whose size lies (as some virtual files' do) cannot make it spin.
const MAX_STEPS: usize = 64;

/// Follows one path, as `tail -F` does, and hands out its lines.
///
/// It reads the file by its open descriptor at an explicit offset ([`Follower::position`]),
/// and whenever it has read to the end it looks at the path ([`crate::change::detect`]):
///
/// - **Appends** are read.
/// - **Rename rotation** (the path names another file, or nothing): the open file is read
///   to its end and kept open for [`FollowConfig::rotate_wait_ms`] after its last byte, for
///   writers that still write through their old descriptor; then the follower moves to the
///   file the path names, from offset 0, or waits for one to appear. No line is lost or
///   repeated at the switch.
/// - **Deletion** is handled as a rename to nowhere: drain, let go, wait for the path.
/// - **Truncation in place** (`copytruncate`): the same file is read again from offset 0.
///   Bytes the writer added between logrotate's copy and its truncate are in the copy only,
///   and are lost to every reader of the path, as logrotate's own documentation warns. The
///   follower sees the truncation only if the file is still shorter than the read position
///   when it looks: if the writer refills it past that point in between, the truncation goes
///   unnoticed and the follower carries on from its old offset.
/// - **A path that does not exist yet** is waited for.
///
/// The bytes of a line not yet ended by `\n` wait for the rest, even across a rotation or
/// truncation, because the rest comes from the same writer (containerd, for one, ends the
/// old file with the start of a line and writes the rest to the new one). With
/// [`FollowConfig::partial_flush_ms`] set they come out on their own once the data has been
/// idle that long; [`Follower::flush_partial`] hands them out on demand.
///
/// It does no I/O until asked for a line and never blocks: it polls. Call
/// [`Follower::next_line`] until it returns `None`, then wait a little (a poll interval)
/// and call it again. At most one file is open at a time and memory is bounded by
/// [`FollowConfig::max_line_bytes`] plus one 64 KiB read.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    settings: Settings,
    open: Option<OpenFile>,
    lines: LineBuf,
    /// Whether the follower has not looked at the path yet: [`StartAt::End`] applies to the
    /// file found at the first look only.
    first_look: bool,
    /// When a byte was last read, from any file: the partial-flush clock.
    last_data: Option<Instant>,
}

/// The file a follower has open.
#[derive(Debug)]
struct OpenFile {
    file: File,
    id: FileId,
    offset: u64,
    /// When it was opened or a byte was last read from it.
    last_data: Instant,
    /// When the follower first saw that the path no longer names it.
    rotated_at: Option<Instant>,
}

/// Where a follower is in the file it has open: what a checkpoint would record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Position {
    /// The open file. After a rename rotation it may no longer be the one the path names.
    pub file: FileId,
    /// The read position: the offset of the next byte to read.
    pub offset: u64,
    /// The offset just past the last byte of this file handed out in a line: the bytes
    /// between it and `offset` wait in the follower for their `\n`. Restarting from here
    /// repeats nothing; it is 0 while the line waiting began in the previous file.
    pub consumed: u64,
}

/// What one step of reading or looking achieved.
enum Step {
    /// Bytes were read, or the state changed: look for a line, then step again.
    Progress,
    /// Nothing more to read for now.
    Idle,
}

impl Follower {
    /// A follower of `path` (which need not exist yet). It checks `config` and touches no
    /// file until the first [`Follower::next_line`].
    pub fn new(path: impl Into<PathBuf>, config: &FollowConfig) -> Result<Self, TailError> {
        let settings = config.validate()?;
        Ok(Self {
            path: path.into(),
            lines: LineBuf::new(settings.max_line_bytes),
            settings,
            open: None,
            first_look: true,
            last_data: None,
        })
    }

    /// The followed path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the follower is in its open file, or `None` when it has none open.
    pub fn position(&self) -> Option<Position> {
        self.open.as_ref().map(|o| Position {
            file: o.id,
            offset: o.offset,
            consumed: o.offset.saturating_sub(self.lines.pending() as u64),
        })
    }

    /// The next line, or `None` when there is none for now; see
    /// [`Follower::next_line_at`]. Uses the current time.
    pub fn next_line(&mut self) -> Result<Option<Line<'_>>, TailError> {
        self.next_line_at(Instant::now())
    }

    /// The next line, reading, looking at the path and following rotations as needed, with
    /// `now` as the current time (for the rotate wait and the partial-flush timeout; tests
    /// pass their own clock). `None` means there is nothing to hand out now: poll again
    /// later. An error leaves the follower usable: it looks again on the next call.
    pub fn next_line_at(&mut self, now: Instant) -> Result<Option<Line<'_>>, TailError> {
        let mut ready = self.lines.find();
        let mut steps = 0;
        while ready.is_none() && steps < MAX_STEPS {
            steps += 1;
            match self.step(now)? {
                Step::Progress => ready = self.lines.find(),
                Step::Idle => break,
            }
        }
        if let Some((len, end)) = ready {
            return Ok(Some(self.lines.take(len, end)));
        }
        let flush = match (self.settings.partial_flush, self.last_data) {
            (Some(wait), Some(last)) => now.saturating_duration_since(last) >= wait,
            _ => false,
        };
        Ok(if flush {
            self.lines.take_partial()
        } else {
            None
        })
    }

    /// Hands out the bytes waiting for a `\n`, marked
    /// [`LineEnd::Unterminated`](crate::LineEnd::Unterminated), or `None` if there are none.
    /// For shutdown: read until [`Follower::next_line`] returns `None`, then call this.
    /// Following can go on afterwards; later bytes start a new line.
    pub fn flush_partial(&mut self) -> Option<Line<'_>> {
        self.lines.take_partial()
    }

    /// Reads once from the open file or, at its end, looks at the path and acts on what
    /// changed.
    fn step(&mut self, now: Instant) -> Result<Step, TailError> {
        let Some(open) = self.open.as_mut() else {
            let path = PathStat::of(&self.path).map_err(|e| stat_error(&self.path, e))?;
            return self.open_path(path, now);
        };
        let (file, offset) = (&open.file, open.offset);
        let n = match self.lines.read_with(|buf| file.read_at(buf, offset)) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Step::Progress),
            Err(source) => {
                return Err(TailError::Read {
                    path: self.path.clone(),
                    offset,
                    source,
                })
            }
        };
        if n > 0 {
            open.offset += n as u64;
            open.last_data = now;
            self.last_data = Some(now);
            return Ok(Step::Progress);
        }
        let len = match open.file.metadata() {
            Ok(meta) => meta.len(),
            Err(source) => return Err(stat_error(&self.path, source)),
        };
        let path = match PathStat::of(&self.path) {
            Ok(path) => path,
            Err(source) => return Err(stat_error(&self.path, source)),
        };
        let tracked = Tracked {
            id: open.id,
            offset: open.offset,
            len,
        };
        match detect(tracked, path) {
            Change::Grew => Ok(Step::Progress),
            Change::Idle => Ok(Step::Idle),
            Change::Truncated => {
                open.offset = 0;
                Ok(Step::Progress)
            }
            Change::Rotated => {
                let rotated_at = *open.rotated_at.get_or_insert(now);
                let wait = self.settings.rotate_wait;
                if !release_rotated(rotated_at, open.last_data, now, wait) {
                    return Ok(Step::Idle);
                }
                self.open = None;
                self.open_path(path, now)
            }
        }
    }

    /// With no file open, follows what the path names: opens a regular file, waits for a
    /// missing one, fails on anything else.
    fn open_path(&mut self, path: PathStat, now: Instant) -> Result<Step, TailError> {
        let first_look = std::mem::replace(&mut self.first_look, false);
        match path {
            PathStat::Missing => Ok(Step::Idle),
            PathStat::NotAFile { kind } => Err(self.not_a_file(kind)),
            PathStat::File { .. } => {
                let file = match File::open(&self.path) {
                    Ok(file) => file,
                    // Gone between the stat and the open: look again next time.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Step::Idle),
                    Err(source) => {
                        return Err(TailError::Open {
                            path: self.path.clone(),
                            source,
                        })
                    }
                };
                // The descriptor is the truth: the path may have changed since the stat.
                let meta = file.metadata().map_err(|e| stat_error(&self.path, e))?;
                let (id, len) = match PathStat::from_metadata(&meta) {
                    PathStat::File { id, len } => (id, len),
                    PathStat::NotAFile { kind } => return Err(self.not_a_file(kind)),
                    PathStat::Missing => return Ok(Step::Idle),
                };
                let at_end = first_look && self.settings.start == StartAt::End;
                self.open = Some(OpenFile {
                    file,
                    id,
                    offset: if at_end { len } else { 0 },
                    last_data: now,
                    rotated_at: None,
                });
                Ok(Step::Progress)
            }
        }
    }

    fn not_a_file(&self, kind: &'static str) -> TailError {
        TailError::NotAFile {
            path: self.path.clone(),
            kind,
        }
    }
}

fn stat_error(path: &Path, source: io::Error) -> TailError {
    TailError::Stat {
        path: path.to_owned(),
        source,
    }
}
