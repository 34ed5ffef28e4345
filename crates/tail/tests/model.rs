//! Model-based property test: random writer and rotation histories on real files,
//! interleaved with polls; the follower must hand out exactly the lines written.
//!
//! The model is the writer's byte stream: everything it wrote, to whichever file, in order.
//! The follower must hand out that stream cut into lines (and pieces of at most
//! `max_line_bytes`), nothing lost, nothing repeated, nothing reordered, whenever a
//! reader that looks only at the path can know the bytes. The harness keeps to those
//! cases, and each rule names the loss it avoids:
//!
//! 1. Before the path's file is renamed, deleted or truncated, the follower has opened it
//!    (a file created and rotated away between two looks is never seen by a path follower).
//! 2. The writer writes through a descriptor to a rotated or deleted file only while the
//!    follower still holds that file; otherwise it reopens the path first (as a writer told
//!    to reopen does; bytes written to a file nobody reads are lost to every tailer).
//! 3. copytruncate happens only with the follower caught up and the writer quiet, and the
//!    follower looks before the file grows back past its old offset: bytes written between
//!    the copy and the truncate are only in the copy, and a file refilled before the next
//!    look hides its truncation.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use kelp_tail::{FollowConfig, Follower, LineEnd};
use proptest::prelude::*;

use crate::Clock;

#[derive(Debug, Clone)]
enum Op {
    /// The writer writes these bytes.
    Write(Vec<u8>),
    /// The follower is polled, `ms` after the previous poll.
    Poll { ms: u64 },
    /// logrotate without copytruncate: rename the path away; with `create`, create a new
    /// empty file at the path at once. The writer keeps its descriptor.
    Rotate { create: bool },
    /// The writer closes its descriptor and opens the path again (creating it if needed).
    Reopen,
    /// logrotate's copytruncate.
    CopyTruncate,
    /// The path is deleted; the writer keeps its descriptor.
    Delete,
}

fn op() -> impl Strategy<Value = Op> {
    let text = prop::collection::vec(prop::sample::select(&b"ab\n\r"[..]), 0..12);
    prop_oneof![
        6 => text.prop_map(Op::Write),
        4 => (0u64..600).prop_map(|ms| Op::Poll { ms }),
        2 => any::<bool>().prop_map(|create| Op::Rotate { create }),
        1 => Just(Op::Reopen),
        1 => Just(Op::CopyTruncate),
        1 => Just(Op::Delete),
    ]
}

struct Harness {
    dir: PathBuf,
    path: PathBuf,
    rotations: u32,
    writer: Option<(File, u64)>,
    written: Vec<u8>,
    follower: Follower,
    clock: Clock,
    got: Vec<(Vec<u8>, LineEnd)>,
}

fn ino(path: &Path) -> Option<u64> {
    fs::metadata(path).ok().map(|m| m.ino())
}

impl Harness {
    fn followed(&self) -> Option<u64> {
        self.follower.position().map(|p| p.file.ino)
    }

    fn poll(&mut self, ms: u64) {
        let now: Instant = self.clock.advance_ms(ms);
        for _ in 0..100_000 {
            match self.follower.next_line_at(now).unwrap() {
                Some(line) => self.got.push((line.bytes.to_vec(), line.end)),
                None => return,
            }
        }
        panic!("the follower never ran dry");
    }

    /// Rule 1: polls until the follower has the path's file open.
    fn follower_on_path(&mut self) {
        for _ in 0..50 {
            if ino(&self.path).is_none() || ino(&self.path) == self.followed() {
                return;
            }
            self.poll(250);
        }
        panic!("the follower never opened the path's file");
    }

    fn open_writer(&mut self) {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .unwrap();
        let ino = f.metadata().unwrap().ino();
        self.writer = Some((f, ino));
    }

    fn apply(&mut self, op: &Op) {
        match op {
            Op::Write(bytes) => {
                let stale = match &self.writer {
                    None => true,
                    // Rule 2.
                    Some((_, w)) => Some(*w) != ino(&self.path) && Some(*w) != self.followed(),
                };
                if stale {
                    self.open_writer();
                }
                if let Some((f, _)) = &mut self.writer {
                    f.write_all(bytes).unwrap();
                    self.written.extend_from_slice(bytes);
                }
            }
            Op::Poll { ms } => self.poll(*ms),
            Op::Reopen => self.open_writer(),
            Op::Rotate { create } => {
                if ino(&self.path).is_none() {
                    return;
                }
                self.follower_on_path();
                self.rotations += 1;
                let to = self.dir.join(format!("app.log.{}", self.rotations));
                fs::rename(&self.path, to).unwrap();
                if *create {
                    File::create(&self.path).unwrap();
                }
            }
            Op::CopyTruncate => {
                if ino(&self.path).is_none() {
                    return;
                }
                // Rule 3: caught up (several polls: a rotated file may still be held).
                self.follower_on_path();
                self.poll(0);
                self.rotations += 1;
                fs::copy(
                    &self.path,
                    self.dir.join(format!("app.log.{}", self.rotations)),
                )
                .unwrap();
                File::options()
                    .write(true)
                    .open(&self.path)
                    .unwrap()
                    .set_len(0)
                    .unwrap();
                self.poll(0);
            }
            Op::Delete => {
                if ino(&self.path).is_none() {
                    return;
                }
                self.follower_on_path();
                fs::remove_file(&self.path).unwrap();
            }
        }
    }

    /// Polls until everything written has been read, then takes the unterminated rest.
    fn finish(&mut self) {
        for _ in 0..10 {
            self.poll(5000);
        }
        while let Some(line) = self.follower.flush_partial() {
            self.got.push((line.bytes.to_vec(), line.end));
        }
    }
}

/// The written stream cut as the follower must cut it.
fn expected(written: &[u8], max: usize) -> Vec<(Vec<u8>, LineEnd)> {
    let mut out = Vec::new();
    let mut pieces = |line: &[u8], last_end: LineEnd| {
        let mut rest = line;
        while rest.len() > max {
            out.push((rest[..max].to_vec(), LineEnd::Split));
            rest = &rest[max..];
        }
        out.push((rest.to_vec(), last_end));
    };
    let mut parts = written.split(|b| *b == b'\n').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_some() {
            pieces(part, LineEnd::Newline);
        } else if !part.is_empty() {
            pieces(part, LineEnd::Unterminated);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn hands_out_exactly_the_lines_written(
        ops in prop::collection::vec(op(), 0..40),
        max_line_bytes in prop::sample::select(vec![3u64, 7, 1024]),
        rotate_wait_ms in prop::sample::select(vec![0u64, 300, 1000]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let config = FollowConfig { max_line_bytes, rotate_wait_ms, ..FollowConfig::default() };
        let mut h = Harness {
            dir: dir.path().to_owned(),
            follower: Follower::new(&path, &config).unwrap(),
            path,
            rotations: 0,
            writer: None,
            written: Vec::new(),
            clock: Clock::start(),
            got: Vec::new(),
        };
        for op in &ops {
            h.apply(op);
        }
        h.finish();
        let want = expected(&h.written, max_line_bytes as usize);
        prop_assert_eq!(h.got, want);
    }
}

#[test]
fn the_expectation_cuts_like_the_follower() {
    let e = expected(b"abcdefg\n\nab", 3);
    let want: Vec<(Vec<u8>, LineEnd)> = vec![
        (b"abc".to_vec(), LineEnd::Split),
        (b"def".to_vec(), LineEnd::Split),
        (b"g".to_vec(), LineEnd::Newline),
        (b"".to_vec(), LineEnd::Newline),
        (b"ab".to_vec(), LineEnd::Unterminated),
    ];
    assert_eq!(e, want);
}
