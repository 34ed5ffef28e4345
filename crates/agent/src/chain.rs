//! One container log and its rotations: a queue of open descriptors read in order,
//! decoded (CRI, or docker json-file when a file starts with `{`) and joined, with the
//! resume point a checkpoint needs.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flate2::read::MultiGzDecoder;
use kelp_k8s::cri::CriRecord;
use kelp_k8s::join::{Joiner, JoinerConfig, LogicalLine};
use kelp_k8s::{cri, docker, Stream};
use kelp_tail::change::{FileId, PathStat};

use crate::checkpoint::{Mark, HEAD_BYTES};

/// Bytes read per call.
const CHUNK: usize = 64 * 1024;
/// Reads per poll of one chain, so one busy container cannot starve the others.
const READS_PER_POLL: usize = 16;
/// Records longer than this without a `\n` are cut (containerd writes at most 16 KiB of
/// content per record, so this never happens on a healthy node).
const MAX_RECORD: usize = 1 << 20;

enum Reader {
    Plain(File),
    Gz(Box<MultiGzDecoder<File>>),
}

/// One open file of the chain.
struct Source {
    reader: Reader,
    id: FileId,
    head: Vec<u8>,
    /// Uncompressed bytes read so far: the offset of the next byte.
    offset: u64,
    last_data: Instant,
    name: PathBuf,
}

impl Source {
    fn open(path: &Path, now: Instant) -> io::Result<Self> {
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
        })
    }

    fn is_gz(&self) -> bool {
        matches!(self.reader, Reader::Gz(_))
    }

    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
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
    fn skip_to(&mut self, offset: u64) -> io::Result<()> {
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
    fn matches(&self, mark: &Mark) -> bool {
        let same_inode = self.id.dev == mark.dev && self.id.ino == mark.ino;
        if mark.head.is_empty() {
            return same_inode && !self.is_gz();
        }
        self.head.starts_with(&mark.head) && (same_inode || self.is_gz())
    }

    fn mark(&self, offset: u64) -> Mark {
        Mark {
            dev: self.id.dev,
            ino: self.id.ino,
            head: self.head.clone(),
            offset,
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
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

fn read_full_at(f: &File, buf: &mut [u8]) -> io::Result<usize> {
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

/// What a chain hands out: one logical line (or piece).
pub(crate) struct Out<'a> {
    pub(crate) line: LogicalLine<'a>,
    /// Where the line's first record begins.
    pub(crate) start: LineStart<'a>,
}

/// Where a line's first record begins: reading again from there reproduces the line. Cheap
/// to hand out; [`LineStart::to_mark`] builds the owned [`Mark`] only when one is kept.
#[derive(Clone, Copy)]
pub(crate) struct LineStart<'a> {
    /// The record's sequence number in the chain: lower began earlier.
    pub(crate) seq: u64,
    at: At<'a>,
}

#[derive(Clone, Copy)]
enum At<'a> {
    Offset(&'a Source, u64),
    Mark(&'a Mark),
}

impl LineStart<'_> {
    /// The resume point of this line.
    pub(crate) fn to_mark(self) -> Mark {
        match self.at {
            At::Offset(source, offset) => source.mark(offset),
            At::Mark(m) => m.clone(),
        }
    }
}

/// How a file's records are encoded, told by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// `<time> <stream> <tag> <content>` (containerd, CRI-O).
    Cri,
    /// `{"log":"…","stream":"…","time":"…"}` (docker's json-file, through cri-dockerd).
    Docker,
}

impl Format {
    /// A docker json-file line starts with `{`; a CRI record with a digit.
    fn of(first_byte: Option<u8>) -> Self {
        if first_byte == Some(b'{') {
            Format::Docker
        } else {
            Format::Cri
        }
    }
}

/// Timing of a chain.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChainTiming {
    /// How long a drained file whose path names a newer file is kept for late writes.
    pub(crate) rotate_wait: Duration,
}

/// One container instance's log: `N.log` and its rotations.
pub(crate) struct Chain {
    live: PathBuf,
    sources: VecDeque<Source>,
    /// Bytes of the front source read but not yet cut into records.
    buf: Vec<u8>,
    joiner: Joiner,
    /// Per stream (stdout, stderr): where the line waiting for its end (a CRI `F`, a
    /// docker `log` ending in `\n`) began, with its record's sequence number.
    waiting: [Option<(u64, Mark)>; 2],
    /// The sequence number of the next record cut.
    seq: u64,
    /// The last mark handed to a batch.
    pub(crate) sent: Option<Mark>,
    /// Records that did not parse.
    pub(crate) bad_records: u64,
    timing: ChainTiming,
}

impl Chain {
    /// A chain of `live` whose rotated files are `rotated` (any order). With `resume`, it
    /// starts at that checkpoint when one of the files is the checkpointed one; otherwise
    /// (and when the file is gone) at the oldest file's beginning.
    pub(crate) fn open(
        live: PathBuf,
        rotated: &[PathBuf],
        resume: Option<&Mark>,
        timing: ChainTiming,
        now: Instant,
    ) -> Self {
        let mut chain = Self {
            live,
            sources: VecDeque::new(),
            buf: Vec::new(),
            joiner: Joiner::new(JoinerConfig {
                max_line_bytes: 256 * 1024,
                partial_timeout: Duration::from_secs(3600),
            }),
            waiting: [None, None],
            seq: 0,
            sent: resume.cloned(),
            bad_records: 0,
            timing,
        };
        for path in ordered(rotated) {
            let opened = Source::open(&path, now).or_else(|e| {
                // Compressed between the listing and the open.
                let mut gz = path.clone().into_os_string();
                gz.push(".gz");
                if e.kind() == io::ErrorKind::NotFound && path.extension().is_none_or(|x| x != "gz")
                {
                    Source::open(Path::new(&gz), now)
                } else {
                    Err(e)
                }
            });
            if let Ok(s) = opened {
                chain.queue(s);
            }
        }
        chain.refresh(now);
        if let Some(mark) = resume {
            if let Some(i) = chain.sources.iter().position(|s| s.matches(mark)) {
                chain.sources.drain(..i);
                let ok = chain.sources[0].skip_to(mark.offset).is_ok();
                if !ok {
                    tracing::warn!(path = %chain.live.display(), "cannot resume; rereading");
                }
            } else {
                tracing::warn!(path = %chain.live.display(), "checkpointed file gone; reading all files");
            }
        }
        chain
    }

    fn queue(&mut self, s: Source) {
        self.sources.push_back(s);
    }

    /// Whether a plain file with this identity is queued. Only queued files count: an
    /// inode is reused once its file is deleted and closed, but a queued file is open.
    fn holds(&self, id: FileId) -> bool {
        self.sources.iter().any(|s| !s.is_gz() && s.id == id)
    }

    /// Queues the file the live path names if it is new to the chain.
    pub(crate) fn refresh(&mut self, now: Instant) {
        if let Ok(PathStat::File { id, .. }) = PathStat::of(&self.live) {
            if !self.holds(id) {
                match Source::open(&self.live, now) {
                    Ok(s) if !self.holds(s.id) => self.queue(s),
                    _ => {}
                }
            }
        }
    }

    /// Files held open.
    pub(crate) fn open_files(&self) -> usize {
        self.sources.len()
    }

    /// The live path.
    pub(crate) fn live(&self) -> &Path {
        &self.live
    }

    /// Whether every queued file is read to its end and nothing more is expected from
    /// files other than the last.
    pub(crate) fn idle_for(&self, now: Instant) -> Option<Duration> {
        match self.sources.len() {
            0 => Some(Duration::MAX),
            1 => Some(now.saturating_duration_since(self.sources[0].last_data)),
            _ => None,
        }
    }

    /// Reads what is there and hands out the lines; returns whether it made progress.
    pub(crate) fn poll(&mut self, now: Instant, out: &mut dyn FnMut(Out<'_>)) -> bool {
        self.refresh(now);
        let mut progress = false;
        let mut chunk = vec![0u8; CHUNK];
        for _ in 0..READS_PER_POLL {
            let queued = self.sources.len();
            let Some(front) = self.sources.front_mut() else {
                break;
            };
            let n = match front.read(&mut chunk) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::warn!(file = %front.name.display(), error = %e, "read failed; skipping the file");
                    0
                }
            };
            if n > 0 {
                front.last_data = now;
                self.buf.extend_from_slice(&chunk[..n]);
                self.cut_records(out);
                progress = true;
                continue;
            }
            let release = queued > 1
                && (front.is_gz()
                    || now.saturating_duration_since(front.last_data) >= self.timing.rotate_wait);
            if !release {
                break;
            }
            if !self.buf.is_empty() {
                tracing::warn!(file = %front.name.display(), bytes = self.buf.len(), "file ended inside a record; dropped");
                self.buf.clear();
            }
            self.sources.pop_front();
            progress = true;
        }
        progress
    }

    fn cut_records(&mut self, out: &mut dyn FnMut(Out<'_>)) {
        let Some(front) = self.sources.front() else {
            return;
        };
        let format = Format::of(front.head.first().copied());
        let base = front.offset - self.buf.len() as u64;
        let mut start = 0;
        let now = kelp_model::Timestamp::now();
        while let Some(i) = memchr(&self.buf[start..]) {
            let end = start + i;
            let offset = base + start as u64;
            let seq = self.seq;
            self.seq += 1;
            let bytes = &self.buf[start..end];
            let at = Cut { front, offset, seq };
            let parsed = match format {
                Format::Cri => cri::parse(bytes).map(|record| {
                    join(&mut self.joiner, &mut self.waiting, at, record, now, out);
                }),
                Format::Docker => docker::parse(bytes).map(|record| {
                    join(
                        &mut self.joiner,
                        &mut self.waiting,
                        at,
                        record.as_cri(),
                        now,
                        out,
                    );
                }),
            };
            if let Err(e) = parsed {
                self.bad_records += 1;
                tracing::warn!(file = %front.name.display(), offset, error = %e, record = %String::from_utf8_lossy(&bytes[..bytes.len().min(80)]), "bad record skipped");
            }
            start = end + 1;
        }
        if start == 0 && self.buf.len() > MAX_RECORD {
            start = self.buf.len();
            self.bad_records += 1;
        }
        self.buf.drain(..start);
    }

    /// Flushes the lines still waiting for their end (the instance is over).
    pub(crate) fn finish(&mut self, out: &mut dyn FnMut(Out<'_>)) {
        let waiting = std::mem::take(&mut self.waiting);
        let front = self.sources.front();
        for line in self.joiner.finish() {
            let start = match (&waiting[stream_index(line.stream)], front) {
                (Some((seq, mark)), _) => LineStart {
                    seq: *seq,
                    at: At::Mark(mark),
                },
                // Cannot happen (a joiner holds a line only while one waits); a start
                // at the current position is then the honest answer.
                (None, Some(f)) => LineStart {
                    seq: self.seq,
                    at: At::Offset(f, f.offset - self.buf.len() as u64),
                },
                (None, None) => continue,
            };
            out(Out { line, start });
        }
    }

    /// Per stream (stdout, stderr): whether a line is waiting for its end.
    pub(crate) fn waiting(&self) -> [bool; 2] {
        [self.waiting[0].is_some(), self.waiting[1].is_some()]
    }

    /// Where reading again would reproduce exactly the lines not handed out yet (plus,
    /// while a line waits for its end, the other stream's lines since it began).
    pub(crate) fn mark(&self) -> Option<Mark> {
        self.resume().map(|(_, m)| m)
    }

    /// [`Self::mark`] with the sequence number of the record it points at, to compare it
    /// with the starts of lines held further down the pipeline (lower began earlier).
    pub(crate) fn resume(&self) -> Option<(u64, Mark)> {
        let waiting = self.waiting.iter().flatten().min_by_key(|(seq, _)| *seq);
        if let Some((seq, mark)) = waiting {
            return Some((*seq, mark.clone()));
        }
        let front = self.sources.front()?;
        Some((self.seq, front.mark(front.offset - self.buf.len() as u64)))
    }
}

/// Where a record was cut: its file, offset and sequence number.
#[derive(Clone, Copy)]
struct Cut<'a> {
    front: &'a Source,
    offset: u64,
    seq: u64,
}

/// Feeds one decoded record to the joiner, keeping the start of each stream's waiting
/// line, and hands out the lines it completes with where they began.
fn join(
    joiner: &mut Joiner,
    waiting: &mut [Option<(u64, Mark)>; 2],
    at: Cut<'_>,
    record: CriRecord<'_>,
    now: kelp_model::Timestamp,
    out: &mut dyn FnMut(Out<'_>),
) {
    let k = stream_index(record.stream);
    let began = if record.partial {
        if waiting[k].is_none() {
            waiting[k] = Some((at.seq, at.front.mark(at.offset)));
        }
        // Lines come out of a partial record only when a very long line is cut; rare.
        waiting[k].clone()
    } else {
        waiting[k].take()
    };
    let start = match &began {
        Some((seq, mark)) => LineStart {
            seq: *seq,
            at: At::Mark(mark),
        },
        None => LineStart {
            seq: at.seq,
            at: At::Offset(at.front, at.offset),
        },
    };
    for line in joiner.push(record, now) {
        out(Out { line, start });
    }
}

fn memchr(b: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', b)
}

fn stream_index(s: Stream) -> usize {
    match s {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

/// Rotated files in reading order: by name (the stamp sorts chronologically), a plain
/// file and its `.gz` twin counted once (the plain one: the kubelet writes the `.gz`
/// before it deletes the plain file).
fn ordered(rotated: &[PathBuf]) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = rotated.to_vec();
    v.sort();
    let plain: std::collections::HashSet<PathBuf> = v
        .iter()
        .filter(|p| p.extension().is_none_or(|e| e != "gz"))
        .cloned()
        .collect();
    v.retain(|p| p.extension().is_none_or(|e| e != "gz") || !plain.contains(&p.with_extension("")));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(chain: &mut Chain) -> Vec<String> {
        let mut got = Vec::new();
        let now = Instant::now();
        chain.poll(now, &mut |o| {
            got.push(String::from_utf8_lossy(o.line.content).into_owned())
        });
        got
    }

    #[test]
    fn resumes_in_a_file_compressed_after_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("0.log");
        let rec = |s: &str| format!("2024-06-01T12:00:00.{s}Z stdout F line {s}\n");
        std::fs::write(&live, rec("1") + &rec("2")).unwrap();
        let timing = ChainTiming {
            rotate_wait: Duration::ZERO,
        };
        let mut chain = Chain::open(live.clone(), &[], None, timing, Instant::now());
        assert_eq!(lines(&mut chain), ["line 1", "line 2"]);
        let mark = chain.mark().unwrap();
        // Appended, rotated, compressed while the agent was down; a new live file.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&live)
            .unwrap()
            .write_all(rec("3").as_bytes())
            .unwrap();
        let all = std::fs::read(&live).unwrap();
        let gz = dir.path().join("0.log.20240601-120000.gz");
        let mut enc =
            flate2::write::GzEncoder::new(File::create(&gz).unwrap(), flate2::Compression::fast());
        enc.write_all(&all).unwrap();
        enc.finish().unwrap();
        std::fs::remove_file(&live).unwrap();
        std::fs::write(&live, rec("4")).unwrap();
        let mut chain = Chain::open(live, &[gz], Some(&mark), timing, Instant::now());
        assert_eq!(lines(&mut chain), ["line 3", "line 4"]);
    }

    fn docker(log: &str, stream: &str, sec: u32) -> String {
        let log = serde_json::to_string(log).unwrap();
        format!(r#"{{"log":{log},"stream":"{stream}","time":"2024-06-01T12:00:{sec:02}.5Z"}}"#)
            + "\n"
    }

    #[test]
    fn decodes_docker_json_files_and_rejoins_their_pieces_per_stream() {
        let dir = tempfile::tempdir().unwrap();
        let ctr = dir.path().join("var/log/pods/ns_web-1_uid-1/app");
        std::fs::create_dir_all(&ctr).unwrap();
        let live = ctr.join("0.log");
        // docker cuts at 16 KiB: pieces without a final `\n`, interleaved with stderr.
        let long = "x".repeat(16 * 1024);
        let text = docker("hello \"world\"\n", "stdout", 1)
            + &docker(&long, "stdout", 2)
            + &docker("err one\n", "stderr", 3)
            + &docker(&long, "stdout", 4)
            + &docker("tail\n", "stdout", 5)
            + "{\"log\":\"not json\n"
            + &docker("caf\u{e9}\ttab\n", "stderr", 6)
            + &docker("waiting ", "stdout", 7);
        std::fs::write(&live, &text).unwrap();
        let timing = ChainTiming {
            rotate_wait: Duration::ZERO,
        };
        let mut chain = Chain::open(live.clone(), &[], None, timing, Instant::now());
        let mut got = Vec::new();
        chain.poll(Instant::now(), &mut |o| {
            got.push((
                o.line.stream.as_str(),
                o.line.timestamp.to_rfc3339_nano(),
                String::from_utf8_lossy(o.line.content).into_owned(),
            ))
        });
        let want = [
            (
                "stdout",
                "2024-06-01T12:00:01.5Z",
                "hello \"world\"".to_owned(),
            ),
            ("stderr", "2024-06-01T12:00:03.5Z", "err one".to_owned()),
            (
                "stdout",
                "2024-06-01T12:00:02.5Z",
                format!("{long}{long}tail"),
            ),
            (
                "stderr",
                "2024-06-01T12:00:06.5Z",
                "caf\u{e9}\ttab".to_owned(),
            ),
        ];
        assert_eq!(got, want.map(|(s, t, l)| (s, t.to_owned(), l)));
        assert_eq!(chain.bad_records, 1);
        // The last piece waits for its end: the mark stays at its record.
        let waiting_at = text.rfind("{\"log\":\"waiting").unwrap() as u64;
        assert_eq!(chain.mark().unwrap().offset, waiting_at);
        assert_eq!(chain.waiting(), [true, false]);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&live)
            .unwrap()
            .write_all(docker("done\n", "stdout", 8).as_bytes())
            .unwrap();
        assert_eq!(lines(&mut chain), ["waiting done"]);
        assert_eq!(
            chain.mark().unwrap().offset,
            std::fs::metadata(&live).unwrap().len()
        );
        // Resumed from the waiting piece's mark, the line comes out whole again.
        let mark = crate::checkpoint::Mark {
            offset: waiting_at,
            ..chain.mark().unwrap()
        };
        let mut again = Chain::open(live, &[], Some(&mark), timing, Instant::now());
        assert_eq!(lines(&mut again), ["waiting done"]);
    }

    #[test]
    fn a_line_waiting_at_the_end_of_a_file_comes_out_at_finish_with_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("0.log");
        std::fs::write(
            &live,
            "2024-06-01T12:00:00Z stdout F a\n2024-06-01T12:00:01Z stderr P b\n",
        )
        .unwrap();
        let timing = ChainTiming {
            rotate_wait: Duration::ZERO,
        };
        let mut chain = Chain::open(live, &[], None, timing, Instant::now());
        let mut starts = Vec::new();
        chain.poll(Instant::now(), &mut |o| {
            starts.push(o.start.to_mark().offset)
        });
        chain.finish(&mut |o| starts.push(o.start.to_mark().offset));
        assert_eq!(starts, [0, 32]);
        assert_eq!(chain.waiting(), [false, false]);
    }

    #[test]
    fn orders_rotations_and_prefers_plain_twins() {
        let p = |s: &str| PathBuf::from(s);
        let got = ordered(&[p("0.log.2.gz"), p("0.log.3"), p("0.log.1.gz"), p("0.log.2")]);
        assert_eq!(got, [p("0.log.1.gz"), p("0.log.2"), p("0.log.3")]);
    }
}
